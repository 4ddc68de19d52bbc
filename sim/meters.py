"""Consumption per meter on a fixed 15-minute grid: the pure generator behind every register and message.

Everything is a function of (seed, institution, meter, step), so any time range gives the same numbers however
it is chunked. Magnitudes are calibrated so that a year's total matches the category's annual intensity times
the year's floor area (or occupants), see `sim.profiles`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from sim import profiles, rand, weather
from sim.calendar import day_flags
from sim.registry import InstitutionSpec, MeterSpec
from sim.retrofit import Retrofit

STEP_S = 900  # the base grid; reading intervals are whole multiples of it
PEAK_SHARE_OF_MAX_RATE = 0.8  # normal consumption never exceeds this share of a meter's max_rate_per_h

# Canonical unit per energy type and the factor from it to other spellings of units.
CANONICAL_UNIT = {
    "electricity": "kWh",
    "water": "m3",
    "natural_gas": "m3",
    "heat": "GJ",
    "steam": "t",
    "coal": "kg",
    "gasoline": "L",
    "diesel": "L",
    "lpg": "kg",
    "other": "unit",
}
_UNIT_FACTOR = {
    "electricity": {"kwh": 1.0, "wh": 1000.0, "mwh": 0.001},
    "water": {"m3": 1.0, "m³": 1.0, "t": 1.0, "l": 1000.0},
    "natural_gas": {"m3": 1.0, "m³": 1.0, "nm3": 1.0, "l": 1000.0},
    "heat": {"gj": 1.0, "mj": 1000.0, "kwh": 277.778, "mwh": 0.277778},
    "steam": {"t": 1.0, "kg": 1000.0},
    "coal": {"kg": 1.0, "t": 0.001},
    "gasoline": {"l": 1.0, "kg": 0.73},
    "diesel": {"l": 1.0, "kg": 0.86},
    "lpg": {"kg": 1.0, "t": 0.001},
}


def unit_factor(energy_type: str, unit: str) -> float:
    """Multiply an amount in the canonical unit by this to express it in ``unit`` (unknown units: 1)."""
    return _UNIT_FACTOR.get(energy_type, {}).get(unit.strip().lower(), 1.0)


def is_vehicle(m: MeterSpec) -> bool:
    return m.end_use == "vehicle" or m.energy_type in ("gasoline", "diesel")


@dataclass(frozen=True)
class TimeGrid:
    """Steps [k0, k1) of STEP_S seconds; step k covers [k*STEP_S, (k+1)*STEP_S) UTC. Local fields at mid-step."""

    k: np.ndarray
    ordinal: np.ndarray  # local calendar day (proleptic Gregorian ordinal)
    doy: np.ndarray
    year: np.ndarray
    hour: np.ndarray  # local hour of the step's middle, fractional
    step_of_day: np.ndarray  # local index of the step within its day
    workday: np.ndarray
    holiday: np.ndarray
    term: np.ndarray

    def __len__(self) -> int:
        return len(self.k)


def time_grid(k0: int, k1: int, tz: str) -> TimeGrid:
    k = np.arange(k0, k1, dtype=np.int64)
    mid = (
        pd.to_datetime(k * STEP_S + STEP_S // 2, unit="s", utc=True)
        .tz_convert(ZoneInfo(tz))
        .tz_localize(None)
    )
    days = mid.values.astype("datetime64[D]").astype(np.int64)
    ordinal = days + dt.date(1970, 1, 1).toordinal()
    hour = np.asarray(mid.hour + mid.minute / 60.0 + mid.second / 3600.0, dtype=np.float64)
    workday, holiday, term = day_flags(ordinal)
    return TimeGrid(
        k=k,
        ordinal=ordinal,
        doy=np.asarray(mid.day_of_year, dtype=np.int64),
        year=np.asarray(mid.year, dtype=np.int64),
        hour=hour,
        step_of_day=np.floor(hour * 3600 / STEP_S).astype(np.int64),
        workday=workday,
        holiday=holiday,
        term=term,
    )


def step_of(ts: dt.datetime) -> int:
    """The step index whose start is ``ts`` (must be tz-aware and on the grid)."""
    return int(ts.timestamp()) // STEP_S


@lru_cache(maxsize=8)
def reference_grid(tz: str) -> TimeGrid:
    """Hourly-resolution stand-in for calibration: every fourth step of 2025."""
    z = ZoneInfo(tz)
    k0 = step_of(dt.datetime(2025, 1, 1, tzinfo=z))
    k1 = step_of(dt.datetime(2026, 1, 1, tzinfo=z))
    g = time_grid(k0, k1, tz)
    sel = slice(0, None, 4)
    return TimeGrid(*(getattr(g, f)[sel] for f in TimeGrid.__dataclass_fields__))


@dataclass
class Parts:
    """Relative power of one institution's energy use, split so sub-meters can take shares."""

    base: np.ndarray  # everything but HVAC
    hvac: np.ndarray

    @property
    def total(self) -> np.ndarray:
        return self.base + self.hvac


