"""A run's details as stored (store/result_detail.py): the strings institutions share are kept once per run,
and every reader gets the canonical JSON back byte for byte, whatever characters the strings hold."""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.canonical import StoredWriter, canonical_bytes
from scoring.compute import results_hash, score
from scoring.runner import run_scoring
from store import api_keys, api_pulls
from store import assessed as A
from store import scoring as S
from store.migrate import migrations_dir
from store.result_detail import expand
from tests.scoring.conftest import build_example, worked_methodology

# Strings a registry, an assessor or a gateway could put into a result (names, evidence, reasons), chosen to
# look like a reference, or like the end of one string and the start of another, in the stored text.
HOSTILE = [
    "\x01",
    "\x010",
    "\x011",
    "\x01999999",
    "\x01" + "7" * 30,
    'x"\x01' + "9" * 12,
    "\x01x",
    "x\x011",
    '"\x011"',
    '\\"\x011"',
    '","\x011",',
    '":"\x012"}',
    "\\u0001" + "3",
    '\\\\"\x01' + "4",
    "a\x00b\nc\td\r" * 2,
    "生态环境部 2022 年度全国电网平均排放因子",
    "\u2028\u2029\ufeff\U0001f600",
    "x" * 40,
]


def _replace_strings(value, strings, counter):
    """`value` with string values (never keys) replaced, in turn, by `strings`."""
    if isinstance(value, dict):
        return {k: _replace_strings(v, strings, counter) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_strings(v, strings, counter) for v in value]
    if isinstance(value, str):
        counter[0] += 1
        return strings[counter[0] % len(strings)]
    return value


def _assert_round_trip(results):
    writer = StoredWriter()
    pairs = [writer.write(r) for r in results]
    for r, (canonical, stored) in zip(results, pairs, strict=True):
        assert canonical == canonical_bytes(r)
        assert expand(stored, writer.strings) == canonical
    return writer, pairs


def test_hostile_strings_store_and_expand_byte_for_byte(example_inputs, worked):
    results = [r.model_dump() for r in score(example_inputs, worked, 2026)]
    counter = [0]
    # every string value of every result replaced, so each hostile string lands in many fields and results
    hostile = [_replace_strings(r, HOSTILE, counter) for r in results]
    writer, pairs = _assert_round_trip(results + hostile + hostile)
    # strings beginning with U+0001 are always references; the rest only once a second result holds them
    shared = {json.loads(e) for e in writer.strings}
    assert {h for h in HOSTILE if h.startswith("\x01")} <= shared
    assert "x" * 40 in shared and "a\x00b\nc\td\r" * 2 in shared
    stored_hostile = b"".join(s for _, s in pairs[len(results) + len(hostile) :])
    assert b"x" * 40 not in stored_hostile  # the third copy of the province holds none of them itself


@functools.cache
def _three_results() -> tuple[dict, ...]:
    return tuple(r.model_dump() for r in score(build_example()[:3], worked_methodology(), 2026))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.text(max_size=30), min_size=1, max_size=12))
def test_any_text_in_any_string_field_round_trips(texts):
    results = _three_results()
    counter = [0]
    _assert_round_trip([_replace_strings(r, texts, counter) for r in results] * 2)


def test_a_detail_refers_only_to_strings_its_run_has():
    with pytest.raises(ValueError, match="refers to string 5"):
        expand(b'{"a":"\\u00015"}', [b'"x"'])
    # a run without strings (stored before migration 0025) reads back as stored
    assert expand(b'{"a":"\\u00015"}', []) == b'{"a":"\\u00015"}'


