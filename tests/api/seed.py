"""Seed data for the API tests: two cities (Nanjing with a county, Suzhou), meters, usage rollups and
scoring runs with results whose `detail` is a full `scoring.model.InstitutionResult`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date

import psycopg

from scoring.model import (
    BlockResult,
    EnergyLine,
    Indicator,
    Inputs,
    InstitutionResult,
    MeterQualityInfo,
    MethodologyRef,
    PeerGroupInfo,
    Ranks,
    Veto,
    YearInputs,
)

KGCE_PER_KWH = 0.1229


@dataclass(frozen=True)
class Inst:
    id: str
    name: str
    category: str
    region: str
    city: str
    kwh_per_month: float


INSTITUTIONS = [
    Inst("NJ-GOV-001", "南京市机关事务管理局", "government", "320100", "320100", 10_000.0),
    Inst("NJ-SCH-002", "玄武区第一中学", "school", "320102", "320100", 6_000.0),
    Inst("SZ-HOS-001", "苏州市立医院", "hospital", "320500", "320500", 40_000.0),
    Inst("SZ-GOV-002", "苏州市机关事务管理局", "government", "320500", "320500", 9_000.0),
]
BY_ID = {i.id: i for i in INSTITUTIONS}
# A fixed points table so ranks are known: NJ-GOV-001 first, SZ-GOV-002 vetoed.
POINTS = {"NJ-GOV-001": 91.25, "SZ-HOS-001": 88.5, "NJ-SCH-002": 80.0, "SZ-GOV-002": 70.0}


def monthly_kwh(inst: Inst, year: int, month: int) -> float:
    """Electricity per month: a small seasonal shape; the previous year used 5% more."""
    base = inst.kwh_per_month * (1.0 + 0.2 * (month in (1, 7, 8, 12)))
    return round(base * (1.05 if year == 2025 else 1.0), 3)


def make_result(inst: Inst, year: int, *, rank: int, city_rank: int, city_size: int) -> InstitutionResult:
    kwh = sum(monthly_kwh(inst, year, m) for m in range(1, 13))
    kgce = kwh * KGCE_PER_KWH
    area = 10_000.0

    def year_inputs(y: int) -> YearInputs:
        q = sum(monthly_kwh(inst, y, m) for m in range(1, 13))
        e = q * KGCE_PER_KWH
        return YearInputs(
            year=y,
            floor_area_m2=area,
            occupants=200,
            energy=[
                EnergyLine(
                    energy_type="electricity",
                    vehicle=False,
                    quantity=q,
                    unit="kWh",
                    quantity_in_coef_unit=q,
                    coef_unit="kWh",
                    kgce_per_unit=KGCE_PER_KWH,
                    coef_basis="当量值",
                    coef_source="GB/T 2589-2020",
                    energy_kgce=e,
                    kgco2_per_unit=0.5703,
                    carbon_source="test",
                    carbon_kgco2=q * 0.5703,
                    meter_ids=[f"{inst.id}-E1"],
                )
            ],
            water_m3=1000.0,
            total_energy_kgce=e,
            vehicle_energy_kgce=0.0,
            building_energy_kgce=e,
            building_carbon_kgco2=q * 0.5703,
            has_data=True,
        )

    points = POINTS[inst.id]
    vetoes = [Veto(code="star_item_zero", reason="★ 节能管理制度 0 分")] if inst.id == "SZ-GOV-002" else []
    eligible = points >= 85 and not vetoes
    return InstitutionResult(
        institution_id=inst.id,
        name=inst.name,
        region_code=inst.region,
        city_code=inst.city,
        category=inst.category,
        sub_kind=None,
        admin_level="city",
        climate_zone="hot_summer_cold_winter",
        year=year,
        baseline_year=2020,
        baseline_year_source="methodology",
        methodology=MethodologyRef(name="test-method", version="1", hash="ab" * 32),
        inputs=Inputs(
            current=year_inputs(year),
            baseline=None,
            previous=year_inputs(year - 1),
            meters=[
                MeterQualityInfo(
                    meter_id=f"{inst.id}-E1",
                    energy_type="electricity",
                    end_use="main",
                    counted=True,
                    coverage=0.987,
                    longest_gap_hours=5,
                    resets=0,
                    rollovers=0,
                    quarantined=1,
                    conflicts=0,
                    rejects=2,
                )
            ],
        ),
        indicators=[
            Indicator(
                code="energy_per_area",
                label="单位建筑面积能耗",
                value=round(kgce / area, 4),
                unit="kgce/m²",
                formula=f"{kgce:.1f} kgce / {area:.0f} m²",
            )
        ],
        peer_group=PeerGroupInfo(
            key=f"{inst.category}/hscw",
            label=f"{inst.category} 夏热冬冷",
            wanted=inst.category,
            size=2,
            fallback=[],
        ),
        blocks=[
            BlockResult(
                code="energy_per_area",
                label="单位建筑面积能耗",
                kind="measured",
                max_points=20,
                points=points / 5,
                method="peer_percentile",
                indicator="energy_per_area",
                reason="同类组内百分位",
            )
        ],
        base_points=points,
        bonus_points=0.0,
        total_points=points,
        scored=True,
        missing_inputs=[],
        vetoes=vetoes,
        threshold=85.0,
        eligible=eligible,
        ineligible_reasons=[] if eligible else ["未达85分或有否决项"],
        leader=False,
        leader_reason="未启用",
        ranks=Ranks(
            peer=1,
            peer_size=2,
            city=city_rank,
            city_size=city_size,
            province=rank,
            province_size=len(INSTITUTIONS),
            tie_break="total_points",
        ),
    )


def insert_run(
    conn: psycopg.Connection,
    *,
    year: int,
    region_code: str | None,
    insts: list[Inst],
    created_by: str = "seed",
) -> int:
    run_id = conn.execute(
        "INSERT INTO scoring_run (year, region_code, methodology_name, methodology_version, methodology_hash,"
        " methodology_text, results_hash, created_by) VALUES (%s, %s, 'test-method', '1', %s, '# test', 'r', %s)"
        " RETURNING id",
        (year, region_code, "ab" * 32, created_by),
    ).fetchone()[0]
    ordered = sorted(insts, key=lambda i: -POINTS[i.id])
    city_counts: dict[str, int] = {}
    for i in ordered:
        city_counts[i.city] = city_counts.get(i.city, 0) + 1
    city_seen: dict[str, int] = {}
    for rank, inst in enumerate(ordered, start=1):
        city_seen[inst.city] = city_seen.get(inst.city, 0) + 1
        res = make_result(
            inst, year, rank=rank, city_rank=city_seen[inst.city], city_size=city_counts[inst.city]
        )
        conn.execute(
            "INSERT INTO scoring_result (run_id, institution_id, region_code, category, peer_group, total_points,"
            " eligible, leader, rank_peer, rank_city, rank_province, vetoes, detail)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                run_id,
                inst.id,
                inst.region,
                inst.category,
                res.peer_group.key,
                res.total_points,
                res.eligible,
                res.leader,
                res.ranks.peer,
                res.ranks.city,
                res.ranks.province,
                json.dumps([v.model_dump() for v in res.vetoes], ensure_ascii=False),
                res.model_dump_json(),
            ),
        )
    return run_id


def seed(conn: psycopg.Connection) -> dict:
    conn.execute(
        "INSERT INTO region (code, name, level, parent_code) VALUES ('320102', '玄武区', 'county', '320100')"
    )
    for i in INSTITUTIONS:
        conn.execute(
            "INSERT INTO institution (id, name, category, admin_level, region_code, climate_zone, baseline_year)"
            " VALUES (%s, %s, %s, 'city', %s, 'hot_summer_cold_winter', 2020)",
            (i.id, i.name, i.category, i.region),
        )
        for y in (2025, 2026):
            conn.execute("INSERT INTO institution_year VALUES (%s, %s, 10000, 200)", (i.id, y))
        for suffix, et, unit in (("E1", "electricity", "kWh"), ("W1", "water", "m3")):
            conn.execute(
                "INSERT INTO meter (id, institution_id, energy_type, unit, register, end_use, installed_at)"
                " VALUES (%s, %s, %s, %s, 'cumulative', 'main', '2024-01-01T00:00+08:00')",
                (f"{i.id}-{suffix}", i.id, et, unit),
            )
        for y in (2025, 2026):
            for m in range(1, 13):
                conn.execute(
                    "INSERT INTO usage_monthly VALUES (%s, %s, %s)",
                    (f"{i.id}-E1", date(y, m, 1), monthly_kwh(i, y, m)),
                )
                conn.execute(
                    "INSERT INTO usage_monthly VALUES (%s, %s, %s)", (f"{i.id}-W1", date(y, m, 1), 80.0)
                )
        for d in range(1, 32):
            conn.execute(
                "INSERT INTO usage_daily VALUES (%s, %s, %s)", (f"{i.id}-E1", date(2026, 1, d), 100.0 + d)
            )
        for h in range(48):
            conn.execute(
                "INSERT INTO usage_hourly VALUES (%s, timestamptz '2026-01-01T00:00+08:00' + %s * interval '1 hour', %s)",
                (f"{i.id}-E1", h, 4.0 + h % 24),
            )
    runs = {
        "suzhou_2026": insert_run(
            conn, year=2026, region_code="320500", insts=[BY_ID["SZ-HOS-001"], BY_ID["SZ-GOV-002"]]
        ),
        "province_2025": insert_run(conn, year=2025, region_code=None, insts=INSTITUTIONS),
        "province_2026": insert_run(conn, year=2026, region_code=None, insts=INSTITUTIONS),
    }
    return runs
