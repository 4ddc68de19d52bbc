"""store.codes: labels, allowed units and unit conversion."""

from __future__ import annotations

import pytest

from store import codes


def test_conversion_table():
    assert codes.convert(1500, "Wh", "kWh") == pytest.approx(1.5)
    assert codes.convert(2, "MWh", "kWh") == 2000
    assert codes.convert(250, "L", "m3") == 0.25
    assert codes.convert(3200, "MJ", "GJ") == pytest.approx(3.2)
    assert codes.convert(1000, "kWh", "GJ") == pytest.approx(3.6)
    assert codes.convert(1, "kWh", "MJ") == 3.6
    assert codes.convert(750, "kg", "t") == 0.75
    assert codes.convert(7, "t", "t") == 7


def test_round_trip_is_exact():
    for a in codes.UNITS:
        for b in codes.UNITS:
            if codes.UNITS[a].dimension == codes.UNITS[b].dimension:
                assert codes.convert(codes.convert(123.0, a, b), b, a) == pytest.approx(123.0, rel=1e-15)


@pytest.mark.parametrize(
    ("src", "dst", "message"),
    [
        ("L", "kg", "cannot convert L (volume) to kg (mass)"),
        ("kWh", "m3", "cannot convert kWh (energy) to m3 (volume)"),
        ("kcal", "kWh", "unknown unit 'kcal'"),
    ],
)
def test_incompatible_units_raise(src, dst, message):
    with pytest.raises(codes.UnitError, match=message.replace("(", r"\(").replace(")", r"\)")):
        codes.convert(1, src, dst)


def test_canonical_units():
    assert codes.to_canonical(5, "electricity", "MWh") == (5000, "kWh")
    assert codes.to_canonical(2000, "heat", "MJ") == (pytest.approx(2.0), "GJ")
    assert codes.to_canonical(500, "steam", "kg") == (0.5, "t")
    # Litres of gasoline need a density to become kg: left as they are.
    assert codes.to_canonical(40, "gasoline", "kg") == (40, "kg")
    assert codes.to_canonical(3, "other", "t") == (3, "t")


def test_every_energy_type_has_units_and_labels():
    assert set(codes.ENERGY_UNITS) == set(codes.ENERGY_TYPES) == set(codes.CANONICAL_UNITS)
    for energy, units in codes.ENERGY_UNITS.items():
        assert all(u in codes.UNITS for u in units), energy
        canonical = codes.CANONICAL_UNITS[energy]
        assert canonical is None or canonical == units[0]
    assert set(codes.SUB_KINDS) == set(codes.CATEGORIES)


def test_unit_spellings():
    assert codes.normalize_unit("kwh") == "kWh"
    assert codes.normalize_unit("m³") == "m3"
    assert codes.normalize_unit("吨") == "t"
    with pytest.raises(codes.UnitError):
        codes.normalize_unit("furlong")