def test_stored_run_gives_back_the_canonical_json_and_its_hash(example_db, tmp_path: Path):
    with psycopg.connect(example_db) as conn:
        run_id = run_scoring(conn, year=2026, created_by="tester")
        run = S.get_run(conn, run_id)
        details = S.result_details(conn, run_id)
        # the stored text is the canonical JSON, so the run's hash can be checked against what is stored
        assert results_hash(details) == run["results_hash"]
        stored = dict(
            conn.execute("SELECT institution_id, detail FROM scoring_result WHERE run_id = %s", (run_id,))
        )
        encoded = [
            e
            for (e,) in conn.execute(
                "SELECT encoded FROM scoring_run_string WHERE run_id = %s ORDER BY n", (run_id,)
            )
        ]
        assert encoded, "a province's institutions share labels and sources"
        assert sum(map(len, stored.values())) < sum(len(d) for _, d in details)
        # a shared string is held by the run and by the first institution that had it, as a value (a key of the
        # same spelling is never replaced)
        for e in encoded:
            as_value = re.compile(re.escape(e) + r"(?=[,\]}])")
            holders = [iid for iid, d in stored.items() if as_value.search(d)]
            assert len(holders) <= 1, (e, holders)
        rows = conn.execute(
            "SELECT institution_id, baseline_building_energy_kgce, baseline_floor_area_m2 FROM scoring_result "
            "WHERE run_id = %s",
            (run_id,),
        ).fetchall()
        canonical = dict(details)
        for iid, kgce, area in rows:
            baseline = json.loads(canonical[iid])["inputs"]["baseline"] or {}
            assert (kgce, area) == (baseline.get("building_energy_kgce"), baseline.get("floor_area_m2"))
            assert S.get_result(conn, run_id, iid) == json.loads(canonical[iid])
        assert any(kgce is not None for _, kgce, _ in rows)
        # the scored year's figures (migration 0027), each as the canonical text holds it
        figures = ("building_energy_kgce", "total_energy_kgce", "water_m3", "floor_area_m2", "occupants")
        rows = conn.execute(
            f"SELECT institution_id, {', '.join('current_' + f for f in figures)} FROM scoring_result "
            "WHERE run_id = %s",
            (run_id,),
        ).fetchall()
        for iid, *values in rows:
            current = json.loads(canonical[iid])["inputs"]["current"]
            assert values == [current[f] for f in figures], iid
        assert any(all(v is not None for v in values) for _, *values in rows)
        key, _ = api_keys.create_key(conn, role="admin", name="reader")
        for iid in canonical:
            pulled = api_pulls.report_logged(
                conn, key, iid, run_id=run_id, year=None, fmt="json", path="/test", client_addr=None
            )
            assert pulled["found"]["detail"] == canonical[iid]


def test_migration_keeps_runs_stored_as_jsonb(example_db):
    legacy = {
        "inputs": {"baseline": {"building_energy_kgce": 1234.5, "floor_area_m2": 100.0}},
        "name": "\x011",
    }
    with psycopg.connect(example_db) as conn:
        # the schema as it was before 0025, with a run stored then
        conn.execute("DROP TABLE scoring_run_string")
        conn.execute(
            "ALTER TABLE scoring_result DROP COLUMN baseline_building_energy_kgce, "
            "DROP COLUMN baseline_floor_area_m2, ALTER COLUMN detail TYPE jsonb USING detail::jsonb"
        )
        run_id = conn.execute(
            "INSERT INTO scoring_run (year, methodology_name, methodology_version, methodology_hash, "
            "methodology_text, results_hash, created_by) VALUES (2026, 'm', '1', 'h', '', 'r', 't') RETURNING id"
        ).fetchone()[0]
        for iid, detail in (("G1", legacy), ("G2", {"inputs": {"baseline": None}})):
            conn.execute(
                "INSERT INTO scoring_result (run_id, institution_id, region_code, category, peer_group, eligible, "
                "detail) VALUES (%s, %s, '320100', 'government', 'g', true, %s::jsonb)",
                (run_id, iid, json.dumps(detail)),
            )
        as_jsonb = dict(
            conn.execute(
                "SELECT institution_id, detail::text FROM scoring_result WHERE run_id = %s", (run_id,)
            )
        )
        conn.execute((Path(migrations_dir()) / "0025_result_strings.sql").read_text())
        assert conn.execute(
            "SELECT institution_id, baseline_building_energy_kgce, baseline_floor_area_m2 FROM scoring_result "
            "WHERE run_id = %s ORDER BY 1",
            (run_id,),
        ).fetchall() == [("G1", 1234.5, 100.0), ("G2", None, None)]
        assert dict(S.result_details(conn, run_id)) == as_jsonb
        assert S.get_result(conn, run_id, "G1") == legacy


