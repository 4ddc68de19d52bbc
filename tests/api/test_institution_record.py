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
