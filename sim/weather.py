"""Outdoor air temperature by city: a seasonal and daily cycle plus a smooth weather anomaly.

Monthly normals (January and July means, °C) are rounded from the China Meteorological Administration
1991–2020 climate normals for each prefecture seat; north Jiangsu (Xuzhou, Lianyungang, Suqian, Huai'an,
Yancheng) is colder in winter, the south (Suzhou, Wuxi) milder. The annual cycle is a cosine with its minimum
around 20 January; the daily cycle has an amplitude of 3.5 °C peaking at 14:30; the anomaly (σ ≈ 2.5 °C,
smoothed over five days) is shared by the whole province, as weather systems are.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from sim import rand

# region code -> (January mean, July mean) in °C
CITY_NORMALS_C: dict[str, tuple[float, float]] = {
    "320100": (2.7, 28.1),  # 南京
    "320200": (3.6, 28.7),  # 无锡
    "320300": (0.4, 27.2),  # 徐州
    "320400": (3.3, 28.4),  # 常州
    "320500": (4.1, 28.7),  # 苏州
    "320600": (3.3, 27.5),  # 南通
    "320700": (0.2, 26.6),  # 连云港
    "320800": (1.0, 27.3),  # 淮安
    "320900": (1.3, 27.0),  # 盐城
    "321000": (2.4, 27.9),  # 扬州
    "321100": (2.9, 28.1),  # 镇江
    "321200": (2.3, 27.8),  # 泰州
    "321300": (0.6, 27.2),  # 宿迁
}
ZONE_NORMALS_C = {"cold": (0.5, 27.0), "hot_summer_cold_winter": (3.0, 28.0)}
DIURNAL_AMPLITUDE_C = 3.5
ANOMALY_SD_C = 2.5


def normals_for(region_code: str, climate_zone: str) -> tuple[float, float]:
    """January and July means for a region (county codes fall back to their city, unknown ones to the zone)."""
    city = region_code[:4] + "00"
    if region_code in CITY_NORMALS_C:
        return CITY_NORMALS_C[region_code]
    if city in CITY_NORMALS_C:
        return CITY_NORMALS_C[city]
    return ZONE_NORMALS_C.get(climate_zone, ZONE_NORMALS_C["hot_summer_cold_winter"])


@lru_cache(maxsize=64)
def _anomaly_range(seed: int, lo: int, hi: int) -> np.ndarray:
    """Daily anomalies for ordinals lo..hi-1 (cached: every institution of a chunk asks for the same days)."""
    k = rand.key(seed, "weather")
    weights = np.array([1.0, 2.0, 3.0, 2.0, 1.0])
    z = rand.normal(k, np.arange(lo - 2, hi + 2))
    acc = sum(w * z[i : i + hi - lo] for i, w in enumerate(weights))
    return ANOMALY_SD_C * acc / np.sqrt((weights**2).sum())


def _daily_anomaly_c(seed: int, ordinals: np.ndarray) -> np.ndarray:
    lo, hi = int(ordinals.min()), int(ordinals.max()) + 1
    return _anomaly_range(seed, lo, hi)[ordinals - lo]


def temperature_c(
    seed: int, normals: tuple[float, float], ordinal: np.ndarray, doy: np.ndarray, hour: np.ndarray
) -> np.ndarray:
    """Air temperature in °C at local day ``ordinal`` (day of year ``doy``) and local ``hour`` (fractional)."""
    jan, jul = normals
    mean, amp = (jan + jul) / 2.0, (jul - jan) / 2.0
    frac_day = doy + hour / 24.0
    seasonal = mean - amp * np.cos(2.0 * np.pi * (frac_day - 20.0) / 365.25)
    diurnal = DIURNAL_AMPLITUDE_C * np.cos(2.0 * np.pi * (hour - 14.5) / 24.0)
    # anomaly interpolated between local noons so it has no step at midnight
    pos = hour / 24.0 - 0.5
    lo = np.floor(pos).astype(np.int64)
    a0 = _daily_anomaly_c(seed, ordinal + lo)
    a1 = _daily_anomaly_c(seed, ordinal + lo + 1)
    w = pos - lo
    return seasonal + diurnal + (1.0 - w) * a0 + w * a1


def daily_mean_c(seed: int, region_code: str, climate_zone: str, days: list) -> np.ndarray:
    """Daily mean air temperature in °C of each local date in ``days``: the mean of the hourly model above at
    the 24 half-hours (00:30 … 23:30), so it is the same temperature the simulated buildings respond to."""
    normals = normals_for(region_code, climate_zone)
    ordinals = np.array([d.toordinal() for d in days], dtype=np.int64)
    doys = np.array([d.timetuple().tm_yday for d in days], dtype=np.int64)
    hours = np.arange(24) + 0.5
    o = np.repeat(ordinals, 24)
    t = temperature_c(seed, normals, o, np.repeat(doys, 24), np.tile(hours, len(days)))
    return t.reshape(len(days), 24).mean(axis=1)