def test_migration_0027_fills_the_year_figures_of_runs_stored_before(example_db):
    with psycopg.connect(example_db) as conn:
        run_id = run_scoring(conn, year=2026, created_by="tester")
        cols = ("building_energy_kgce", "total_energy_kgce", "water_m3", "floor_area_m2", "occupants")
        select = (
            f"SELECT institution_id, {', '.join('current_' + c for c in cols)} FROM scoring_result ORDER BY 1"
        )
        as_written = conn.execute(select).fetchall()
        # the schema as it was before 0027, with this run and a run stored as jsonb wrote it (spaces after ':')
        peers = conn.execute("SELECT * FROM scoring_run_peer ORDER BY 1, 2").fetchall()
        assert peers and all(p[0] == run_id for p in peers)
        conn.execute("DROP TABLE scoring_run_peer")
        conn.execute("ALTER TABLE scoring_run DROP COLUMN detail_format")
        conn.execute(f"ALTER TABLE scoring_result {', '.join('DROP COLUMN current_' + c for c in cols)}")
        legacy = conn.execute(
            "INSERT INTO scoring_run (year, methodology_name, methodology_version, methodology_hash, "
            "methodology_text, results_hash, created_by) VALUES (2025, 'm', '1', 'h', '', 'r', 't') RETURNING id"
        ).fetchone()[0]
        for iid, detail in (
            (
                "G1",
                '{"inputs": {"current": {"building_energy_kgce": 12.5, "floor_area_m2": 100.0, "occupants": 7, '
                '"total_energy_kgce": null, "water_m3": 3}}}',
            ),
            ("G2", '{"inputs": {"current": null}}'),
            ("S2", "{}"),
            # the text holds \u0000, which jsonb refuses (a methodology's string can carry it)
            (
                "S1",
                r'{"name": "a\u0000b", "inputs": {"current": {"building_energy_kgce": 1.0, "floor_area_m2": 4.0}}}',
            ),
        ):
            conn.execute(
                "INSERT INTO scoring_result (run_id, institution_id, region_code, category, peer_group, eligible, "
                "detail) VALUES (%s, %s, '320100', 'government', 'g', true, %s)",
                (legacy, iid, detail),
            )
        conn.execute((Path(migrations_dir()) / "0027_result_year_figures.sql").read_text())
        by_run = dict(
            ((iid, rid), vals)
            for rid, iid, *vals in conn.execute(
                f"SELECT run_id, institution_id, {', '.join('current_' + c for c in cols)} FROM scoring_result"
            )
        )
        assert [by_run[(iid, legacy)] for iid in ("G1", "G2", "S2", "S1")] == [
            [12.5, None, 3.0, 100.0, 7],
            [None] * 5,
            [None] * 5,
            [1.0, None, None, 4.0, None],
        ]
        # runs stored before have no format: their details are validated when read
        assert conn.execute(
            "SELECT count(*) FROM scoring_run WHERE detail_format IS NOT NULL"
        ).fetchone() == (0,)
        # the run's medians as insert_run computed them, and the legacy run's from its filled figures
        refilled = conn.execute("SELECT * FROM scoring_run_peer ORDER BY 1, 2").fetchall()
        assert [p for p in refilled if p[0] == run_id] == peers
        assert [p for p in refilled if p[0] == legacy] == [
            (legacy, "g", 4, (0.125 + 0.25) / 2, None, 3.0 / 7)
        ]
        assert {k: v for k, v in by_run.items() if k[1] == run_id} == {
            (iid, run_id): list(vals) for iid, *vals in as_written
        }


def test_text_that_ends_like_a_reference_reads_back(example_db):
    # Evidence is free text: a string ending in a quote, U+0001 and ten digits is stored as it is (it does not
    # begin with U+0001), and its escaped quote must not pass for the start of a reference in SQL either.
    evidence = 'see "\x01' + "9" * 10
    with psycopg.connect(example_db) as conn:
        A.set_assessed_item(conn, "S2", 2026, "bonus_honours", 5, evidence, "assessor-2")
        run_id = run_scoring(conn, year=2026, created_by="tester")
        canonical = dict(S.result_details(conn, run_id))
        assert evidence in canonical["S2"] or json.dumps(evidence)[1:-1] in canonical["S2"]
        assert S.get_result(conn, run_id, "S2") == json.loads(canonical["S2"])
        key, _ = api_keys.create_key(conn, role="admin", name="reader")
        pulled = api_pulls.report_logged(
            conn, key, "S2", run_id=run_id, year=None, fmt="json", path="/test", client_addr=None
        )
        assert pulled["found"]["detail"] == canonical["S2"]


