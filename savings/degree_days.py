"""Heating and cooling degree days from daily mean air temperature (pure)."""

from __future__ import annotations

import numpy as np


def heating_degree_days(mean_temp_c, base_c: float) -> np.ndarray:
    """Heating degree days of each day.

    Parameters
    ----------
    mean_temp_c : array_like
        Daily mean outdoor air temperature [°C].
    base_c : float
        Base (balance-point) temperature [°C]; GB 50176-2016 reports HDD on an 18 °C base.

    Returns
    -------
    numpy.ndarray
        max(base_c − mean_temp_c, 0) for each day [°C·d].

    References
    ----------
    GB 50176-2016 民用建筑热工设计规范: thermal design zoning and its climate data (HDD18).
    """
    return np.maximum(base_c - np.asarray(mean_temp_c, dtype=float), 0.0)


def cooling_degree_days(mean_temp_c, base_c: float) -> np.ndarray:
    """Cooling degree days of each day.

    Parameters
    ----------
    mean_temp_c : array_like
        Daily mean outdoor air temperature [°C].
    base_c : float
        Base temperature [°C]; GB 50176-2016 reports CDD on a 26 °C base.

    Returns
    -------
    numpy.ndarray
        max(mean_temp_c − base_c, 0) for each day [°C·d].

    References
    ----------
    GB 50176-2016 民用建筑热工设计规范: thermal design zoning (CDD26).
    """
    return np.maximum(np.asarray(mean_temp_c, dtype=float) - base_c, 0.0)
