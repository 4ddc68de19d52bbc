"""Rules and records of scoring with one home: a second definition fails here, naming where it is."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _py(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def test_numbers_in_explanations_are_formatted_in_one_place():
    """scoring/numbers.py writes every number of a reason, formula or --explain line."""
    rule = re.compile(r"""\.4f\}["']\s*\)?\s*\.rstrip\(\s*["']0""")
    helper = re.compile(r"^def _f(?:c|4|_cached)?\(", re.M)
    hits = []
    for path in _py("scoring"):
        if path.name == "numbers.py":
            continue
        text = path.read_text(encoding="utf-8")
        hits += [f"{path.relative_to(ROOT)}: {m.group(0)}" for m in rule.finditer(text)]
        hits += [f"{path.relative_to(ROOT)}: {m.group(0)}" for m in helper.finditer(text)]
    assert not hits, "number formatting outside scoring/numbers.py:\n" + "\n".join(hits)


def test_the_formatting_rule():
    from scoring.numbers import fmt, fmt_constant, fmt_report

    assert [fmt(x) for x in (0.1229, 12.5, 85.0, 85, 1 / 3, -0.0, 1e-5)] == [
        "0.1229",
        "12.5",
        "85",
        "85",
        "0.3333",
        "-0",
        "0",
    ]
    assert fmt(None) == "?" and fmt_report(None) == "—"
    assert fmt_report(12345.678) == "12,345.678" and fmt_constant(0.9) == "0.9" and fmt_constant(-0.0) == "-0"


PACKAGES = ("api", "dashboards", "ingest", "jieneng", "savings", "scoring", "sim", "store")


def _declarations(pattern: str) -> list[str]:
    rx = re.compile(pattern, re.M)
    return [
        f"{path.relative_to(ROOT)}"
        for pkg in PACKAGES
        for path in _py(pkg)
        for _ in rx.finditer(path.read_text(encoding="utf-8"))
    ]


def test_the_meter_quality_record_is_declared_once():
    """store.quality.MeterQuality is the record; scoring's inputs, its results' meter lines and the API's
    quality rows take their fields from it."""
    assert _declarations(r"^class MeterQuality\w*\b") == ["store/quality.py"]
    assert _declarations(r"^\s+longest_gap_hours\s*:") == ["store/quality.py"]
    from api import models as api_models
    from scoring import inputs, model
    from store import quality

    assert inputs.MeterQuality is quality.MeterQuality
    figures = [f.name for f in dataclasses.fields(quality.MeterQuality)]
    assert list(api_models.MeterQuality.model_fields) == figures
    assert set(model.RESULT_QUALITY_FIELDS) <= set(figures)
    assert list(model.MeterQualityInfo.model_fields)[-len(model.RESULT_QUALITY_FIELDS) :] == list(
        model.RESULT_QUALITY_FIELDS
    )


def test_run_and_institution_records_are_declared_once():
    """RunRef is RunInfo's identifying fields; a result's institution fields are InstitutionInput's."""
    assert _declarations(r"^class RunRef\b") == []
    assert _declarations(r"^class RunInfo\b") == ["scoring/model.py"]
    in_scoring = [p for p in _declarations(r"^\s+climate_zone\s*:") if p.startswith("scoring/")]
    assert in_scoring == ["scoring/inputs.py"]
    from api.models import RunRef
    from scoring.model import InstitutionResult, RunInfo

    for name, field in RunRef.model_fields.items():
        assert RunInfo.model_fields[name].annotation == field.annotation
    assert list(InstitutionResult.model_fields)[:8] == [
        "institution_id",
        "name",
        "region_code",
        "city_code",
        "category",
        "sub_kind",
        "admin_level",
        "climate_zone",
    ]


def test_which_meters_add_to_totals_is_written_once():
    """store/totals.py decides which meters enter an institution's totals; scoring and the dashboards embed it
    instead of testing ``parent_meter_id IS NULL`` or the counted end uses themselves."""
    rule = re.compile(r"parent_meter_id\s+IS\s+(?:NOT\s+)?NULL|end_use\s+IN\s*\(\s*'main'", re.I)
    counted = re.compile(r"COUNTED_END_USES\s*[:=]")
    hits = []
    for folder in ("scoring", "dashboards", "api", "savings", "store"):
        for path in _py(folder):
            if path.name == "totals.py" and path.parent.name == "store":
                continue
            text = path.read_text(encoding="utf-8")
            hits += [f"{path.relative_to(ROOT)}: {m.group(0)}" for m in rule.finditer(text)]
            hits += [f"{path.relative_to(ROOT)}: {m.group(0)}" for m in counted.finditer(text)]
    assert not hits, "the totals rule outside store/totals.py:\n" + "\n".join(hits)


def test_counted_end_uses_are_end_uses():
    from store import codes
    from store.totals import COUNTED_END_USES

    assert set(COUNTED_END_USES) <= set(codes.END_USES)
    assert not set(COUNTED_END_USES) & codes.SUB_METER_END_USES


def test_coefficient_units_are_the_store_codes_units():
    """A coefficient's unit is one of store.codes.UNITS, the home of the unit codes: a unit added there is
    accepted by the methodology model, not refused by a restated list."""
    from scoring.methodology import Coefficient
    from store import codes

    given = {
        "kgce_per_unit": 1.0,
        "basis": "当量值",
        "source": "s",
        "kgco2_per_unit": 0.0,
        "carbon_source": "c",
    }
    assert [Coefficient(unit=u, **given).unit for u in codes.UNITS] == list(codes.UNITS)
    assert Coefficient.model_json_schema()["properties"]["unit"]["enum"] == list(codes.UNITS)


def test_no_module_restates_the_unit_energy_type_or_category_codes():
    """Four or more of one code list's codes written in a row, outside store/codes.py, restate that list."""
    from store import codes

    hits = []
    for name, values in (
        ("UNITS", codes.UNITS),
        ("ENERGY_TYPES", codes.ENERGY_TYPES),
        ("CATEGORIES", codes.CATEGORIES),
    ):
        one = r"""["'](?:""" + "|".join(re.escape(v) for v in values) + r""")["']"""
        rx = re.compile(rf"(?:{one}\s*,\s*){{3,}}{one}")
        for pkg in (*PACKAGES, "bench", "examples"):
            for path in _py(pkg):
                if path.relative_to(ROOT).as_posix() == "store/codes.py":
                    continue
                hits += [
                    f"{path.relative_to(ROOT)}: {name}: {m.group(0)}"
                    for m in rx.finditer(path.read_text("utf-8"))
                ]
    assert not hits, "code lists restated outside store/codes.py:\n" + "\n".join(hits)
