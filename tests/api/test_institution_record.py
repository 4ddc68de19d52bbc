"""The API's institution is the registry's record (store.registry.InstitutionRow) with its region's name."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from api.models import Institution
from store.registry import InstitutionRow

ROOT = Path(__file__).resolve().parents[2]


def test_institution_model_is_built_from_the_store_record():
    row = [f.name for f in dataclasses.fields(InstitutionRow)]
    at = row.index("region_code") + 1
    assert list(Institution.model_fields) == row[:at] + ["region_name"] + row[at:]


def test_the_record_is_declared_once():
    declared = re.compile(r"^\s+admin_level: str$", re.MULTILINE)
    found = sorted(
        str(p.relative_to(ROOT))
        for d in ("api", "store")
        for p in (ROOT / d).rglob("*.py")
        if declared.search(p.read_text(encoding="utf-8"))
    )
    assert found == ["store/registry.py"]


def test_an_institutions_meters_are_the_registrys_meter_record():
    import typing

    from api.models import Meter
    from store.registry import MeterRow

    hints = typing.get_type_hints(MeterRow)
    shown = {(f.alias or name): f.annotation for name, f in Meter.model_fields.items()}
    assert shown and all(hints[name] == kind for name, kind in shown.items()), shown
    multiplier = re.compile(r"^\s+multiplier: float$", re.MULTILINE)
    found = sorted(
        str(p.relative_to(ROOT))
        for d in ("api", "store")
        for p in (ROOT / d).rglob("*.py")
        if multiplier.search(p.read_text(encoding="utf-8"))
    )
    assert found == ["store/registry.py"]
