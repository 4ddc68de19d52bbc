"""The simulator's retrofit: a known share cut from a known day, on every meter of the chosen types."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from sim.meters import InstitutionModel, step_of, time_grid
from sim.registry import InstitutionSpec, MeterSpec
from sim.retrofit import Retrofit, parse

TZ = "Asia/Shanghai"
INSTALLED = dt.datetime(2024, 1, 1, tzinfo=ZoneInfo(TZ))


def _spec() -> InstitutionSpec:
    iid = "r1"
    meters = (
        MeterSpec("r1-main", iid, "electricity", "kWh", "cumulative", "main", installed_at=INSTALLED),
        MeterSpec(
            "r1-hvac",
            iid,
            "electricity",
            "kWh",
            "cumulative",
            "hvac",
            parent_meter_id="r1-main",
            installed_at=INSTALLED,
        ),
        MeterSpec("r1-gas", iid, "natural_gas", "m3", "cumulative", "main", installed_at=INSTALLED),
    )
    return InstitutionSpec(
        iid, "government", "320100", "hot_summer_cold_winter", {2025: (10000.0, 300)}, meters
    )


def test_cut_from_the_day_on_chosen_types_only():
    z = ZoneInfo(TZ)
    g = time_grid(step_of(dt.datetime(2025, 6, 1, tzinfo=z)), step_of(dt.datetime(2025, 7, 1, tzinfo=z)), TZ)
    plain = InstitutionModel(_spec(), 5, TZ).consumption(g)
    cut = InstitutionModel(
        _spec(),
        5,
        TZ,
        retrofits=(Retrofit("r1", dt.date(2025, 6, 15), 0.2), Retrofit("other", dt.date(2025, 6, 1), 0.5)),
    ).consumption(g)
    after = g.ordinal >= dt.date(2025, 6, 15).toordinal()
    for m in ("r1-main", "r1-hvac"):
        assert np.allclose(cut[m][~after], plain[m][~after])
        assert np.allclose(cut[m][after], 0.8 * plain[m][after])
    assert np.allclose(cut["r1-gas"], plain["r1-gas"])


def test_parse():
    assert parse("nj-fgw:2026-01-01:0.2") == Retrofit("nj-fgw", dt.date(2026, 1, 1), 0.2, ("electricity",))
    assert parse("a:2026-01-01:0.1:electricity,natural_gas").energy_types == ("electricity", "natural_gas")
    for bad in ("a:2026-01-01", "a:2026-13-01:0.1", "a:2026-01-01:1.5"):
        with pytest.raises(ValueError):
            parse(bad)
