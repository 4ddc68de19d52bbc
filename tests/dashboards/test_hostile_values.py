"""Variable values a viewer can type or put in the URL (Grafana keeps custom values of query and custom
variables): quotes, backslashes, statement breaks and macro text. Expanded as Grafana expands them and run as
jieneng_grafana, each query either runs or is refused as bad data (a value that is not a number); none breaks
out of its quoting (a syntax error would show it can), and nothing is changed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from dashboards import build
from dashboards.macros import Variable, expand

DASHBOARDS = {d["uid"]: d for d in build.dashboards()}

PAYLOADS = [
    "x'); DELETE FROM meter; --",
    "x\\'); DELETE FROM meter; --",
    "\\",
    "' OR '1'='1",
    "a''b",
    "'__all'",
    "__all",
    "${region}",
    "2025 OR true",
    "南京'市",
]


def _variables(d: dict, payload: str, multi_shape: str) -> dict[str, Variable]:
    out = {}
    for v in d["templating"]["list"]:
        if v.get("multi"):
            cur = [payload] if multi_shape == "one" else [payload, "320100", payload + "'"]
        else:
            cur = payload
        out[v["name"]] = Variable(
            v["name"],
            cur,
            multi=bool(v.get("multi")),
            include_all=bool(v.get("includeAll")),
            options=[],
            all_value=v.get("allValue") or None,
        )
    return out


CASES = [(uid, i, shape) for uid in DASHBOARDS for i in range(len(PAYLOADS)) for shape in ("one", "several")]


@pytest.fixture(scope="module")
def reader(seeded_db_url):
    with psycopg.connect(seeded_db_url, autocommit=True) as conn:
        conn.execute("SET ROLE jieneng_grafana")
        conn.execute("SET statement_timeout = '20s'")
        yield conn


@pytest.mark.parametrize(("uid", "i", "shape"), CASES, ids=[f"{u}-{i}-{s}" for u, i, s in CASES])
def test_hostile_values_stay_data(reader, uid, i, shape):
    d = DASHBOARDS[uid]
    variables = _variables(d, PAYLOADS[i], shape)
    t_to = datetime.now(UTC).replace(microsecond=0)
    before = reader.execute("SELECT count(*) FROM meter").fetchone()[0]
    queries = [(v["name"], v["query"]) for v in d["templating"]["list"] if v["type"] == "query"]
    queries += [(p["title"], t["rawSql"]) for p in d["panels"] for t in p["targets"]]
    for name, raw in queries:
        sql = expand(
            raw, variables, time_from=t_to - timedelta(days=7), time_to=t_to, interval=timedelta(hours=1)
        )
        try:
            reader.execute(sql).fetchall()
        except psycopg.errors.DataError:
            pass  # e.g. a threshold or year that is not a number: refused as data, not run as SQL
        except psycopg.errors.SyntaxError as exc:  # pragma: no cover - the failure this test looks for
            pytest.fail(f"{uid} {name}: {PAYLOADS[i]!r} broke out of its quoting: {exc}")
    assert reader.execute("SELECT count(*) FROM meter").fetchone()[0] == before
