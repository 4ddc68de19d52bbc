"""Load shapes and annual magnitudes per institution category.

Annual electricity intensities (kWh per m² of floor area per year) follow the ranges reported for Chinese
public buildings in the hot-summer/cold-winter zone (Tsinghua BERC, *China Building Energy Use* 2016–2022;
GB/T 51161-2016 民用建筑能耗标准 constraint values for offices, about 55–85 kWh/m²): offices 40–80, hospitals
150–250, schools 25–50. Water is per occupant (national public-institution average 21.53 m³/person in 2020);
gas per m² covers kitchens and boilers. The shapes are relative power (1 = a normal working-hour peak).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim import rand

# annual electricity kWh/m² (low, high)
ELECTRICITY_KWH_M2 = {
    "government": (40.0, 80.0),
    "school": (25.0, 50.0),
    "hospital": (150.0, 250.0),
    "venue": (50.0, 100.0),
    "other": (40.0, 70.0),
}
# annual natural gas m³/m²
GAS_M3_M2 = {
    "government": (1.0, 2.5),
    "school": (0.8, 2.0),
    "hospital": (4.0, 8.0),
    "venue": (0.8, 2.0),
    "other": (0.8, 2.0),
}
# annual water m³ per occupant (schools and hospitals serve students and patients counted elsewhere)
WATER_M3_PERSON = {
    "government": (18.0, 30.0),
    "school": (30.0, 60.0),
    "hospital": (60.0, 110.0),
    "venue": (25.0, 45.0),
    "other": (18.0, 30.0),
}
# annual official-vehicle fuel, litres per occupant
VEHICLE_L_PERSON = {
    "government": (8.0, 20.0),
    "school": (2.0, 6.0),
    "hospital": (3.0, 8.0),
    "venue": (2.0, 6.0),
    "other": (4.0, 10.0),
}
# other energy types: annual amount per m² in the canonical unit (see meters.CANONICAL_UNIT)
OTHER_PER_M2 = {"heat": 0.05, "steam": 0.02, "coal": 1.0, "lpg": 0.3, "other": 1.0}

# Night/weekend base load as a share of the working-hour peak.
BASE_SHARE = {"government": 0.12, "school": 0.10, "hospital": 0.15, "venue": 0.10, "other": 0.12}
WASTEFUL_BASE_SHARE = 0.45
EFFICIENT_BASE_FACTOR = 0.6
# Sub-meter shares (分项): of the non-HVAC part, and of the HVAC part. They sum below 1, so sub-meters ≤ main.
SUB_SHARE_OF_BASE = {"lighting_sockets": 0.45, "power": 0.2, "special": 0.1}
SUB_SHARE_OF_HVAC = 0.9

_KNOTS: dict[str, list[tuple[float, float]]] = {
    "office_work": [
        (0, 0),
        (6.5, 0),
        (7.5, 0.2),
        (8.5, 1),
        (11.75, 1),
        (12.25, 0.55),
        (13.25, 0.55),
        (13.75, 1),
        (17.5, 1),
        (18.5, 0.35),
        (21, 0.1),
        (22, 0),
        (24, 0),
    ],
    "office_off": [(0, 0), (8, 0), (9, 0.08), (17, 0.08), (18, 0), (24, 0)],
    "school_term": [
        (0, 0),
        (6.5, 0),
        (7.5, 0.9),
        (11.5, 1),
        (12, 0.7),
        (13.5, 0.7),
        (14, 1),
        (17, 0.9),
        (18, 0.4),
        (21, 0.3),
        (22, 0),
        (24, 0),
    ],
    "school_off": [(0, 0), (8, 0), (9, 0.1), (17, 0.1), (18, 0), (24, 0)],
    "school_vacation_work": [(0, 0), (8, 0), (9, 0.15), (17, 0.15), (18, 0), (24, 0)],
    "hospital": [
        (0, 0.55),
        (6, 0.55),
        (7.5, 0.9),
        (8, 1),
        (11.5, 1),
        (12.5, 0.85),
        (14, 1),
        (17.5, 0.9),
        (19, 0.75),
        (22, 0.6),
        (24, 0.55),
    ],
    "venue_open": [(0, 0), (8, 0), (9, 1), (21, 1), (22, 0), (24, 0)],
    "meals": [
        (0, 0),
        (6.5, 0),
        (7, 0.4),
        (7.5, 0),
        (10.5, 0),
        (11, 1),
        (12, 1),
        (12.5, 0),
        (16.5, 0),
        (17, 0.8),
        (18, 0.8),
        (18.5, 0),
        (24, 0),
    ],
}


def _curve(name: str, hour: np.ndarray) -> np.ndarray:
    xs, ys = zip(*_KNOTS[name], strict=True)
    return np.interp(hour, xs, ys)


def occupancy(category: str, hour: np.ndarray, workday: np.ndarray, term: np.ndarray) -> np.ndarray:
    """Relative activity 0–1 by local hour and day type (working day per the holiday calendar, school term)."""
    if category == "hospital":
        h = _curve("hospital", hour)
        return np.where(workday, h, 0.55 + (h - 0.55) * 0.6)
    if category == "school":
        return np.where(
            term,
            np.where(workday, _curve("school_term", hour), _curve("school_off", hour)),
            np.where(workday, _curve("school_vacation_work", hour), _curve("school_off", hour) * 0.5),
        )
    if category == "venue":
        return _curve("venue_open", hour) * np.where(workday, 0.7, 1.0)
    return np.where(workday, _curve("office_work", hour), _curve("office_off", hour))


def meals(category: str, hour: np.ndarray, workday: np.ndarray, term: np.ndarray) -> np.ndarray:
    """Relative kitchen activity (canteens): every day in hospitals, in term in schools, on working days elsewhere."""
    m = _curve("meals", hour)
    if category == "hospital":
        return m
    if category == "school":
        return m * (term & workday)
    return m * workday


@dataclass(frozen=True)
class Character:
    """How an institution uses energy: ``kind`` is wasteful, efficient or normal; ``level`` in [0, 1) places
    it within its category's range (wasteful near the top, efficient near the bottom)."""

    kind: str
    level: float

    @property
    def base_share_factor(self) -> float:
        return EFFICIENT_BASE_FACTOR if self.kind == "efficient" else 1.0


def character(seed: int, institution_id: str, wasteful_share: float, efficient_share: float) -> Character:
    """Deterministic: the same seed and id always give the same character; about ``wasteful_share`` of
    institutions are wasteful and ``efficient_share`` efficient."""
    u = rand.scalar_uniform(rand.key(seed, "character", institution_id))
    v = rand.scalar_uniform(rand.key(seed, "level", institution_id))
    if u < wasteful_share:
        return Character("wasteful", 0.75 + 0.25 * v)
    if u < wasteful_share + efficient_share:
        return Character("efficient", 0.25 * v)
    return Character("normal", 0.15 + 0.7 * v)


def in_range(bounds: tuple[float, float], level: float) -> float:
    lo, hi = bounds
    return lo + (hi - lo) * level
