"""Assessed items: written by assessors within scope, read by institutions, every change audited."""

from __future__ import annotations

BASE = "/v1/institutions/NJ-GOV-001/assessed-items"


def test_write_read_and_audit(api_rw):
    r = api_rw.request(
        "PUT", "city_nj", f"{BASE}/2026/mgmt_rules", json={"points": 4.0, "evidence": "苏机事〔2026〕12号"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["points"] == 4.0 and r.json()["entered_by"] == "city_assessor:test-city_nj"
    r = api_rw.request(
        "PUT", "assessor", f"{BASE}/2026/mgmt_rules", json={"points": 5.0, "evidence": "修订版"}
    )
    assert r.status_code == 200
    items = api_rw.get("inst_nj", BASE, params={"year": 2026}).json()
    assert [(i["item_code"], i["points"], i["evidence"]) for i in items] == [("mgmt_rules", 5.0, "修订版")]
    assert api_rw.request("DELETE", "admin", f"{BASE}/2026/mgmt_rules").status_code == 204
    assert api_rw.request("DELETE", "admin", f"{BASE}/2026/mgmt_rules").status_code == 404
    audit = api_rw.get("inst_nj", f"{BASE}/audit").json()
    assert [(a["old_points"], a["new_points"], a["changed_by"]) for a in audit] == [
        (None, 4.0, "city_assessor:test-city_nj"),
        (4.0, 5.0, "assessor:test-assessor"),
        (5.0, None, "admin:test-admin"),
    ]
    assert audit[1]["old_evidence"] == "苏机事〔2026〕12号" and audit[1]["new_evidence"] == "修订版"
    assert api_rw.get("inst_nj", BASE, params={"year": 2026}).json() == []


def test_who_may_write(api_rw):
    body = {"points": 3.0}
    assert api_rw.request("PUT", "inst_nj", f"{BASE}/2026/mgmt_rules", json=body).status_code == 403
    assert api_rw.request("PUT", "city_sz", f"{BASE}/2026/mgmt_rules", json=body).status_code == 403
    assert (
        api_rw.request(
            "PUT", "city_sz", "/v1/institutions/NOPE/assessed-items/2026/mgmt_rules", json=body
        ).status_code
        == 404
    )
    assert api_rw.request("PUT", None, f"{BASE}/2026/mgmt_rules", json=body).status_code == 401
    assert api_rw.get("inst_nj", f"{BASE}/audit").json() == []


def test_bad_items_are_refused(api_rw):
    # An item code the methodology does not have names nothing: 404, like an unknown institution.
    r = api_rw.request("PUT", "admin", f"{BASE}/2026/no_such_item", json={"points": 1})
    assert r.status_code == 404 and "unknown assessed item" in r.json()["detail"]
    for path, body in [
        (f"{BASE}/2026/mgmt_rules", {"points": 5.5}),  # above the item's maximum of 5
        (f"{BASE}/2026/mgmt_rules", {"points": -1}),
        (f"{BASE}/2026/mgmt_rules", {"points": 1e308}),
        (f"{BASE}/2026/mgmt_rules", {"points": "lots"}),
        (f"{BASE}/2026/mgmt_rules", {"points": 1, "evidence": "x" * 5000}),
        (f"{BASE}/2026/mgmt_rules", {"points": 1, "extra": True}),
        (f"{BASE}/1999/mgmt_rules", {"points": 1}),
        (f"{BASE}/2026/bad%20code'", {"points": 1}),
    ]:
        r = api_rw.request("PUT", "admin", path, json=body)
        assert r.status_code == 422, (path, body, r.text)
        assert r.json()["detail"]
    r = api_rw.request(
        "PUT",
        "admin",
        f"{BASE}/2026/mgmt_rules",
        content=b'{"points": NaN}',
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 422
    assert api_rw.get("admin", f"{BASE}/audit").json() == []


def test_an_entry_keeps_the_maximum_it_was_entered_against(api_rw):
    import psycopg

    r = api_rw.request("PUT", "assessor", f"{BASE}/2026/retrofit_envelope_hvac", json={"points": 3.0})
    assert r.status_code == 200, r.text
    with psycopg.connect(api_rw.url) as conn:
        row = conn.execute(
            "SELECT points, out_of FROM assessed_item WHERE institution_id = 'NJ-GOV-001' "
            "AND item_code = 'retrofit_envelope_hvac'"
        ).fetchone()
    # jiangsu-2026's maximum for the item: 3 of 6, half of whatever another methodology gives the item
    assert row == (3.0, 6.0)
