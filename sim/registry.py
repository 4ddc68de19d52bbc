"""Institutions and meters to simulate, read from the registry tables (institution, institution_year, meter)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from store.db import connect


@dataclass(frozen=True)
class MeterSpec:
    id: str
    institution_id: str
    energy_type: str
    unit: str
    register: str  # cumulative | interval
    end_use: str
    parent_meter_id: str | None = None
    multiplier: float = 1.0
    rollover: float | None = None
    max_rate_per_h: float | None = None
    installed_at: dt.datetime | None = None
    retired_at: dt.datetime | None = None


@dataclass(frozen=True)
class InstitutionSpec:
    id: str
    category: str
    region_code: str
    climate_zone: str
    # year -> (floor_area_m2, occupants)
    years: dict[int, tuple[float, int]]
    meters: tuple[MeterSpec, ...] = field(default_factory=tuple)

    def size(self, year: int) -> tuple[float, int]:
        """The year's floor area and occupants; the nearest recorded year when that one is missing."""
        if year in self.years:
            return self.years[year]
        if not self.years:
            raise ValueError(f"institution {self.id} has no institution_year rows")
        nearest = min(self.years, key=lambda y: (abs(y - year), y))
        return self.years[nearest]


def load_registry(conn_url: str, institution_ids: list[str] | None = None) -> list[InstitutionSpec]:
    """All institutions that have at least one meter and one institution_year row, sorted by id."""
    with connect(conn_url) as conn:
        inst_rows = conn.execute(
            "SELECT id, category, region_code, climate_zone FROM institution ORDER BY id"
        ).fetchall()
        year_rows = conn.execute(
            "SELECT institution_id, year, floor_area_m2, occupants FROM institution_year"
        ).fetchall()
        meter_rows = conn.execute(
            """SELECT id, institution_id, energy_type, unit, register, end_use, parent_meter_id, multiplier,
                      rollover, max_rate_per_h, installed_at, retired_at
               FROM meter ORDER BY id"""
        ).fetchall()
    years: dict[str, dict[int, tuple[float, int]]] = {}
    for iid, year, area, occ in year_rows:
        years.setdefault(iid, {})[int(year)] = (float(area), int(occ))
    meters: dict[str, list[MeterSpec]] = {}
    for r in meter_rows:
        meters.setdefault(r[1], []).append(
            MeterSpec(
                id=r[0],
                institution_id=r[1],
                energy_type=r[2],
                unit=r[3],
                register=r[4],
                end_use=r[5],
                parent_meter_id=r[6],
                multiplier=float(r[7]),
                rollover=r[8],
                max_rate_per_h=r[9],
                installed_at=r[10],
                retired_at=r[11],
            )
        )
    wanted = set(institution_ids) if institution_ids else None
    out = []
    for iid, category, region, zone in inst_rows:
        if wanted is not None and iid not in wanted:
            continue
        if iid not in meters or iid not in years:
            continue
        out.append(InstitutionSpec(iid, category, region, zone, years[iid], tuple(meters[iid])))
    return out
