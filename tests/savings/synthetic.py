"""A building of known truth: use follows a known temperature response by day type, plus noise."""

from __future__ import annotations

import datetime as dt

import numpy as np

from savings.sufficiency import days_between
from store.calendar import is_workday


def temperatures(days: list[dt.date], rng: np.random.Generator) -> dict[dt.date, float]:
    """Nanjing-like daily means: 16 °C ± 13 °C seasonal cosine (coldest about 20 January) and AR(1) weather."""
    out, anomaly = {}, 0.0
    for d in days:
        anomaly = 0.7 * anomaly + rng.normal(0.0, 2.0)
        doy = d.timetuple().tm_yday
        out[d] = 15.5 - 12.7 * np.cos(2 * np.pi * (doy - 20) / 365.25) + anomaly
    return out


def true_use(t: float, workday: bool) -> float:
    """kWh per day: heating below 15 °C, cooling above 22 °C on working days; a smaller response otherwise."""
    if workday:
        return 1200.0 + 55.0 * max(15.0 - t, 0.0) + 90.0 * max(t - 22.0, 0.0)
    return 400.0 + 12.0 * max(15.0 - t, 0.0) + 20.0 * max(t - 22.0, 0.0)


def building(
    seed: int,
    first: dt.date,
    last: dt.date,
    retrofit_from: dt.date,
    cut_share: float,
    noise_share: float = 0.06,
    missing_share: float = 0.0,
):
    """(temperature, metered use, workday, counterfactual use) per day; use is cut by ``cut_share`` from
    ``retrofit_from``; multiplicative noise; ``missing_share`` of days randomly without a metered value."""
    rng = np.random.default_rng(seed)
    days = days_between(first, last)
    temp = temperatures(days, rng)
    work = {d: is_workday(d) for d in days}
    cf, metered = {}, {}
    for d in days:
        cf[d] = true_use(temp[d], work[d]) * (1 + rng.normal(0.0, noise_share))
        if rng.random() >= missing_share:
            metered[d] = cf[d] * (1 - cut_share) if d >= retrofit_from else cf[d]
    return temp, metered, work, cf