class InstitutionModel:
    """Consumption of every meter of one institution, in each meter's register units (unit and multiplier)."""

    def __init__(
        self,
        spec: InstitutionSpec,
        seed: int,
        tz: str,
        wasteful_share: float = 0.15,
        efficient_share: float = 0.15,
        retrofits: tuple[Retrofit, ...] = (),
    ):
        self.spec = spec
        self.retrofits = tuple(r for r in retrofits if r.institution_id == spec.id)
        self.seed = seed
        self.tz = tz
        self.character = profiles.character(seed, spec.id, wasteful_share, efficient_share)
        self.normals = weather.normals_for(spec.region_code, spec.climate_zone)
        self._scale_cache: dict[tuple[str, int], float] = {}
        self._t_key: tuple[int, int, int] | None = None
        self._t = np.zeros(0)
        self._plan = self._plan_meters()

    # -- relative shapes -------------------------------------------------------------------------------
    def _temperature(self, g: TimeGrid) -> np.ndarray:
        key = (int(g.k[0]), len(g), len(g.hour)) if len(g) else None
        if key is None or self._t_key != key:
            self._t = weather.temperature_c(self.seed, self.normals, g.ordinal, g.doy, g.hour)
            self._t_key = key
        return self._t

    def _parts(self, energy_type: str, g: TimeGrid) -> Parts:
        cat = self.spec.category if self.spec.category in profiles.BASE_SHARE else "other"
        ch = self.character
        occ = profiles.occupancy(cat, g.hour, g.workday, g.term)
        t = self._temperature(g)
        cool = np.clip(t - 24.0, 0.0, None) / 8.0
        heat = np.clip(14.0 - t, 0.0, None) / 10.0
        if ch.kind == "wasteful":
            hvac_on = np.maximum(occ, 0.5)  # air conditioning left running at night and at weekends
        else:
            hvac_on = np.maximum(occ, 0.05)
        if energy_type == "electricity":
            b = (
                profiles.WASTEFUL_BASE_SHARE
                if ch.kind == "wasteful"
                else profiles.BASE_SHARE[cat] * ch.base_share_factor
            )
            return Parts(base=b + (1.0 - b) * occ, hvac=1.0 * (cool + 0.8 * heat) * hvac_on)
        meal = profiles.meals(cat, g.hour, g.workday, g.term)
        if energy_type == "natural_gas":
            return Parts(base=0.6 * meal + 0.15 * occ + 0.05, hvac=0.8 * heat * hvac_on)
        if energy_type == "water":
            leak = {"wasteful": 0.2, "efficient": 0.01}.get(ch.kind, 0.03)
            return Parts(base=occ + leak + 0.3 * meal, hvac=np.zeros(len(g)))
        return Parts(base=0.2 + occ, hvac=heat * hvac_on)

    def _annual(self, energy_type: str, year: int) -> float:
        """The institution's annual amount in the canonical unit for ``year``."""
        area, occupants = self.spec.size(year)
        cat = self.spec.category if self.spec.category in profiles.BASE_SHARE else "other"
        level = self.character.level
        if energy_type == "electricity":
            return area * profiles.in_range(profiles.ELECTRICITY_KWH_M2[cat], level)
        if energy_type == "natural_gas":
            return area * profiles.in_range(profiles.GAS_M3_M2[cat], level)
        if energy_type == "water":
            return occupants * profiles.in_range(profiles.WATER_M3_PERSON[cat], level)
        if energy_type in ("gasoline", "diesel") or energy_type == "vehicle":
            return occupants * profiles.in_range(profiles.VEHICLE_L_PERSON[cat], level)
        return area * profiles.OTHER_PER_M2.get(energy_type, 1.0) * (0.6 + 0.8 * level)

    def _scale(self, energy_type: str, year: int) -> float:
        """Canonical units per (relative power × step), so a year of steps adds up to ``_annual``."""
        key = (energy_type, year)
        if key not in self._scale_cache:
            ref_key = (energy_type, 0)
            if ref_key not in self._scale_cache:  # the shape's yearly sum, from hourly samples of 2025
                self._scale_cache[ref_key] = (
                    self._parts(energy_type, reference_grid(self.tz)).total.sum() * 4.0
                )
            self._scale_cache[key] = self._annual(energy_type, year) / self._scale_cache[ref_key]
        return self._scale_cache[key]

    def _noise(self, name: str, g: TimeGrid, sd_step: float = 0.06, sd_day: float = 0.05) -> np.ndarray:
        k = rand.key(self.seed, "noise", self.spec.id, name)
        return np.exp(
            sd_step * rand.normal(k, g.k)
            + sd_day * rand.normal(k ^ 0xDA7, g.ordinal)
            - 0.5 * (sd_step**2 + sd_day**2)
        )

    # -- meters --------------------------------------------------------------------------------------------
    def _plan_meters(self) -> list[tuple[MeterSpec, str, str | None, float]]:
        """(meter, role, parent main id, share): role is main, sub or vehicle."""
        plan: list[tuple[MeterSpec, str, str | None, float]] = []
        by_type: dict[str, list[MeterSpec]] = {}
        vehicles = [m for m in self.spec.meters if is_vehicle(m)]
        for m in vehicles:
            plan.append((m, "vehicle", None, 1.0 / len(vehicles)))
        for m in self.spec.meters:
            if not is_vehicle(m):
                by_type.setdefault(m.energy_type, []).append(m)
        for _etype, ms in sorted(by_type.items()):
            mains = [m for m in ms if m.end_use == "main"] or ms
            weights = np.array(
                [0.6 + 0.8 * rand.scalar_uniform(rand.key(self.seed, "weight", m.id)) for m in mains]
            )
            weights = weights / weights.sum()
            main_ids = [m.id for m in mains]
            for m, w in zip(mains, weights, strict=True):
                plan.append((m, "main", None, float(w)))
            subs = [m for m in ms if m not in mains]
            groups: dict[tuple[str, str], list[MeterSpec]] = {}
            for m in subs:
                parent = m.parent_meter_id if m.parent_meter_id in main_ids else main_ids[0]
                groups.setdefault((parent, m.end_use), []).append(m)
            for (parent, _eu), members in groups.items():
                for m in members:
                    plan.append((m, "sub", parent, 1.0 / len(members)))
        return plan

    def meters(self) -> list[MeterSpec]:
        return [p[0] for p in self._plan]

    def consumption(self, g: TimeGrid) -> dict[str, np.ndarray]:
        """Per meter id: consumption in each step of ``g``, in the meter's unit divided by its multiplier."""
        out: dict[str, np.ndarray] = {}
        years = np.unique(g.year)
        parts_cache: dict[str, tuple[Parts, np.ndarray]] = {}

        def scaled_parts(etype: str) -> tuple[Parts, np.ndarray]:
            if etype not in parts_cache:
                p = self._parts(etype, g)
                scale = np.zeros(len(g))
                for y in years:
                    scale[g.year == y] = self._scale(etype, int(y))
                n = self._noise(etype, g)
                for r in self.retrofits:
                    n = n * r.factor(etype, g.ordinal)
                parts_cache[etype] = (Parts(p.base * scale * n, p.hvac * scale * n), scale)
            return parts_cache[etype]

        main_share = {m.id: share for m, role, _p, share in self._plan if role == "main"}
        for m, role, parent, share in self._plan:
            conv = unit_factor(m.energy_type, m.unit) / m.multiplier
            if role == "vehicle":
                amount = self._fillups(m, g, share)
            elif role == "main":
                amount = scaled_parts(m.energy_type)[0].total * share
            else:
                parts = scaled_parts(m.energy_type)[0]
                jitter = 1.0 + 0.03 * (
                    2.0 * rand.uniform(rand.key(self.seed, "subjitter", m.id), g.ordinal) - 1.0
                )
                pshare = main_share[parent]
                if m.energy_type == "electricity" and m.end_use == "hvac":
                    amount = profiles.SUB_SHARE_OF_HVAC * parts.hvac * pshare * share * jitter
                elif m.energy_type == "electricity":
                    amount = (
                        profiles.SUB_SHARE_OF_BASE.get(m.end_use, 0.1) * parts.base * pshare * share * jitter
                    )
                else:
                    amount = 0.5 * parts.total * pshare * share * jitter
            amount = amount * conv
            if m.max_rate_per_h:
                # a meter's rating bounds real consumption; stay clear of ingest's plausibility limit
                amount = np.minimum(
                    amount, PEAK_SHARE_OF_MAX_RATE * m.max_rate_per_h * STEP_S / 3600.0 / m.multiplier
                )
            out[m.id] = amount
        return out

    def _fillups(self, m: MeterSpec, g: TimeGrid, share: float) -> np.ndarray:
        """Vehicle fuel as fill-ups of 30–60 L on working days, at a random quarter-hour between 08:00 and 17:00."""
        out = np.zeros(len(g))
        k = rand.key(self.seed, "fillup", m.id)
        for y in np.unique(g.year):
            sel = g.year == y
            daily_l = self._annual("vehicle", int(y)) * share / 250.0  # about 250 working days a year
            p = min(0.9, daily_l / 45.0)
            event = (rand.uniform(k, g.ordinal[sel]) < p) & g.workday[sel]
            when = 32 + np.floor(rand.uniform(k ^ 1, g.ordinal[sel]) * 36).astype(np.int64)
            litres = 30.0 + 30.0 * rand.uniform(k ^ 2, g.ordinal[sel])
            out[sel] = np.where(event & (g.step_of_day[sel] == when), litres, 0.0)
        return out
