"""Roles × endpoints: who gets 200, 401, 403 or 404, and that scope holds on every endpoint."""

from __future__ import annotations

import pytest

from api.models import Page, RankingRow

OWN, COUNTY, OTHER, MISSING = "NJ-GOV-001", "NJ-SCH-002", "SZ-HOS-001", "NO-SUCH-1"
Q_DAYS = {"start": "2026-01-01", "end": "2026-02-01"}

# (path template, params) for everything that is about one institution; {i} is the institution id.
PER_INSTITUTION = [
    ("/v1/institutions/{i}", {}),
    ("/v1/institutions/{i}/report", {"year": 2026}),
    ("/v1/institutions/{i}/report", {"year": 2026, "format": "csv"}),
    ("/v1/institutions/{i}/report", {"year": 2026, "format": "xlsx"}),
    ("/v1/institutions/{i}/report", {"year": 2026, "format": "pdf"}),
    ("/v1/institutions/{i}/usage", {**Q_DAYS, "bucket": "day"}),
    ("/v1/institutions/{i}/usage", {**Q_DAYS, "bucket": "month", "format": "csv"}),
    ("/v1/institutions/{i}/quality", Q_DAYS),
    ("/v1/institutions/{i}/quality", {**Q_DAYS, "format": "xlsx"}),
    ("/v1/institutions/{i}/assessed-items", {"year": 2026}),
    ("/v1/institutions/{i}/assessed-items/audit", {}),
    ("/v1/meters/{i}-E1/usage", {**Q_DAYS, "bucket": "hour", "end": "2026-01-03"}),
    ("/v1/meters/{i}-E1/quality", Q_DAYS),
]

# Which institutions each role may see.
VISIBLE = {
    "admin": {OWN, COUNTY, OTHER},
    "assessor": {OWN, COUNTY, OTHER},
    "city_nj": {OWN, COUNTY},
    "city_sz": {OTHER},
    "inst_nj": {OWN},
    "inst_sz": {OTHER},
}


@pytest.mark.parametrize("who", sorted(VISIBLE))
@pytest.mark.parametrize(
    "path,params", PER_INSTITUTION, ids=[f"{p}?{'&'.join(q)}" for p, q in PER_INSTITUTION]
)
def test_matrix(api, who, path, params):
    for inst in (OWN, COUNTY, OTHER, MISSING):
        r = api.get(who, path.format(i=inst), params=params)
        expected = 404 if inst == MISSING else (200 if inst in VISIBLE[who] else 403)
        assert r.status_code == expected, (who, inst, r.status_code, r.text[:300])
        if r.status_code != 200:
            assert r.headers["content-type"].startswith("application/json")
            assert r.json()["detail"]


@pytest.mark.parametrize(
    "path,params",
    PER_INSTITUTION
    + [("/v1/institutions", {}), ("/v1/runs", {}), ("/v1/rankings", {"year": 2026}), ("/v1/me", {})],
)
@pytest.mark.parametrize(
    "auth",
    [
        None,
        "Bearer",
        "Bearer nonsense",
        "Basic YWRtaW46YWRtaW4=",
        "Bearer jn_abcdefghij_wrongsecret",
        "revoked",
    ],
)
def test_unauthenticated_is_401(api, path, params, auth):
    if auth == "revoked":
        r = api.get("revoked", path.format(i=OWN), params=params)
    else:
        headers = {} if auth is None else {"Authorization": auth}
        r = api.get(None, path.format(i=OWN), params=params, headers=headers)
    assert r.status_code == 401, r.text
    assert r.json()["detail"]
    assert r.headers.get("www-authenticate") == "Bearer"


def test_health_needs_no_key(api):
    r = api.get(None, "/v1/health")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "database": "ok"}


@pytest.mark.parametrize("who", sorted(VISIBLE))
def test_institution_list_is_scoped(api, who):
    r = api.get(who, "/v1/institutions")
    assert r.status_code == 200
    ids = {i["id"] for i in r.json()["items"]}
    expected_all = VISIBLE[who] | ({"SZ-GOV-002"} if who in ("admin", "assessor", "city_sz") else set())
    assert ids == expected_all
    assert r.json()["total"] == len(expected_all)
    csv_text = api.get(who, "/v1/institutions", params={"format": "csv"}).content.decode("utf-8-sig")
    for inst in {OWN, COUNTY, OTHER} - VISIBLE[who]:
        assert inst not in csv_text


def test_county_is_under_its_city(api):
    r = api.get("city_nj", "/v1/institutions", params={"region_code": "320102"})
    assert [i["id"] for i in r.json()["items"]] == [COUNTY]
    # A city assessor asking for a region outside its scope is refused, not given an empty list.
    assert api.get("city_nj", "/v1/institutions", params={"region_code": "320500"}).status_code == 403
    assert api.get("city_nj", "/v1/institutions", params={"region_code": "321300"}).status_code == 403
    # Asking for the province narrows nothing beyond the scope.
    r = api.get("city_nj", "/v1/institutions", params={"region_code": "320000"})
    assert {i["id"] for i in r.json()["items"]} == {OWN, COUNTY}
    assert api.get("admin", "/v1/institutions", params={"region_code": "999999"}).status_code == 404


