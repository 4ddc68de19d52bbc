"""The region hierarchy is walked in one place (store.regions), and that walk reaches every depth."""

from __future__ import annotations

import re
from pathlib import Path

import psycopg

from scoring.loader import load_inputs
from scoring.methodology import load_methodology
from store import assessed as store_assessed
from store import registry
from store.regions import ancestors_sql, subtree_of_any_sql, subtree_sql

ROOT = Path(__file__).resolve().parents[2]
CODE_DIRS = ("api", "dashboards", "ingest", "jieneng", "savings", "scoring", "sim", "store")


def test_the_hierarchy_walk_has_one_home():
    # a recursive walk over region (store/totals.py walks the meter tree, which is not this rule)
    walks = re.compile(
        r"RECURSIVE[^;]{0,300}?\bFROM\s+region\b|parent_code\s*(=|IN\b)|=\s*\w+\.parent_code",
        re.IGNORECASE | re.DOTALL,
    )
    found = [
        str(p.relative_to(ROOT))
        for d in CODE_DIRS
        for p in (ROOT / d).rglob("*.py")
        if p.name != "regions.py" and walks.search(p.read_text(encoding="utf-8"))
    ]
    assert found == [], f"region hierarchy walked outside store/regions.py: {found}"


def test_no_module_outside_store_regions_reads_the_parent_link():
    # Any use of region.parent_code is a step through the hierarchy (a subtree, the ancestors, a county's
    # city), so it has the one home too.
    found = [
        str(p.relative_to(ROOT))
        for d in CODE_DIRS
        for p in (ROOT / d).rglob("*.py")
        if p.name != "regions.py" and re.search(r"\bparent_code\b", p.read_text(encoding="utf-8"))
    ]
    assert found == [], f"region.parent_code read outside store/regions.py: {found}"


def _deep_tree(conn: psycopg.Connection) -> None:
    # The schema does not bound the depth: a county with regions under it, two levels below a city.
    conn.execute(
        "INSERT INTO region (code, name, level, parent_code) VALUES"
        " ('329901', 'a', 'county', '320100'), ('329902', 'b', 'county', '329901'),"
        " ('329903', 'c', 'county', '329902')"
    )
    conn.execute(
        "INSERT INTO institution (id, name, category, admin_level, region_code, climate_zone) VALUES"
        " ('DEEP', 'deep', 'government', 'county', '329903', 'hot_summer_cold_winter')"
    )


def test_subtree_and_ancestors_reach_every_depth(db_url):
    with psycopg.connect(db_url) as conn:
        _deep_tree(conn)
        (down,) = conn.execute(f"SELECT {subtree_sql('%(r)s')}", {"r": "320100"}).fetchone()
        assert {"320100", "329901", "329902", "329903"} <= set(down) and "320200" not in down
        (many,) = conn.execute(
            f"SELECT {subtree_of_any_sql('%(r)s')}", {"r": ["329902", "329901", "320200"]}
        ).fetchone()
        assert len(many) == len(set(many)) and {"329901", "329902", "329903", "320200"} <= set(many)
        (up,) = conn.execute(f"SELECT {ancestors_sql('%(r)s')}", {"r": "329903"}).fetchone()
        assert set(up) == {"329903", "329902", "329901", "320100", "320000"}
        assert [i.id for i in registry.list_institutions(conn, "320000")] == ["DEEP"]
        conn.execute(
            "INSERT INTO assessed_item (institution_id, year, item_code, points, entered_by)"
            " VALUES ('DEEP', 2026, 'mgmt_rules', 4, 't')"
        )
        items = store_assessed.list_assessed_items(conn, region_codes=["320000"])
        assert [i["institution_id"] for i in items] == ["DEEP"]
        methodology = load_methodology(None)
        for root in ("320000", "320100", "329901"):
            assert [i.id for i in load_inputs(conn, methodology, 2026, root)] == ["DEEP"], root
        assert load_inputs(conn, methodology, 2026, "320200") == []


def test_a_regions_city_is_the_nearest_city_above_it(db_url):
    """A region's city is the nearest city-level region at or above it, however deep (a county under a
    county); a region with none above it (the province, a county without a parent, a loop of counties) stands
    for itself. The SQL fragment (dashboards, scoring's city ranks, weather) and city_of give the same city."""
    from store.regions import city_code_sql, city_of

    with psycopg.connect(db_url) as conn:
        _deep_tree(conn)
        conn.execute(
            "INSERT INTO region (code, name, level, parent_code) VALUES ('329911', 'orphan', 'county', NULL),"
            " ('329921', 'loop a', 'county', NULL), ('329922', 'loop b', 'county', '329921')"
        )
        conn.execute("UPDATE region SET parent_code = '329922' WHERE code = '329921'")
        want = {
            "320000": "320000",
            "320100": "320100",
            "329901": "320100",
            "329902": "320100",
            "329903": "320100",
            "329911": "329911",
            "329921": "329921",
            "329922": "329922",
            "999999": "999999",  # not in the table: itself
        }
        assert {c: city_of(conn, c) for c in want} == want
        in_sql = dict(
            conn.execute(
                f"SELECT r.code, {city_code_sql('r')} FROM region r WHERE r.code = ANY(%s)", (list(want),)
            )
        )
        assert in_sql == {c: v for c, v in want.items() if c != "999999"}
        (inst,) = load_inputs(conn, load_methodology(None), 2026, "329901")
        assert inst.city_code == "320100"
