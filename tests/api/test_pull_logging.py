"""Ranking and report pulls read and log in one statement: a served pull is always logged, a refused
one only as a refusal (401/403, nothing about what was asked for), a revoked key stops at once, and no
rows leave when the log cannot be written."""

from __future__ import annotations

import psycopg
import pytest

from api.models import Page, RankingRow
from store import api_keys
from store.api_queries import RANKING_SORTS

REPORT = "/v1/institutions/NJ-GOV-001/report"


def _log(url: str) -> list[tuple]:
    """Served pulls."""
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT key_name, resource, institution_id, run_id, year, format, path FROM report_access"
            " WHERE status < 400 ORDER BY id"
        ).fetchall()


def _refusals(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT resource, institution_id, run_id, year, status FROM report_access WHERE status >= 400 ORDER BY id"
        ).fetchall()


def test_served_pulls_are_logged_with_what_was_served(api_rw):
    run = api_rw.runs["province_2026"]
    assert api_rw.get("city_nj", f"/v1/runs/{run}/rankings", params={"limit": 1}).status_code == 200
    assert api_rw.get("inst_nj", REPORT, params={"year": 2026}).status_code == 200
    assert (
        api_rw.get(
            "admin", REPORT, params={"run_id": api_rw.runs["province_2025"], "format": "csv"}
        ).status_code
        == 200
    )
    assert api_rw.get("city_sz", "/v1/rankings", params={"year": 2026, "format": "csv"}).status_code == 200
    assert _log(api_rw.url) == [
        ("test-city_nj", "ranking", None, run, 2026, "json", f"/v1/runs/{run}/rankings?limit=1"),
        ("test-inst_nj", "report", "NJ-GOV-001", run, 2026, "json", f"{REPORT}?year=2026"),
        (
            "test-admin",
            "report",
            "NJ-GOV-001",
            api_rw.runs["province_2025"],
            2025,
            "csv",
            f"{REPORT}?run_id={api_rw.runs['province_2025']}&format=csv",
        ),
        # The latest run of 2026 that a Suzhou assessor may see: the province's, stored after Suzhou's.
        ("test-city_sz", "ranking", None, run, 2026, "csv", "/v1/rankings?year=2026&format=csv"),
    ]


@pytest.mark.parametrize(
    "who,path,params,status",
    [
        ("city_nj", "/v1/runs/{suzhou_2026}/rankings", {}, 403),
        ("inst_nj", "/v1/runs/{suzhou_2026}/rankings", {}, 403),
        ("admin", "/v1/runs/999999/rankings", {}, 404),
        ("city_nj", "/v1/runs/{province_2026}/rankings", {"region_code": "320500"}, 403),
        ("admin", "/v1/runs/{province_2026}/rankings", {"region_code": "999999"}, 404),
        ("admin", "/v1/rankings", {"year": 2030}, 404),
        ("revoked", "/v1/runs/{province_2026}/rankings", {}, 401),
        ("city_nj", "/v1/institutions/SZ-HOS-001/report", {"year": 2026}, 403),
        ("inst_nj", "/v1/institutions/NJ-SCH-002/report", {"year": 2026}, 403),
        ("admin", "/v1/institutions/NOPE-001/report", {"year": 2026}, 404),
        ("admin", REPORT, {"year": 2030}, 404),
        ("admin", REPORT, {"run_id": 999999}, 404),
        ("city_nj", REPORT, {"run_id": "{suzhou_2026}"}, 403),
        ("revoked", REPORT, {"year": 2026}, 401),
    ],
)
def test_refused_pulls_are_not_logged(api_rw, who, path, params, status):
    path = path.format(**api_rw.runs)
    params = {k: v.format(**api_rw.runs) if isinstance(v, str) else v for k, v in params.items()}
    r = api_rw.get(who, path, params=params)
    assert r.status_code == status, r.text
    assert "detail" in r.json()
    assert _log(api_rw.url) == []
    assert _refusals(api_rw.url) == ([("refused", None, None, None, status)] if status in (401, 403) else [])


def test_wrong_secret_is_401_and_not_logged(api_rw):
    prefix = api_rw.tokens["admin"].split("_", 2)[1]
    for path in (f"/v1/runs/{api_rw.runs['province_2026']}/rankings", REPORT + "?year=2026"):
        r = api_rw.client.get(path, headers={"Authorization": f"Bearer jn_{prefix}_wrong"})
        assert r.status_code == 401
        assert api_rw.client.get(path).status_code == 401
    assert _log(api_rw.url) == []
    assert [r[-1] for r in _refusals(api_rw.url)] == [401] * 4


def test_revocation_holds_on_the_next_pull(api_rw):
    path = f"/v1/runs/{api_rw.runs['province_2026']}/rankings"
    assert api_rw.get("assessor", path).status_code == 200
    assert api_rw.get("assessor", REPORT, params={"year": 2026}).status_code == 200
    with psycopg.connect(api_rw.url) as conn:
        assert api_keys.revoke_key(conn, api_rw.key_ids["assessor"])
    assert api_rw.get("assessor", path).status_code == 401
    assert api_rw.get("assessor", REPORT, params={"year": 2026}).status_code == 401
    assert [(e[0], e[1]) for e in _log(api_rw.url)] == [
        ("test-assessor", "ranking"),
        ("test-assessor", "report"),
    ]


def test_no_rows_leave_when_the_log_cannot_be_written(api_rw):
    with psycopg.connect(api_rw.url) as conn:
        conn.execute("ALTER TABLE report_access ADD CONSTRAINT refuse_all CHECK (false) NOT VALID")
    ranking = api_rw.get("admin", f"/v1/runs/{api_rw.runs['province_2026']}/rankings")
    report = api_rw.get("admin", REPORT, params={"year": 2026})
    for r in (ranking, report):
        assert r.status_code == 409  # api.errors: an integrity error is a conflict with stored data
        assert "NJ-GOV-001" not in r.text and "南京" not in r.text
    assert _log(api_rw.url) == []


@pytest.mark.parametrize("sort", sorted(RANKING_SORTS))
@pytest.mark.parametrize("order", ["asc", "desc"])
def test_prerendered_pages_match_the_model_and_the_order(api, sort, order):
    """The page JSON is built by PostgreSQL: it must parse as Page[RankingRow], in the asked order
    (ties by institution id, nulls last), and paging must cut the same list."""
    path = f"/v1/runs/{api.runs['province_2026']}/rankings"
    whole = Page[RankingRow].model_validate_json(
        api.get("admin", path, params={"sort": sort, "order": order}).content
    )
    assert whole.total == len(whole.items) == 4

    def present(row: RankingRow):
        return getattr(row, sort) is not None

    by_id = sorted(whole.items, key=lambda r: r.institution_id)
    # Python's sort is stable with reverse=True too, so ties stay in institution id order.
    wanted = sorted(filter(present, by_id), key=lambda r: getattr(r, sort), reverse=order == "desc")
    wanted += [r for r in by_id if not present(r)]
    assert [r.institution_id for r in whole.items] == [r.institution_id for r in wanted]
    pages = [
        Page[RankingRow].model_validate_json(
            api.get("admin", path, params={"sort": sort, "order": order, "limit": 3, "offset": off}).content
        )
        for off in (0, 3)
    ]
    assert [r for p in pages for r in p.items] == whole.items
