"""A small registry for the simulator's tests: specs in memory, and the same rows inserted with SQL."""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest

from sim.registry import InstitutionSpec, MeterSpec

INSTALLED = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)

# id, category, region, zone, floor area m², occupants
INSTITUTIONS = [
    ("gov-nj-1", "government", "320100", "hot_summer_cold_winter", 12000.0, 300),
    ("gov-xz-1", "government", "320300", "cold", 9000.0, 220),
    ("sch-sz-1", "school", "320500", "hot_summer_cold_winter", 30000.0, 400),
    ("hos-wx-1", "hospital", "320200", "hot_summer_cold_winter", 40000.0, 1500),
]


def meters_for(iid: str) -> list[MeterSpec]:
    main = f"{iid}-el"
    return [
        MeterSpec(
            main,
            iid,
            "electricity",
            "kWh",
            "cumulative",
            "main",
            max_rate_per_h=20000.0,
            installed_at=INSTALLED,
        ),
        MeterSpec(
            f"{iid}-el-hvac",
            iid,
            "electricity",
            "kWh",
            "cumulative",
            "hvac",
            parent_meter_id=main,
            max_rate_per_h=10000.0,
            installed_at=INSTALLED,
        ),
        MeterSpec(
            f"{iid}-el-light",
            iid,
            "electricity",
            "kWh",
            "cumulative",
            "lighting_sockets",
            parent_meter_id=main,
            max_rate_per_h=10000.0,
            installed_at=INSTALLED,
        ),
        MeterSpec(
            f"{iid}-water",
            iid,
            "water",
            "m3",
            "cumulative",
            "main",
            max_rate_per_h=500.0,
            installed_at=INSTALLED,
        ),
        MeterSpec(
            f"{iid}-gas",
            iid,
            "natural_gas",
            "m3",
            "cumulative",
            "main",
            max_rate_per_h=2000.0,
            installed_at=INSTALLED,
        ),
        MeterSpec(f"{iid}-fuel", iid, "gasoline", "L", "interval", "vehicle", installed_at=INSTALLED),
    ]


def registry_specs() -> list[InstitutionSpec]:
    return [
        InstitutionSpec(
            iid, cat, region, zone, {y: (area, occ) for y in range(2024, 2028)}, tuple(meters_for(iid))
        )
        for iid, cat, region, zone, area, occ in INSTITUTIONS
    ]


def offices(n: int) -> list[InstitutionSpec]:
    """``n`` similar offices with one main electricity meter each (for shares across institutions)."""
    out = []
    for i in range(n):
        iid = f"office-{i:03d}"
        m = MeterSpec(f"{iid}-el", iid, "electricity", "kWh", "cumulative", "main", installed_at=INSTALLED)
        out.append(
            InstitutionSpec(
                iid,
                "government",
                "320100",
                "hot_summer_cold_winter",
                {y: (10000.0, 250) for y in range(2024, 2028)},
                (m,),
            )
        )
    return out


def insert_registry(db_url: str, specs: list[InstitutionSpec]) -> None:
    with psycopg.connect(db_url) as conn:
        for s in specs:
            conn.execute(
                "INSERT INTO institution (id, name, category, admin_level, region_code, climate_zone)"
                " VALUES (%s, %s, %s, 'city', %s, %s)",
                (s.id, s.id, s.category, s.region_code, s.climate_zone),
            )
            for year, (area, occ) in s.years.items():
                conn.execute(
                    "INSERT INTO institution_year (institution_id, year, floor_area_m2, occupants) VALUES (%s, %s, %s, %s)",
                    (s.id, year, area, occ),
                )
            for m in sorted(s.meters, key=lambda m: m.parent_meter_id is not None):
                conn.execute(
                    """INSERT INTO meter (id, institution_id, energy_type, unit, register, end_use, parent_meter_id,
                                          multiplier, rollover, max_rate_per_h, installed_at, retired_at)
                       VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
                    (
                        m.id,
                        s.id,
                        m.energy_type,
                        m.unit,
                        m.register,
                        m.end_use,
                        m.parent_meter_id,
                        m.multiplier,
                        m.rollover,
                        m.max_rate_per_h,
                        m.installed_at,
                        m.retired_at,
                    ),
                )


@pytest.fixture
def sim_db_url(db_url) -> str:
    """A migrated database holding the test registry."""
    insert_registry(db_url, registry_specs())
    return db_url
