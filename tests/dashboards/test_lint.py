"""Generated dashboards: committed and current, schema-valid, consistent uids, datasources and variables."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml

from dashboards import build
from dashboards.model import DATASOURCE_TYPE

ROOT = Path(build.__file__).resolve().parent
SCHEMA_DIR = ROOT / "schema"
PROVISIONING = ROOT / "provisioning"
BUILTINS = {
    "__interval",
    "__interval_ms",
    "__from",
    "__to",
    "__timeFilter",
    "__timeFrom",
    "__timeTo",
    "__timeGroup",
    "__timeGroupAlias",
    "__time",
    "__timeEpoch",
    "__unixEpochFilter",
    "__unixEpochFrom",
    "__unixEpochTo",
    "__unixEpochGroup",
    "__unixEpochGroupAlias",
    "__all",
}
VAR_RE = re.compile(r"\$(\w+)|\[\[(\w+?)(?::\w+)?\]\]|\$\{(\w+)(?:\.[^:^}]+)?(?::[^}]+)?\}")


def _committed() -> list[dict]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted((ROOT / "generated").glob("*.json"))]


def _panels(d: dict):
    for p in d["panels"]:
        yield p
        yield from p.get("panels", [])


def test_committed_files_are_current():
    """What `jieneng dashboards build --check` checks (CI fails on a stale commit)."""
    assert build.stale(build.render()) == []


def test_stale_detects_edits_and_orphans(tmp_path):
    files = build.render()
    build.write(files, tmp_path)
    assert build.stale(files, tmp_path) == []
    victim = next(iter(files))
    (tmp_path / victim).write_text("{}", encoding="utf-8")
    (tmp_path / "generated" / "old.json").write_text("{}", encoding="utf-8")
    assert set(build.stale(files, tmp_path)) == {victim, Path("generated/old.json")}


def test_every_dashboard_validates_against_grafana_schema():
    schema = json.loads((SCHEMA_DIR / "dashboard.schema.json").read_text(encoding="utf-8"))
    validator = jsonschema.Draft7Validator(schema)
    dashboards = _committed()
    assert len(dashboards) == 5
    for d in dashboards:
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(d)]
        assert errors == [], d["uid"]


def test_schema_rejects_a_broken_dashboard():
    """The schema has teeth: a misspelt key and a wrong type are refused."""
    schema = json.loads((SCHEMA_DIR / "dashboard.schema.json").read_text(encoding="utf-8"))
    d = _committed()[0]
    d["panels"][0]["gridPos"] = {"h": "tall", "w": 6, "x": 0, "y": 0}
    d["titel"] = "typo"
    assert len(list(jsonschema.Draft7Validator(schema).iter_errors(d))) >= 2


def test_schema_regenerates_identically():
    """dashboards/schema/generate.mjs from the pinned @grafana/schema gives the committed file byte for byte."""
    if shutil.which("npm") is None or shutil.which("node") is None:
        pytest.skip("npm/node not on PATH: cannot regenerate the schema from @grafana/schema (CI has them)")
    if not (SCHEMA_DIR / "node_modules" / "@grafana" / "schema").is_dir():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"],
            cwd=SCHEMA_DIR,
            check=True,
            capture_output=True,
            timeout=300,
        )
    out = subprocess.run(
        ["node", "generate.mjs", "--stdout"],
        cwd=SCHEMA_DIR,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    assert out == (SCHEMA_DIR / "dashboard.schema.json").read_text(encoding="utf-8")


def test_schema_is_pinned_to_the_compose_grafana_release():
    pkg = json.loads((SCHEMA_DIR / "package.json").read_text(encoding="utf-8"))
    version = pkg["devDependencies"]["@grafana/schema"]
    compose = yaml.safe_load((ROOT.parent / "docker-compose.yml").read_text(encoding="utf-8"))
    assert compose["services"]["grafana"]["image"] == f"grafana/grafana:{version}"
    schema = json.loads((SCHEMA_DIR / "dashboard.schema.json").read_text(encoding="utf-8"))
    assert f"@grafana/schema {version}" in schema["$comment"]


def test_uids_unique():
    dashboards = _committed()
    uids = [d["uid"] for d in dashboards]
    assert len(set(uids)) == len(uids)
    alerts = json.loads((PROVISIONING / "alerting" / "jieneng-alerts.json").read_text(encoding="utf-8"))
    rule_uids = [r["uid"] for g in alerts["groups"] for r in g["rules"]]
    assert len(set(rule_uids)) == len(rule_uids)
    for d in dashboards:
        ids = [p["id"] for p in _panels(d)]
        assert len(set(ids)) == len(ids), d["uid"]
        assert all(len(uid) <= 40 for uid in uids)


def test_datasource_uids_match_provisioning():
    prov = yaml.safe_load((PROVISIONING / "datasources" / "jieneng.yaml").read_text(encoding="utf-8"))
    known = {ds["uid"]: ds["type"] for ds in prov["datasources"]}
    refs = []
    for d in _committed():
        for v in d["templating"]["list"]:
            if "datasource" in v:
                refs.append(v["datasource"])
        for p in _panels(d):
            refs.append(p["datasource"])
            refs += [t["datasource"] for t in p.get("targets", [])]
    assert refs
    for ref in refs:
        assert ref["uid"] in known and known[ref["uid"]] == ref["type"] == DATASOURCE_TYPE, ref
    alerts = json.loads((PROVISIONING / "alerting" / "jieneng-alerts.json").read_text(encoding="utf-8"))
    for g in alerts["groups"]:
        for r in g["rules"]:
            for q in r["data"]:
                assert q["datasourceUid"] in known or q["datasourceUid"] == "__expr__"


def test_every_variable_used_is_defined_and_precedes_its_users():
    for d in _committed():
        names = [v["name"] for v in d["templating"]["list"]]
        texts = [(f"panel {p['title']}", t["rawSql"]) for p in _panels(d) for t in p.get("targets", [])]
        texts += [(f"panel title {p['title']}", p["title"]) for p in _panels(d)]
        for used_in, text in texts:
            for m in VAR_RE.finditer(text):
                name = m.group(1) or m.group(2) or m.group(3)
                assert name in BUILTINS or name in names, (
                    f"{d['uid']}: ${name} used in {used_in} is not defined"
                )
        for i, v in enumerate(d["templating"]["list"]):
            for m in VAR_RE.finditer(v.get("query") or ""):
                name = m.group(1) or m.group(2) or m.group(3)
                assert name in BUILTINS or name in names[:i], f"{d['uid']}: variable {v['name']} uses ${name}"


def test_chained_variables_are_multi_with_all():
    for d in _committed():
        for v in d["templating"]["list"]:
            if v["name"] in ("region", "institution", "meter"):
                assert v["multi"] and v["includeAll"] and v["current"]["value"] == "$__all"


def test_queries_carry_no_sql_comments():
    """Grafana 12 strips SQL comments before macro expansion: a comment must never carry meaning."""
    for d in _committed():
        for p in _panels(d):
            for t in p.get("targets", []):
                assert "--" not in t["rawSql"] and "/*" not in t["rawSql"], p["title"]


def test_titles_are_chinese_with_english():
    cjk = re.compile(r"[\u4e00-\u9fff]")
    latin = re.compile(r"[A-Za-z]")
    for d in _committed():
        for title in [d["title"], *(p["title"] for p in _panels(d))]:
            assert cjk.search(title) and latin.search(title), title


def test_alert_thresholds_come_from_settings():
    rules = build.alerting.rules(
        silent_hours=6, night_load_share=0.3, night_load_share_by_category={"school": 0.2}
    )
    params = {
        r["uid"]: r["data"][1]["model"]["conditions"][0]["evaluator"]["params"]
        for g in rules["groups"]
        for r in g["rules"]
    }
    assert params["jieneng-meter-silent"] == [6]
    # Night load: the query divides by the category's limit (0.2 for schools, 0.3 otherwise); alert above 1.
    assert params["jieneng-night-base-load"] == [1.0]
    night = next(r for g in rules["groups"] for r in g["rules"] if r["uid"] == "jieneng-night-base-load")
    sql = night["data"][0]["model"]["rawSql"]
    assert "('school', 0.2::float8)" in sql and "coalesce(lim.share, 0.3)" in sql


def test_alert_queries_run_as_grafana_reader(seeded_db_url):
    """The alert rule SQL (no Grafana variables in it) runs as the read-only role and labels its rows."""
    import psycopg

    alerts = json.loads((PROVISIONING / "alerting" / "jieneng-alerts.json").read_text(encoding="utf-8"))
    with psycopg.connect(seeded_db_url, autocommit=True) as conn:
        conn.execute("SET ROLE jieneng_grafana")
        results = {}
        for g in alerts["groups"]:
            for r in g["rules"]:
                sql = r["data"][0]["model"]["rawSql"]
                assert "$" not in sql
                cur = conn.execute(sql)
                results[r["uid"]] = ([c.name for c in cur.description], cur.fetchall())
    cols, rows = results["jieneng-meter-silent"]
    silent = {row[0]: row[2] for row in rows}
    assert set(silent) == {"gov-nj-01.gas"} and silent["gov-nj-01.gas"] > 24
    cols, rows = results["jieneng-night-base-load"]
    assert cols == ["institution", "category", "night_share_of_limit"] and rows
    # The seed's night load is 0.45/1.8 of the working-hours load; limits: hospital 1.0, others 0.5.
    limits = {"hospital": 1.0}
    assert all(abs(float(r[2]) - 0.25 / limits.get(r[1], 0.5)) < 1e-9 for r in rows)


def test_reader_role_cannot_write_or_read_secrets(seeded_db_url):
    import psycopg

    with psycopg.connect(seeded_db_url, autocommit=True) as conn:
        conn.execute("SET ROLE jieneng_grafana")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM reading")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT methodology_text FROM scoring_run")
        if conn.execute("SELECT to_regclass('api_key')").fetchone()[0]:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("SELECT * FROM api_key")


def test_queries_expand_for_timescaledb_too():
    """The provisioned datasource has TimescaleDB on: $__timeGroup becomes time_bucket(), nothing else changes."""
    from datetime import UTC, datetime, timedelta

    from dashboards.macros import ALL, Variable, expand

    t_to = datetime(2026, 1, 1, tzinfo=UTC)
    for d in _committed():
        variables = {
            v["name"]: Variable(
                v["name"],
                ALL if v.get("includeAll") else "1",
                multi=v.get("multi", False),
                include_all=v.get("includeAll", False),
                options=["x"],
            )
            for v in d["templating"]["list"]
        }
        for p in _panels(d):
            for t in p.get("targets", []):
                kw = {"time_from": t_to - timedelta(days=1), "time_to": t_to, "interval": timedelta(hours=1)}
                plain = expand(t["rawSql"], variables, **kw)
                ts = expand(t["rawSql"], variables, timescaledb=True, **kw)
                if "$__timeGroup" in t["rawSql"]:
                    assert "time_bucket('3600.000s'," in ts or "time_bucket('60.000s'," in ts, p["title"]
                    assert "floor(extract(epoch from" in plain
                else:
                    assert ts == plain


def test_variables_are_used_only_in_forms_every_grafana_release_quotes_safely():
    """A multi or include-All variable only as ``${var:sqlstring}``: Grafana's default formatting of such a
    variable holding one string changed between releases (quoted, ``'abc'``, in the PostgreSQL datasource's
    older interpolateVariable and its datasource.test.ts; unquoted in the newer one and its
    interpolationTruthTable.test.ts), while the sqlstring formatter quotes each value and doubles ``'`` in
    every release. A single-value variable only inside a quoted literal (``'$var'``: its ``'`` doubled, so a
    typed or URL value stays data). Never ``:singlequote``, ``:raw``, ``:csv`` and the like: they escape
    ``'`` with a backslash or not at all, which PostgreSQL does not read as an escape."""
    for d in _committed():
        kinds = {v["name"]: bool(v.get("multi") or v.get("includeAll")) for v in d["templating"]["list"]}
        texts = [(f"panel {p['title']}", t["rawSql"]) for p in _panels(d) for t in p.get("targets", [])]
        texts += [
            (f"variable {v['name']}", v.get("query") or "")
            for v in d["templating"]["list"]
            if v["type"] == "query"
        ]
        for where, text in texts:
            for m in VAR_RE.finditer(text):
                name = m.group(1) or m.group(2) or m.group(3)
                if name in BUILTINS or name not in kinds:
                    continue
                token = m.group(0)
                if kinds[name]:
                    assert token == f"${{{name}:sqlstring}}", f"{d['uid']} {where}: {token}"
                else:
                    assert token in (f"${name}", f"${{{name}}}"), f"{d['uid']} {where}: {token}"
                    before, after = text[: m.start()], text[m.end() :]
                    assert before.endswith("'") and after.startswith("'"), (
                        f"{d['uid']} {where}: {token} unquoted"
                    )
