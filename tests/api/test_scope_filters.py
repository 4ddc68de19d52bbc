"""A region filter outside the caller's scope is 403 for every role that has a scope (README: 403 outside
scope), not 403 for a city assessor and an empty 200 for an institution key."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("path", ["/v1/institutions", "/v1/runs/{province_2026}/rankings", "/v1/rankings"])
@pytest.mark.parametrize(
    "who,region,status",
    [
        ("city_nj", "320500", 403),
        ("inst_nj", "320500", 403),  # Nanjing institution asking for Suzhou
        ("inst_sz", "320100", 403),
        ("inst_nj", "320100", 200),  # its own city
        ("inst_nj", "320000", 200),  # its province
        ("city_nj", "320000", 200),
        ("inst_nj", "999999", 404),
    ],
)
def test_region_filter_outside_scope(api, path, who, region, status):
    params = {"region_code": region}
    if path == "/v1/rankings":
        params["year"] = 2026
    r = api.get(who, path.format(**api.runs), params=params)
    assert r.status_code == status, (who, region, r.text)
    if status == 200:
        assert r.json()["total"] >= 1