def test_runs_are_scoped(api):
    runs = api.runs

    def ids(who):
        return {r["id"] for r in api.get(who, "/v1/runs").json()["items"]}

    everything = set(runs.values())
    assert ids("admin") == everything
    assert ids("city_sz") == everything
    assert ids("city_nj") == {runs["province_2025"], runs["province_2026"]}
    assert ids("inst_nj") == {runs["province_2025"], runs["province_2026"]}
    assert ids("inst_sz") == everything
    assert api.get("city_nj", f"/v1/runs/{runs['suzhou_2026']}").status_code == 403
    assert api.get("inst_nj", f"/v1/runs/{runs['suzhou_2026']}/rankings").status_code == 403
    assert api.get("city_nj", "/v1/runs/999999").status_code == 404
    r = api.get("city_sz", f"/v1/runs/{runs['suzhou_2026']}")
    assert r.status_code == 200
    body = r.json()
    assert body["methodology_name"] == "test-method" and body["methodology_hash"] == "ab" * 32
    assert body["methodology_text"] == "# test"
    assert body["institutions"] == 2
    # Counts of a province-wide run cover only what the key may see.
    counts = {
        who: api.get(who, f"/v1/runs/{runs['province_2026']}").json()
        for who in ("admin", "city_nj", "inst_sz")
    }
    assert [(c["institutions"], c["eligible"]) for c in counts.values()] == [(4, 2), (2, 1), (1, 1)]
    listed = {r["id"]: r for r in api.get("city_nj", "/v1/runs").json()["items"]}
    assert listed[runs["province_2026"]]["institutions"] == 2


@pytest.mark.parametrize(
    "who,expected",
    [
        ("admin", [OWN, OTHER, COUNTY, "SZ-GOV-002"]),
        ("city_nj", [OWN, COUNTY]),
        ("city_sz", [OTHER, "SZ-GOV-002"]),
        ("inst_nj", [OWN]),
    ],
)
def test_rankings_are_scoped(api, who, expected):
    for path, params in (
        (f"/v1/runs/{api.runs['province_2026']}/rankings", {}),
        ("/v1/rankings", {"year": 2026}),
    ):
        r = api.get(who, path, params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        assert [row["institution_id"] for row in body["items"]] == expected
        assert body["total"] == len(expected)
        for fmt in ("csv", "pdf"):
            exported = api.get(who, path, params={**params, "format": fmt})
            assert exported.status_code == 200
    # Province ranks are kept as computed: a city assessor sees its institutions' province ranks.
    rows = api.get("city_nj", "/v1/rankings", params={"year": 2026}).json()["items"]
    assert [r["rank_province"] for r in rows] == [1, 3]


def test_rankings_filters_sort_and_pages(api):
    path = f"/v1/runs/{api.runs['province_2026']}/rankings"
    page = Page[RankingRow].model_validate_json(api.get("admin", path).content)
    assert page.items[0].name == "南京市机关事务管理局" and page.items[0].total_points == 91.25
    assert page.items[0].eligible is True and page.items[0].vetoes == []
    r = api.get("admin", path, params={"sort": "name", "order": "desc"}).json()
    assert [x["name"] for x in r["items"]] == sorted((x["name"] for x in r["items"]), reverse=True)
    r = api.get("city_nj", path, params={"sort": "name", "limit": 1, "offset": 1}).json()
    assert r["total"] == 2 and [x["institution_id"] for x in r["items"]] == [COUNTY]
    deep = api.get("admin", path, params={"offset": 100}).json()
    assert deep.pop("run")["id"] == api.runs["province_2026"]
    assert deep == {"total": 4, "limit": 100, "offset": 100, "items": []}
    r = api.get("admin", path, params={"eligible": "true"}).json()
    assert [x["institution_id"] for x in r["items"]] == [OWN, OTHER]
    r = api.get("admin", path, params={"category": "government"}).json()
    assert [x["institution_id"] for x in r["items"]] == [OWN, "SZ-GOV-002"]
    r = api.get("admin", path, params={"region_code": "320100"}).json()
    assert [x["institution_id"] for x in r["items"]] == [OWN, COUNTY]
    r = api.get("admin", path, params={"sort": "total_points", "order": "asc"}).json()
    assert [x["total_points"] for x in r["items"]] == [70.0, 80.0, 88.5, 91.25]
    r = api.get("admin", path, params={"limit": 2, "offset": 2}).json()
    assert r["total"] == 4 and [x["rank_province"] for x in r["items"]] == [3, 4]
    vetoed = api.get("admin", path, params={"eligible": "false", "category": "government"}).json()["items"]
    assert vetoed[0]["vetoes"][0]["code"] == "star_item_zero"


def test_admin_only_endpoints(api):
    for who in ("assessor", "city_nj", "inst_nj"):
        assert api.get(who, "/v1/access-log").status_code == 403
        assert api.get(who, "/v1/registry/export").status_code == 403
        r = api.request("POST", who, "/v1/registry/import", files=[("files", ("x.csv", b"a,b\n"))])
        assert r.status_code == 403
    assert api.get("admin", "/v1/access-log").status_code == 200


def test_only_admin_and_assessor_start_runs(api):
    for who in ("city_nj", "inst_nj"):
        r = api.request("POST", who, "/v1/runs", json={"year": 2026})
        assert r.status_code == 403, r.text


def test_me(api):
    body = api.get("city_nj", "/v1/me").json()
    assert body["role"] == "city_assessor" and body["region_code"] == "320100"
