"""The API's category and energy-type parameters are the codes store/codes.py owns, not a copy."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

from api.params import Category, EnergyType
from store import codes

ROOT = Path(__file__).resolve().parents[2]


def test_parameters_take_the_codes_from_store_codes():
    assert get_args(Category) == tuple(codes.CATEGORIES)
    assert get_args(EnergyType) == tuple(codes.ENERGY_TYPES)


def test_no_router_or_parameter_restates_the_code_lists():
    for path in (ROOT / "api").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert '"natural_gas", "heat"' not in text, path
        assert '"hospital", "venue"' not in text, path


def test_buckets_and_roles_are_the_stores_lists():
    from api.models import Me, UsageSeries
    from api.params import Bucket
    from store import usage
    from store.api_keys import ROLES

    assert Bucket is usage.Bucket
    assert UsageSeries.model_fields["bucket"].annotation is usage.Bucket
    assert get_args(Me.model_fields["role"].annotation) == tuple(ROLES)
    for path in (ROOT / "api").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert '"hour", "day", "month", "year"' not in text, path
        assert '"city_assessor", "institution"' not in text, path
