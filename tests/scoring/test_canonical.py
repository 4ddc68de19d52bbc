"""The fast path (plain dicts → generated writer → orjson → COPY) gives exactly what the models would.

A run never builds pydantic models: `score_dicts` yields plain dicts and `canonical_bytes` writes them. These
tests hold that path to the definition of the canonical form — the pydantic model written by pydantic, every
float re-read rounded to 6 decimals, written by the json module with sorted keys — byte for byte, including
the floats whose spelling differs between orjson and json (1e-06), and the stored rows to the computed ones.
"""

from __future__ import annotations

import json
import math

import orjson
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from scoring.canonical import _writer_source, canonical_bytes, canonical_float, canonical_json
from scoring.compute import results_hash, score, score_dicts
from scoring.methodology import METHODOLOGY_DIR, parse_methodology
from scoring.model import InstitutionResult
from scoring.runner import compute_results, labels, run_scoring
from store import scoring as S


def _round_float(text: str) -> float:
    return round(float(text), 6) + 0.0


def reference_json(result: InstitutionResult) -> str:
    """The canonical form by its definition (the implementation before the fast path)."""
    data = json.loads(result.model_dump_json(), parse_float=_round_float)
    return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def methodologies(worked):
    """The worked one and every shipped methodology that scores 2026."""
    shipped = [
        parse_methodology(p.read_text(encoding="utf-8"), p.name)
        for p in sorted(METHODOLOGY_DIR.glob("*.toml"))
    ]
    return [worked] + [
        m for m in shipped if m.spec.plan is None or m.spec.plan.first_year <= 2026 <= m.spec.plan.last_year
    ]


def check_same_bytes(insts, m, lab=None):
    dicts = list(score_dicts(insts, m, 2026, labels=lab))
    models = score(insts, m, 2026, labels=lab)
    assert [d["institution_id"] for d in dicts] == [r.institution_id for r in models]
    for d, r in zip(dicts, models, strict=True):
        fast = canonical_bytes(d)
        assert InstitutionResult.model_validate(d) == r  # the dicts are valid results (extra="forbid")
        assert fast.decode() == canonical_json(r) == reference_json(r)
        assert InstitutionResult.model_validate_json(fast) == InstitutionResult.model_validate_json(
            reference_json(r)
        )
    return dicts


def test_fast_path_writes_the_reference_bytes_for_the_worked_example(make_example, worked):
    for m in methodologies(worked):
        for lab in (None, labels()):
            check_same_bytes(make_example(), m, lab)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    scale=st.sampled_from([1.0, 0.37, 3e-6, 2e-8, 1e-9, 0.0, 123456.789]),
    area=st.sampled_from([10_000, 0.001, 7, 1e9]),
    coverage=st.sampled_from([1.0, 0.95, 1e-7, 0.0]),
    who=st.sampled_from(["G1", "G2", "S1", "S3"]),
)
def test_fast_path_matches_with_tiny_and_huge_figures(
    make_example, example_spec, worked, scale, area, coverage, who
):
    """Scaled usage and odd areas give floats below 1e-4 (spelt 1e-06 by json, 1e-6 by orjson), zeros and
    large values; the bytes stay those of the reference."""
    spec = example_spec[who]
    use = {y: tuple(None if v is None else v * scale for v in u) for y, u in spec["use"].items()}
    check_same_bytes(make_example({who: {"use": use, "area": area, "coverage": coverage}}), worked)


def test_small_floats_are_spelt_as_json_spells_them(make_example, example_spec, worked):
    spec = example_spec["G1"]
    use = {y: tuple(v * 2e-8 for v in u) for y, u in spec["use"].items()}
    texts = [
        canonical_json(d) for d in score_dicts(make_example({"G1": {"use": use, "area": 7}}), worked, 2026)
    ]
    assert any("e-06" in t or "e-05" in t for t in texts)  # the case the fragments exist for is exercised


@given(
    st.one_of(
        st.floats(allow_nan=True, allow_infinity=True), st.integers(-(10**15), 10**15), st.floats(-1e-3, 1e-3)
    )
)
def test_canonical_float_is_json_of_the_rounded_value(x):
    text = orjson.dumps(canonical_float(x)).decode()
    assert text == (json.dumps(round(float(x), 6) + 0.0) if math.isfinite(x) else "null")


def test_a_field_shape_without_a_rule_is_refused():
    class Odd(BaseModel):
        weights: dict[str, float]

    with pytest.raises(TypeError, match="Odd.weights"):
        _writer_source(Odd, {})


def test_stored_rows_are_the_computed_bytes_with_awkward_text(example_db, worked_file, worked):
    """COPY text escaping: a name with a backslash, tab, newline, quote and CJK survives, and what is stored
    is what was hashed."""
    awkward = '示例\\单位\t"G1"\n第二行 \\N'
    with psycopg.connect(example_db) as conn:
        conn.execute("UPDATE institution SET name = %s WHERE id = 'G1'", (awkward,))
        conn.commit()
        expected = {r.institution_id: canonical_json(r) for r in compute_results(conn, worked, year=2026)}
        run_id = run_scoring(conn, year=2026, methodology_path=worked_file, created_by="tester")
        g1 = S.get_result(conn, run_id, "G1")
        stored = {iid: S.get_result(conn, run_id, iid) for iid in expected}
        info = S.get_run(conn, run_id)
        rows = {r["institution_id"]: r for r in S.list_results(conn, run_id)}
    assert g1["name"] == awkward
    assert all(stored[iid] == json.loads(text) for iid, text in expected.items())
    assert info["results_hash"] == results_hash(list(expected.items()))
    assert rows["G2"]["vetoes"] == json.loads(expected["G2"])["vetoes"] and rows["G2"]["vetoes"]
