"""节能量核证 Verified savings: metered against the baseline model's prediction, cumulative avoided energy,
and each project's verified figure with its uncertainty (tables written by `jieneng savings compute`)."""

from __future__ import annotations

from dashboards.model import INSTITUTION_VAR, REGION_VAR, dashboard, panel, query_var
from dashboards.sql import ALL_VALUE, LOCAL_DAY_FROM, LOCAL_DAY_TO, chosen, local_date_as_time

UID = "jieneng-savings"

# The projects in view: those chosen (or all of the chosen institutions and city, on All).
_PROJECTS = (
    "SELECT p.id FROM project p JOIN institution i ON i.id = p.institution_id"
    f" WHERE {chosen('p.id', 'project')} AND {chosen('p.institution_id', 'institution')}"
    f" AND {chosen('i.region_code', 'region')}"
)

PROJECT_VAR = query_var(
    "project",
    "项目 Project",
    "SELECT p.id AS __value, p.name AS __text FROM project p JOIN institution i ON i.id = p.institution_id"
    f" WHERE {chosen('p.institution_id', 'institution')} AND {chosen('i.region_code', 'region')} ORDER BY p.id",
    all_value=ALL_VALUE,
)
ENERGY_VAR = query_var(
    "energy_type",
    "能源 Energy",
    f"SELECT DISTINCT energy_type FROM savings_result WHERE project_id IN ({_PROJECTS}) ORDER BY 1",
    multi=False,
    include_all=False,
)

_DAYS = f"""FROM savings_daily d
WHERE d.project_id IN ({_PROJECTS}) AND d.energy_type = '$energy_type'
  AND d.day BETWEEN {LOCAL_DAY_FROM} AND {LOCAL_DAY_TO}"""

METERED_VS_PREDICTED = f"""
SELECT {local_date_as_time("d.day")} AS time,
       sum(d.predicted) AS "基准预测 Predicted (baseline model)", sum(d.metered) AS "实测 Metered"
{_DAYS}
GROUP BY d.day ORDER BY 1
"""

CUMULATIVE = f"""
SELECT time, "累计节约 Cumulative avoided" FROM (
  SELECT {local_date_as_time("d.day")} AS time, d.day,
         sum(sum(coalesce(d.avoided, 0))) OVER (ORDER BY d.day) AS "累计节约 Cumulative avoided"
  FROM savings_daily d
  WHERE d.project_id IN ({_PROJECTS}) AND d.energy_type = '$energy_type'
  GROUP BY d.day) c
WHERE c.day BETWEEN {LOCAL_DAY_FROM} AND {LOCAL_DAY_TO}
ORDER BY 1
"""

TEMPERATURE = f"""
SELECT {local_date_as_time("d.day")} AS time, avg(d.mean_temp_c) AS "日均气温 Mean °C"
{_DAYS}
GROUP BY d.day ORDER BY 1
"""

RESULTS = f"""
SELECT p.id AS "项目 Project", p.name AS "名称 Name", r.energy_type AS "能源 Energy", r.unit AS "单位 Unit",
       r.status AS "状态 Status", r.reporting_from AS "报告期起 From", r.reporting_to AS "报告期止 To",
       r.predicted AS "基准预测 Predicted", r.metered AS "实测 Metered", r.avoided AS "节约量 Avoided",
       r.avoided_uncertainty AS "不确定度 ±", r.confidence_level AS "置信度 Confidence",
       r.avoided / nullif(r.predicted, 0) AS "节能率 Share", r.avoided_kgce AS "节约 kgce",
       r.avoided_cost_yuan AS "节约 元 Yuan", r.year_on_year_change AS "同比 Year on year",
       r.hdd AS "HDD18", r.previous_year_hdd AS "上年 HDD18", r.cdd AS "CDD26", r.previous_year_cdd AS "上年 CDD26",
       array_to_string(r.reasons, '; ') AS "原因 Reasons"
FROM project p JOIN savings_result r ON r.project_id = p.id
WHERE p.id IN ({_PROJECTS})
ORDER BY p.id, r.energy_type
"""

AVOIDED_KGCE = f"""
SELECT coalesce(sum(r.avoided_kgce), 0) AS "核证节约 Verified avoided kgce"
FROM savings_result r WHERE r.project_id IN ({_PROJECTS}) AND r.status = 'ok'
"""


def build() -> dict:
    panels = [
        panel(
            "stat",
            "核证节约 Verified avoided (kgce)",
            AVOIDED_KGCE,
            w=6,
            h=8,
            unit="none",
            description="Sum over the selected projects of the verified avoided energy in standard coal.",
        ),
        panel(
            "timeseries",
            "实测与基准预测 Metered vs predicted",
            METERED_VS_PREDICTED,
            fmt="time_series",
            w=18,
            h=8,
            description="Each reporting day: the baseline model's prediction under that day's weather, and "
            "the metered use (CalTRACK daily; docs/savings.md).",
        ),
        panel(
            "timeseries",
            "累计节约 Cumulative avoided energy",
            CUMULATIVE,
            fmt="time_series",
            w=12,
            h=8,
            description="Predicted minus metered, accumulated from the start of the reporting period.",
        ),
        panel(
            "timeseries",
            "日均气温 Daily mean temperature",
            TEMPERATURE,
            fmt="time_series",
            w=12,
            h=8,
            unit="celsius",
        ),
        panel(
            "table",
            "核证节能量 Verified savings",
            RESULTS,
            w=24,
            h=8,
            description="The latest verification of each project and energy type: avoided energy with its "
            "uncertainty (ASHRAE Guideline 14), kgce, cost, and the year-on-year change beside it.",
        ),
    ]
    return dashboard(
        UID,
        "节能量核证 Verified savings",
        panels,
        [REGION_VAR, INSTITUTION_VAR, PROJECT_VAR, ENERGY_VAR],
        description="Retrofit and energy-contract savings verified from the meters: metered against "
        "predicted, cumulative avoided energy, verified figures.",
        time_from="now-1y",
        tags=["savings"],
    )
