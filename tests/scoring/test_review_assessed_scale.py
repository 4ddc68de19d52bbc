"""One set of assessor entries scored under jiangsu-2026 and national-2026: an entry is a share of the maximum it
was entered against.

Seen: entries are validated against the API's methodology (jiangsu-2026: organisation 5, statistics 5, rules 5,
retrofits 6 and 4); national-2026 gives those items 10, 10, 9, 12 and 8 and counted a full 5 as 5 of 10. An
institution with full marks everywhere got 32 of 56 assessed points, and no institution could reach 85: the
comparison the national file is shipped for was void.
"""

from __future__ import annotations

import psycopg
import pytest

from scoring.compute import score
from scoring.inputs import AssessedEntry
from scoring.loader import load_inputs
from scoring.methodology import load_methodology
from store import assessed as A

J26 = {
    "mgmt_organisation": 5,
    "mgmt_statistics": 5,
    "mgmt_rules": 5,
    "retrofit_envelope_hvac": 6,
    "retrofit_renewables": 4,
    "green_purchasing": 5,
    "water_saving": 5,
}


def assessed(r):
    return {b.code: b.points for b in r.blocks if b.kind == "assessed"}


def test_entries_are_shares_of_the_maximum_they_were_entered_against(make_example):
    j26, n26 = load_methodology("jiangsu-2026"), load_methodology("national-2026")
    insts = make_example()
    for inst in insts:
        # full marks out of jiangsu-2026's maxima, mgmt_rules half (2.5 of 5)
        inst.assessed = {
            k: AssessedEntry(
                v / 2 if k == "mgmt_rules" else v, "doc", "a", "2027-01-15T00:00:00+00:00", out_of=v
            )
            for k, v in J26.items()
        }
    g1 = {r.institution_id: r for r in score(insts, n26, 2026)}["G1"]
    # national: organisation 10 + statistics 10 + rules 9 × 2.5 / 5 = 4.5 → 24.5; retrofits 12 + 8 = 20;
    # green purchasing 4 + water saving 3 = 7
    assert assessed(g1) == {
        "management": pytest.approx(24.5),
        "retrofits": pytest.approx(20),
        "green_purchasing_water": pytest.approx(7),
    }
    mgmt = next(b for b in g1.blocks if b.code == "management")
    assert "mgmt_rules 4.5/9 (entered 2.5 of 5)" in mgmt.reason
    # the same entries under jiangsu-2026: 5 + 5 + 2.5 = 12.5; 10; 10
    g1j = {r.institution_id: r for r in score(insts, j26, 2026)}["G1"]
    assert assessed(g1j) == {
        "management": pytest.approx(12.5),
        "retrofits": pytest.approx(10),
        "green_purchasing_water": pytest.approx(10),
    }


def test_an_entry_without_its_maximum_counts_as_points_capped(make_example):
    n26 = load_methodology("national-2026")
    insts = make_example()
    insts[0].assessed = {
        "mgmt_organisation": AssessedEntry(5, "doc", "a", "2027-01-15T00:00:00+00:00"),
        "water_saving": AssessedEntry(5, "doc", "a", "2027-01-15T00:00:00+00:00"),
    }
    r = score(insts, n26, 2026)[0]
    items = {i.code: i.points for b in r.blocks for i in b.items}
    assert (items["mgmt_organisation"], items["water_saving"]) == (5, 3)


def test_the_store_keeps_the_maximum_an_entry_was_made_against(example_db):
    with psycopg.connect(example_db) as conn:
        A.set_assessed_item(conn, "G1", 2026, "mgmt_rules", 2.5, "doc", "assessor", out_of=5)
        conn.commit()
        insts = {i.id: i for i in load_inputs(conn, load_methodology("national-2026"), 2026)}
    e = insts["G1"].assessed["mgmt_rules"]
    assert (e.points, e.out_of) == (2.5, 5)
    # rows entered before the maximum was kept: none
    assert insts["G1"].assessed["mgmt_organisation"].out_of is None


def test_demo_entries_keep_their_maximum(example_db):
    from jieneng.demo import _enter_demo_assessments

    with psycopg.connect(example_db) as conn:
        conn.execute("DELETE FROM assessed_item")
        conn.commit()
    assert _enter_demo_assessments(example_db, 2026, 7) > 0
    with psycopg.connect(example_db) as conn:
        rows = conn.execute("SELECT item_code, out_of FROM assessed_item").fetchall()
    assert rows and all(out == {**J26, "bonus_innovation": 5, "bonus_honours": 5}[code] for code, out in rows)
