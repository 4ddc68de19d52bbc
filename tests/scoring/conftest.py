"""The worked example province, as pure-core inputs and as database rows.

Seven institutions, scored for 2026 against the methodology's default baseline 2020:

| id | category (peer group)        | city   | area m² | people | 2020 elec kWh / gas m³ / petrol L / water m³ | 2026 (ratio)      |
|----|------------------------------|--------|---------|--------|----------------------------------------------|-------------------|
| G1 | government, city level (G)   | 320100 | 10,000  | 200    | 1,000,000 / 20,000 / 10,000 / 4,000          | × 0.9             |
| G2 | government, city level (G)   | 320100 | 8,000   | 100    | 1,000,000 / 10,000 / 5,000 / 2,000           | × 0.97 (fails)    |
| G3 | government, city level (G)   | 320200 | 12,000  | 300    | 1,200,000 / 30,000 / 10,000 / 5,000          | × 0.9             |
| S1 | primary school (S)           | 320100 | 20,000  | 1,000  | 1,500,000 / 40,000 / — / 30,000              | × 0.9             |
| S2 | primary school (S)           | 320200 | 15,000  | 800    | 1,000,000 / 20,000 / 2,000 / 20,000          | × 0.9             |
| S3 | primary school (S)           | 320200 | 10,000  | 500    | 1,600,000 / 30,000 / — / 15,000              | × 0.9             |
| X1 | government, city level       | 320100 | (no 2026 registry row)                                                  |                   |

All are in 夏热冬冷 (hot_summer_cold_winter). Every institution also has an HVAC electricity sub-meter
(its use is inside the main meter and must never be added). G1 also has 2025 data (2020 × 0.95).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from scoring.inputs import AssessedEntry, InstitutionInput, MeterQuality, MeterUse
from scoring.methodology import parse_methodology

YEAR = 2026
ZONE = "hot_summer_cold_winter"

FULL = {
    "mgmt_organisation": 5,
    "mgmt_statistics": 5,
    "mgmt_rules": 5,
    "retrofit_envelope_hvac": 6,
    "retrofit_renewables": 4,
    "green_purchasing": 5,
    "water_saving": 5,
}  # 35
STD31 = {**FULL, "mgmt_rules": 4, "retrofit_renewables": 3, "water_saving": 3}  # 35 − 1 − 1 − 2 = 31
NO_STATS = {k: v for k, v in FULL.items() if k != "mgmt_statistics"}  # 30, ★ item not assessed

# usage per year: (electricity kWh, natural gas m³, gasoline L or None, water m³)
EXAMPLE: dict[str, dict] = {
    "G1": dict(
        cat="government",
        sub=None,
        region="320100",
        area=10_000,
        occ=200,
        use={
            2020: (1_000_000, 20_000, 10_000, 4_000),
            2025: (950_000, 19_000, 9_500, 3_800),
            2026: (900_000, 18_000, 9_000, 3_600),
        },
        coverage=1.0,
        assessed={**FULL, "bonus_innovation": 5, "bonus_honours": 5},
    ),
    "G2": dict(
        cat="government",
        sub=None,
        region="320100",
        area=8_000,
        occ=100,
        use={2020: (1_000_000, 10_000, 5_000, 2_000), 2026: (970_000, 9_700, 4_850, 1_940)},
        coverage=1.0,
        assessed={**STD31, "bonus_innovation": 3},
    ),
    "G3": dict(
        cat="government",
        sub=None,
        region="320200",
        area=12_000,
        occ=300,
        use={2020: (1_200_000, 30_000, 10_000, 5_000), 2026: (1_080_000, 27_000, 9_000, 4_500)},
        coverage=0.95,
        assessed={**FULL, "bonus_innovation": 5},
    ),
    "S1": dict(
        cat="school",
        sub="primary",
        region="320100",
        area=20_000,
        occ=1_000,
        use={2020: (1_500_000, 40_000, None, 30_000), 2026: (1_350_000, 36_000, None, 27_000)},
        coverage=1.0,
        assessed=dict(NO_STATS),
    ),
    "S2": dict(
        cat="school",
        sub="primary",
        region="320200",
        area=15_000,
        occ=800,
        use={2020: (1_000_000, 20_000, 2_000, 20_000), 2026: (900_000, 18_000, 1_800, 18_000)},
        coverage=1.0,
        assessed=dict(STD31),
    ),
    "S3": dict(
        cat="school",
        sub="primary",
        region="320200",
        area=10_000,
        occ=500,
        use={2020: (1_600_000, 30_000, None, 15_000), 2026: (1_440_000, 27_000, None, 13_500)},
        coverage=1.0,
        assessed={**STD31, "bonus_innovation": 3},
    ),
    "X1": dict(
        cat="government",
        sub=None,
        region="320100",
        area=9_000,
        occ=150,
        use={2020: (800_000, 10_000, 3_000, 3_000), 2026: (720_000, 9_000, 2_700, 2_700)},
        coverage=1.0,
        assessed={},
        no_registry_years=(2026,),
    ),
}

METERS = [  # (suffix, energy_type, unit, end_use, index into the use tuple)
    ("e", "electricity", "kWh", "main", 0),
    ("g", "natural_gas", "m3", "main", 1),
    ("v", "gasoline", "L", "vehicle", 2),
    ("w", "water", "m3", "main", 3),
]
ENTERED_AT = "2027-01-15T02:00:00+00:00"


def registry_years(spec: dict) -> list[int]:
    return [y for y in spec["use"] if y not in spec.get("no_registry_years", ())]


def build_example(
    overrides: dict[str, dict] | None = None, extra: dict[str, dict] | None = None
) -> list[InstitutionInput]:
    """The example as pure-core inputs; `overrides` replaces keys of an institution's spec, `extra` adds
    institutions (specs shaped like EXAMPLE's, optionally with a `zone`)."""
    out = []
    for iid, base in {**EXAMPLE, **(extra or {})}.items():
        spec = {**base, **(overrides or {}).get(iid, {})}
        inst = InstitutionInput(
            id=iid,
            name=f"示例单位 {iid}",
            region_code=spec["region"],
            city_code=spec["region"],
            category=spec["cat"],
            sub_kind=spec["sub"],
            admin_level="city",
            climate_zone=spec.get("zone", ZONE),
            baseline_year=None,
            years={y: (float(spec["area"]), spec["occ"]) for y in registry_years(spec)},
        )
        for suffix, et, unit, end_use, idx in METERS:
            by_year = {y: float(u[idx]) for y, u in spec["use"].items() if u[idx] is not None}
            if not by_year and et == "gasoline":
                continue
            mid = f"{iid}-{suffix}"
            inst.meters.append(MeterUse(mid, et, end_use, True, unit, by_year))
            inst.quality[mid] = MeterQuality(
                mid,
                coverage=spec["coverage"],
                longest_gap_hours=0,
                resets=0,
                rollovers=0,
                quarantined=0,
                conflicts=0,
                rejects=0,
            )
            # earlier years with use: read in full (the fixture's meters were installed in 2019)
            for y in by_year:
                if y != YEAR:
                    inst.quality_by_year.setdefault(y, {})[mid] = MeterQuality(mid, coverage=1.0)
        # 分项 sub-meter: 40% of electricity, already inside the main meter
        inst.meters.append(
            MeterUse(
                f"{iid}-hvac",
                "electricity",
                "hvac",
                False,
                "kWh",
                {y: u[0] * 0.4 for y, u in spec["use"].items()},
            )
        )
        inst.assessed = {
            k: AssessedEntry(float(v), f"证明材料 {k}", "assessor-1", ENTERED_AT)
            for k, v in spec["assessed"].items()
        }
        out.append(inst)
    return out


@pytest.fixture
def example_inputs() -> list[InstitutionInput]:
    return build_example()


# --- the same example as database rows ------------------------------------------------------------


def insert_example(
    conn: psycopg.Connection, *, with_readings: bool = True, only: set[str] | None = None
) -> None:
    """Registry, monthly usage (each year's use in 12 equal months) and, for data quality, one reading per
    hour of every year with use on every counted meter (G3's meters miss 5% of the 2026 hours: coverage 0.95)."""
    for iid, spec in EXAMPLE.items():
        if only is not None and iid not in only:
            continue
        conn.execute(
            """INSERT INTO institution (id, name, category, sub_kind, admin_level, region_code, climate_zone)
               VALUES (%s, %s, %s, %s, 'city', %s, %s)""",
            (iid, f"示例单位 {iid}", spec["cat"], spec["sub"], spec["region"], ZONE),
        )
        for y in registry_years(spec):
            conn.execute(
                "INSERT INTO institution_year VALUES (%s, %s, %s, %s)", (iid, y, spec["area"], spec["occ"])
            )
        meter_ids = []
        for suffix, et, unit, end_use, idx in [*METERS, ("hvac", "electricity", "kWh", "hvac", 0)]:
            uses = {y: u[idx] for y, u in spec["use"].items() if u[idx] is not None}
            if not uses:
                continue
            mid = f"{iid}-{suffix}"
            conn.execute(
                """INSERT INTO meter (id, institution_id, energy_type, unit, register, end_use, parent_meter_id,
                       installed_at) VALUES (%s, %s, %s, %s, 'interval', %s, %s, '2019-01-01T00:00:00+08:00')""",
                (mid, iid, et, unit, end_use, f"{iid}-e" if end_use == "hvac" else None),
            )
            factor = 0.4 if end_use == "hvac" else 1.0
            for y, total in uses.items():
                for month in range(1, 13):
                    conn.execute(
                        "INSERT INTO usage_monthly VALUES (%s, %s, %s)",
                        (mid, f"{y}-{month:02d}-01", total * factor / 12),
                    )
            if end_use != "hvac":
                meter_ids.append(mid)
        if with_readings:
            # hours of each local year ending at ts; G3 keeps 95% of 2026's (every 20th hour missing)
            for y in sorted(spec["use"]):
                skip = (
                    "AND (extract(epoch FROM ts)::bigint / 3600) %% 20 <> 0"
                    if spec["coverage"] < 1 and y == YEAR
                    else ""
                )
                ids = [
                    mid
                    for mid in meter_ids
                    if spec["use"][y][[s[0] for s in METERS].index(mid.split("-")[-1])] is not None
                ]
                conn.execute(
                    f"""INSERT INTO reading (meter_id, ts, value)
                        SELECT m, ts, 1.0 FROM unnest(%s::text[]) m,
                          generate_series(%s::timestamptz, %s::timestamptz, '1 hour') ts
                        WHERE TRUE {skip}""",
                    (ids, f"{y}-01-01T01:00:00+08:00", f"{y + 1}-01-01T00:00:00+08:00"),
                )
        for code, pts in spec["assessed"].items():
            conn.execute(
                "INSERT INTO assessed_item (institution_id, year, item_code, points, evidence, entered_by, entered_at)"
                " VALUES (%s, %s, %s, %s, %s, 'assessor-1', %s)",
                (
                    iid,
                    YEAR,
                    code,
                    pts,
                    f"证明材料 {code}",
                    datetime.fromisoformat(ENTERED_AT).astimezone(UTC),
                ),
            )
    conn.commit()


@pytest.fixture
def example_db(db_url) -> str:
    with psycopg.connect(db_url) as conn:
        insert_example(conn)
    return db_url


# --- the worked example's methodology ---------------------------------------------------------------

QUOTA = """
[[quotas]]
peer_group = "school:primary:hot_summer_cold_winter"
indicator = "area_energy_kgce_m2"
advanced = 8.0
constraint = 14.0
source = "worked-example quota"
"""


# jiangsu-2026 1.0.0 as first shipped (before plan periods and two-year targets): the worked example's rules,
# kept here so its hand computation stays checkable while the shipped methodologies move on.
WORKED_BASE = Path(__file__).parent / "data" / "worked-base-2026.toml"


def worked_methodology():
    """jiangsu-2026 1.0.0 with peer groups of 3 and a per-area quota for primary schools (see test_worked_example)."""
    text = WORKED_BASE.read_text(encoding="utf-8")
    assert "min_size = 5" in text
    return parse_methodology(text.replace("min_size = 5", "min_size = 3") + QUOTA, "worked-2026.toml")


@pytest.fixture
def worked():
    return worked_methodology()


@pytest.fixture
def worked_file(tmp_path):
    p = tmp_path / "worked-2026.toml"
    p.write_text(worked_methodology().text, encoding="utf-8")
    return p


@pytest.fixture
def make_example():
    """build_example, for tests that change the example (overrides per institution)."""
    return build_example


@pytest.fixture
def example_spec() -> dict[str, dict]:
    return EXAMPLE
