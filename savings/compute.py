"""Avoided energy over a reporting period from a baseline model (pure): daily rows and their totals."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np

from savings.caltrack import BaselineModel, savings_uncertainty
from savings.degree_days import cooling_degree_days, heating_degree_days


@dataclass(frozen=True)
class DailyRow:
    day: dt.date
    mean_temp_c: float
    hdd: float  # on the methodology's report base (HDD18)
    cdd: float  # CDD26
    workday: bool
    predicted: float  # the baseline model under this day's weather [unit]
    metered: float | None  # None: no complete metered day
    avoided: float | None  # predicted − metered


@dataclass(frozen=True)
class Totals:
    reporting_days: int  # days with metered use (the sums below are over these)
    predicted: float
    metered: float
    avoided: float
    avoided_uncertainty: float  # ± at confidence_level
    confidence_level: float

    @property
    def avoided_share(self) -> float:
        return self.avoided / self.predicted if self.predicted else math.nan


def daily_rows(
    model: BaselineModel,
    days: list[dt.date],
    temp_c: dict[dt.date, float],
    metered: dict[dt.date, float],
    workday: dict[dt.date, bool],
    hdd_base_c: float,
    cdd_base_c: float,
) -> list[DailyRow]:
    """One row per day that has a temperature (a day without one cannot be predicted)."""
    ds = [d for d in days if d in temp_c]
    if not ds:
        return []
    t = np.array([temp_c[d] for d in ds])
    w = np.array([workday[d] for d in ds])
    pred = model.predict(t, w)
    hdd = heating_degree_days(t, hdd_base_c)
    cdd = cooling_degree_days(t, cdd_base_c)
    out = []
    for i, d in enumerate(ds):
        m = metered.get(d)
        out.append(
            DailyRow(
                d,
                float(t[i]),
                float(hdd[i]),
                float(cdd[i]),
                bool(w[i]),
                float(pred[i]),
                m,
                None if m is None else float(pred[i]) - m,
            )
        )
    return out


def totals(model: BaselineModel, rows: list[DailyRow], confidence_level: float) -> Totals:
    """Sums over the days with metered use, and the uncertainty of the avoided energy.

    References
    ----------
    CalTRACK Methods 2.0, avoided energy use (counterfactual − metered, over the reporting period);
    ASHRAE Guideline 14-2014 Annex B (uncertainty, see ``savings.caltrack.savings_uncertainty``).
    """
    used = [r for r in rows if r.metered is not None]
    pred = float(sum(r.predicted for r in used))
    met = float(sum(r.metered for r in used))
    u = savings_uncertainty(model.stats, pred, len(used), confidence_level)
    return Totals(len(used), pred, met, pred - met, u, confidence_level)