def test_a_small_memory_of_decided_strings_changes_nothing(example_inputs, worked):
    results = [r.model_dump() for r in score(example_inputs, worked, 2026)]
    counter = [0]
    hostile = [_replace_strings(r, HOSTILE, counter) for r in results]
    for remembered in (1, 4, 50):
        writer = StoredWriter()
        writer.REMEMBERED = remembered
        for r in results + hostile + results:
            canonical, stored = writer.write(r)
            assert canonical == canonical_bytes(r) and expand(stored, writer.strings) == canonical
            assert len(writer._decided) <= max(remembered, len(writer._shared)) + 1


def test_dict_details_are_not_stored_beside_shared_strings(example_db):
    row = dict(
        institution_id="G1",
        region_code="320100",
        category="government",
        peer_group="g",
        total_points=None,
        eligible=False,
        leader=False,
        rank_peer=None,
        rank_city=None,
        rank_province=None,
        vetoes=[],
        detail={"name": "\x010"},
    )
    with psycopg.connect(example_db) as conn, pytest.raises(ValueError, match="shared strings"):
        S.insert_run(
            conn,
            year=2026,
            region_code=None,
            methodology_name="m",
            methodology_version="1",
            methodology_hash="h",
            methodology_text="",
            results_hash="r",
            created_by="t",
            results=[row],
            strings=[b'"x"'],
        )


def test_a_report_passes_a_detail_of_its_format_through_as_the_model_would_dump_it(example_db):
    # A run stored by the runner carries the details' format (scoring.canonical.DETAIL_FORMAT); the JSON report
    # then sends the stored canonical JSON as its result instead of validating and dumping it. It must be the
    # same JSON as the validated path gives, for every institution of the run; a run of another format (an
    # older model: here a detail without a field that has a default) is validated, so its default appears.
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.config import ApiConfig
    from scoring.canonical import DETAIL_FORMAT

    with psycopg.connect(example_db) as conn:
        run_id = run_scoring(conn, year=2026, created_by="tester")
        (stored_format,) = conn.execute(
            "SELECT detail_format FROM scoring_run WHERE id = %s", (run_id,)
        ).fetchone()
        assert stored_format == DETAIL_FORMAT
        _, token = api_keys.create_key(conn, role="admin", name="reader")
        institutions = [
            iid
            for (iid,) in conn.execute(
                "SELECT institution_id FROM scoring_result WHERE run_id = %s", (run_id,)
            )
        ]
    app = create_app(
        ApiConfig(database_url=example_db, timezone="Asia/Shanghai", pool_min_size=1, pool_max_size=2)
    )
    headers = {"Authorization": f"Bearer {token}"}

    def reports(run: int) -> dict[str, dict]:
        out = {}
        for iid in institutions:
            r = client.get(f"/v1/institutions/{iid}/report", params={"run_id": run}, headers=headers)
            assert r.status_code == 200, r.text
            out[iid] = r.json()
        return out

    with TestClient(app) as client:
        passed = reports(run_id)
        with psycopg.connect(example_db, autocommit=True) as conn:
            conn.execute("UPDATE scoring_run SET detail_format = NULL WHERE id = %s", (run_id,))
        validated = reports(run_id)
        assert passed == validated and len(passed) == len(institutions) > 1
        # an older format: a detail without baseline_year_note (a field with a default) is validated and dumped
        with psycopg.connect(example_db, autocommit=True) as conn:
            detail = json.loads(dict(S.result_details(conn, run_id))["S2"])
            del detail["baseline_year_note"]
            conn.execute("UPDATE scoring_run SET detail_format = 'older' WHERE id = %s", (run_id,))
            conn.execute(
                "UPDATE scoring_result SET detail = %s WHERE run_id = %s AND institution_id = 'S2'",
                (json.dumps(detail, ensure_ascii=False), run_id),
            )
        r = client.get("/v1/institutions/S2/report", params={"run_id": run_id}, headers=headers)
        assert r.status_code == 200 and r.json()["result"] == passed["S2"]["result"]
        assert "baseline_year_note" in r.json()["result"]
