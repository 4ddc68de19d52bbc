"""全省概览 Province overview: ranking, eligible count, energy and intensity by city, trend and target."""

from __future__ import annotations

from dashboards.model import (
    KGCE_M2,
    KGCE_PERSON,
    REGION_VAR,
    TCE,
    axis_override,
    custom_var,
    dashboard,
    panel,
    query_var,
    unit_override,
)
from dashboards.sql import (
    IN_TOTALS,
    INSTITUTION_YEAR,
    MONTH_SPANS,
    PROVINCE_RUN,
    TOTALS_SIGN,
    kgce_values,
    local_date_as_time,
    range_usage,
    region_chosen,
    span_usage,
)
from store.regions import city_code_sql

UID = "jieneng-province"

# The latest province-wide run of the year (a city-only run ranks part of the province and must not
# replace it). The year variable is empty until the first run: nullif keeps the query valid (no rows).
LATEST_RUN = (
    f"(SELECT id FROM scoring_run WHERE year = nullif('$year', '')::integer AND {PROVINCE_RUN} "
    "ORDER BY created_at DESC, id DESC LIMIT 1)"
)
NO_RUN = "暂无评分 No scoring run yet"

RANKING = f"""
SELECT r.rank_province AS "排名 Rank", i.name AS "单位 Institution", rg.name AS "城市 City",
       r.peer_group AS "组别 Peer group", r.total_points AS "得分 Points",
       r.eligible AS "达标 Eligible", r.leader AS "领跑者 Leader", r.rank_peer AS "组内排名 Peer rank"
FROM scoring_result r
JOIN institution i ON i.id = r.institution_id
JOIN region ir ON ir.code = r.region_code
JOIN region rg ON rg.code = {city_code_sql("ir")}
WHERE r.run_id = {LATEST_RUN} AND {region_chosen("r.region_code")}
ORDER BY r.rank_province NULLS LAST, i.name
"""

ELIGIBLE = f"""
SELECT count(*) FILTER (WHERE r.eligible) AS "达标单位 Eligible", count(r.run_id) AS "参评单位 Assessed"
FROM (SELECT {LATEST_RUN} AS id) run
LEFT JOIN scoring_result r ON r.run_id = run.id AND {region_chosen("r.region_code")}
WHERE run.id IS NOT NULL
GROUP BY run.id
"""

# The meters scoring sums, with its signs (store/totals.py): sub-meters (分项) would count their energy twice,
# excluded floor area leaves the totals. Counties are summed into their city (store/regions.py). Per-area and
# per-capita divide by the floor area and headcount of the institutions that have data in the range,
# so a newly registered institution without meters does not dilute its city's figures.
CITY_USE = f"""
WITH use AS (
  SELECT m.institution_id,
         sum(d.consumption * {TOTALS_SIGN} * kgce.kgce_per_unit) AS kgce,
         sum(d.consumption * {TOTALS_SIGN} * kgce.kgce_per_unit) FILTER (WHERE m.end_use <> 'vehicle') AS kgce_building
  FROM meter m
  {range_usage("m.id")}
  JOIN institution i ON i.id = m.institution_id
  JOIN {kgce_values()} ON kgce.energy_type = m.energy_type AND kgce.unit = m.unit
  WHERE {IN_TOTALS} AND {region_chosen("i.region_code")}
  GROUP BY m.institution_id
), city AS (
  SELECT {city_code_sql("ir")} AS city_code, sum(use.kgce) AS kgce,
         sum(use.kgce_building) / nullif(sum(y.floor_area_m2) FILTER (WHERE use.kgce_building IS NOT NULL), 0)
           AS kgce_m2,
         sum(use.kgce) / nullif(sum(y.occupants), 0) AS kgce_person
  FROM use JOIN institution i ON i.id = use.institution_id JOIN region ir ON ir.code = i.region_code {INSTITUTION_YEAR}
  GROUP BY 1
)"""

BY_CITY_ENERGY = f"""
{CITY_USE}
SELECT rg.name AS "城市 City", city.kgce / 1000.0 AS "综合能耗 Energy tce"
FROM city JOIN region rg ON rg.code = city.city_code
ORDER BY rg.code
"""

BY_CITY_INTENSITY = f"""
{CITY_USE}
SELECT rg.name AS "城市 City", city.kgce_m2 AS "单位面积能耗 kgce/m²", city.kgce_person AS "人均能耗 kgce/person"
FROM city JOIN region rg ON rg.code = city.city_code
ORDER BY rg.code
"""

SPAN_METERS = (
    "SELECT m.id FROM meter m JOIN institution i ON i.id = m.institution_id "
    f"WHERE {IN_TOTALS} AND m.end_use <> 'vehicle' AND {region_chosen('i.region_code')}"
)

# The target's baseline is the baseline year's building energy per m² as the latest province-wide run scored
# it: each institution's baseline year (its own, or the methodology's) under scoring's source rule (meter data
# only when they cover that year, else the statistics return, reported_usage), read from the run's inputs
# (scoring_result.baseline_*: the detail's inputs.baseline as the run stored it) rather than recomputed here,
# so the line and the ranking cannot disagree. It is spread over the days each point covers (a month still
# running: its complete days). Each point divides by the floor area of the institutions with data in its span
# only, so one registered without meters does not dilute it.
TREND = f"""
WITH {MONTH_SPANS}, use_by_institution AS (
  SELECT sp.month, sp.years_back, m.institution_id, sum(u.consumption * {TOTALS_SIGN} * kgce.kgce_per_unit) AS kgce
  FROM spans sp {span_usage(SPAN_METERS)}
  JOIN meter m ON m.id = u.meter_id
  JOIN institution i ON i.id = m.institution_id
  JOIN {kgce_values()} ON kgce.energy_type = m.energy_type AND kgce.unit = m.unit
  WHERE {IN_TOTALS} AND m.end_use <> 'vehicle' AND {region_chosen("i.region_code")}
  GROUP BY 1, 2, 3
), use AS (
  SELECT ui.month, ui.years_back, sum(ui.kgce) AS kgce, sum(y.floor_area_m2) AS area_m2
  FROM use_by_institution ui JOIN institution i ON i.id = ui.institution_id {INSTITUTION_YEAR}
  GROUP BY 1, 2
), base AS (
  SELECT sum(r.baseline_building_energy_kgce) / nullif(sum(r.baseline_floor_area_m2), 0) AS kgce_m2_year
  FROM scoring_result r
  WHERE r.run_id = {LATEST_RUN} AND {region_chosen("r.region_code")}
    AND r.baseline_building_energy_kgce IS NOT NULL AND r.baseline_floor_area_m2 > 0
)
SELECT {local_date_as_time("mo.month")} AS "time",
       cur.kgce / nullif(cur.area_m2, 0) AS "本期 This period kgce/m²",
       prev.kgce / nullif(prev.area_m2, 0) AS "上年同期 Last year kgce/m²",
       base.kgce_m2_year * (mo.until - mo.month)
         / (make_date(extract(year from mo.month)::integer + 1, 1, 1) - make_date(extract(year from mo.month)::integer, 1, 1))::float8
         * (1 - '$target_pct'::float8 / 100) AS "五年目标 Target kgce/m²"
FROM months mo CROSS JOIN base
JOIN use cur ON cur.month = mo.month AND cur.years_back = 0
LEFT JOIN use prev ON prev.month = mo.month AND prev.years_back = 1
ORDER BY 1
"""

YEAR_VAR = query_var(
    "year",
    "年度 Year",
    f"SELECT DISTINCT year::text AS year FROM scoring_run WHERE {PROVINCE_RUN} ORDER BY 1 DESC",
    multi=False,
    include_all=False,
)


def build() -> dict:
    panels = [
        panel(
            "stat",
            "达标单位数 Eligible institutions",
            ELIGIBLE,
            w=6,
            h=8,
            unit="short",
            no_value=NO_RUN,
            description="Institutions that qualify (≥85 points, no veto) in the latest scoring run of the year.",
        ),
        panel(
            "table",
            "最新排名 Latest ranking",
            RANKING,
            w=18,
            h=8,
            no_value=NO_RUN,
            overrides=[unit_override("得分 Points", "suffix: pts")],
            description="Province ranking from the latest province-wide scoring run of the selected year.",
        ),
        panel(
            "barchart",
            "各市综合能耗 Energy by city (tce)",
            BY_CITY_ENERGY,
            w=10,
            h=9,
            unit=TCE,
            description="Top-level meters over the time range, converted to standard coal (当量值 coefficients "
            "of the default methodology), tonnes of coal equivalent.",
            options={"xField": "城市 City"},
            axis_label="tce",
        ),
        panel(
            "barchart",
            "各市能耗强度 Intensity by city (kgce/m², kgce/person)",
            BY_CITY_INTENSITY,
            w=14,
            h=9,
            unit=KGCE_M2,
            overrides=[axis_override("人均能耗 kgce/person", KGCE_PERSON, "right")],
            description="Building energy (official-vehicle fuel excluded) per m² of floor area, left axis; all "
            "energy per occupant, right axis. Only institutions with data in the range count in "
            "the floor area and headcount.",
            options={"xField": "城市 City"},
            axis_label="kgce/m²",
        ),
        panel(
            "timeseries",
            "能耗强度趋势 Intensity trend vs last year and five-year target",
            TREND,
            unit=KGCE_M2,
            w=24,
            h=9,
            description="Monthly building energy per m² (local months; the floor area of the institutions "
            "with data in each span), the same days last year (a month "
            "still running is compared over its complete days only, today left out), and the five-year target: the "
            "baseline year's building energy per m² as the latest province-wide run of the selected "
            "year scored it (each institution's baseline year; meter data when they cover it, else "
            "its statistics return), spread over the month's days and reduced by the target %.",
        ),
    ]
    variables = [
        REGION_VAR,
        YEAR_VAR,
        custom_var(
            "target_pct",
            "五年目标 Target reduction %",
            ["5", "6", "7", "10"],
            "6",
            description="Five-year reduction target against the baseline year, percent.",
        ),
    ]
    return dashboard(
        UID,
        "全省概览 Province overview",
        panels,
        variables,
        time_from="now-1y",
        description="Province overview: ranking, eligible count, energy and intensity by city.",
    )
