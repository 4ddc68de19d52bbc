"""单位详情 Institution detail: usage by energy type, last year, intensity vs peers, base load, data quality."""

from __future__ import annotations

from dashboards.model import (
    INSTITUTION_VAR,
    KGCE_M2,
    KGCE_PERSON,
    REGION_VAR,
    dashboard,
    panel,
    percent_override,
    unit_override,
    unit_overrides,
)
from dashboards.sql import (
    ELEC_KWH,
    IN_TOTALS,
    INSTITUTION_YEAR,
    LOCAL_DAY_FROM,
    LOCAL_DAY_TO,
    MONTH_SPANS,
    PROVINCE_RUN,
    TOTALS_SIGN,
    TZ,
    WATER_M3,
    energy_label,
    kgce_values,
    listed,
    local_date_as_time,
    range_usage,
    span_usage,
    workday,
)
from store.scoring import year_figures_sql

UID = "jieneng-institution"

# Every panel here is about the institutions chosen by name: on All (the province, or a whole city) the panels
# wait for a choice and say so. Their cost is the chosen institutions' meters times the range, so an institution's
# dashboard costs the same at 100 or 50,000 institutions; a sum over every meter of a city or the province is a
# province view (the province dashboard's by-city panels and trend), and hourly rows summed over every meter of
# the province would grow with the readings, not with what the panel shows.
CHOOSE_INSTITUTION = "请选择单位 Choose an institution"

CHOSEN = listed("m.institution_id", "institution")

SERIES = f"{energy_label('m.energy_type')} || ' (' || m.unit || ')'"

HOURLY = f"""
SELECT $__timeGroupAlias(h.hour, '1h'), {SERIES} AS metric, sum(h.consumption * {TOTALS_SIGN}) AS value
FROM usage_hourly h JOIN meter m ON m.id = h.meter_id
WHERE $__timeFilter(h.hour) AND {CHOSEN} AND {IN_TOTALS}
GROUP BY 1, 2 ORDER BY 1, 2
"""

DAILY = f"""
SELECT {local_date_as_time("d.day")} AS "time", {SERIES} AS metric, sum(d.consumption * {TOTALS_SIGN}) AS value
FROM usage_daily d JOIN meter m ON m.id = d.meter_id
WHERE d.day BETWEEN {LOCAL_DAY_FROM} AND {LOCAL_DAY_TO}
  AND {CHOSEN} AND {IN_TOTALS}
GROUP BY 1, 2 ORDER BY 1, 2
"""

SPAN_METERS = f"SELECT m.id FROM meter m WHERE {CHOSEN} AND {IN_TOTALS}"

MONTHLY = f"""
WITH {MONTH_SPANS}, use AS (
  SELECT sp.month, sp.years_back, m.energy_type, m.unit, sum(u.consumption * {TOTALS_SIGN}) AS consumption
  FROM spans sp {span_usage(SPAN_METERS)}
  JOIN meter m ON m.id = u.meter_id
  WHERE {CHOSEN} AND {IN_TOTALS}
  GROUP BY 1, 2, 3, 4
)
SELECT to_char(mo.month, 'YYYY-MM') AS "月份 Month", {energy_label("cur.energy_type")} AS "能源 Energy", cur.unit AS "单位 Unit",
       mo.until - mo.month AS "天数 Days",
       cur.consumption AS "本期 This period", prev.consumption AS "上年同期 Same days last year",
       100 * (cur.consumption / nullif(prev.consumption, 0) - 1) AS "同比 Change %"
FROM months mo
JOIN use cur ON cur.month = mo.month AND cur.years_back = 0
LEFT JOIN use prev ON prev.month = mo.month AND prev.years_back = 1
  AND prev.energy_type = cur.energy_type AND prev.unit = cur.unit
ORDER BY mo.month, cur.energy_type, cur.unit
"""

# Per-area and per-capita figures of the chosen institutions over the range, from their own meters.
INTENSITY = f"""
WITH use AS (
  SELECT m.institution_id,
         sum(d.consumption * {TOTALS_SIGN} * kgce.kgce_per_unit) FILTER (WHERE m.end_use <> 'vehicle') AS kgce_building,
         sum(d.consumption * {TOTALS_SIGN} * kgce.kgce_per_unit) AS kgce,
         sum(d.consumption * {TOTALS_SIGN} * {WATER_M3}) FILTER (WHERE m.energy_type = 'water') AS water_m3
  FROM meter m
  {range_usage("m.id")}
  LEFT JOIN {kgce_values()} ON kgce.energy_type = m.energy_type AND kgce.unit = m.unit
  WHERE {CHOSEN} AND {IN_TOTALS}
  GROUP BY m.institution_id
)
SELECT i.name AS "单位 Institution",
       {LOCAL_DAY_FROM}::text || ' – ' || {LOCAL_DAY_TO}::text AS "期间 Period",
       use.kgce_building / y.floor_area_m2 AS "单位面积能耗 kgce/m²",
       use.kgce / y.occupants AS "人均能耗 kgce/person",
       use.water_m3 / y.occupants AS "人均用水 m³/person"
FROM institution i JOIN use ON use.institution_id = i.id {INSTITUTION_YEAR}
WHERE {listed("i.id", "institution")}
ORDER BY i.name
"""

# Peers are the peer groups of the latest province-wide scoring run (what the ranking compares), compared on
# the run's scored year with the figures the run scored, as benchmarks compare buildings on a whole year; the
# medians were computed when the run was stored (scoring_run_peer, migration 0027), so the panel reads one
# row per chosen institution and one per its group, whatever the group's size. An institution the run did not
# score has no peer group: its row shows without figures.
PEERS = f"""
WITH run AS (
  SELECT id, year FROM scoring_run WHERE {PROVINCE_RUN} ORDER BY year DESC, created_at DESC, id DESC LIMIT 1
)
SELECT i.name AS "单位 Institution",
       r.peer_group || ' (' || run.year || ')' AS "组别 Peer group (scoring year)",
       r.kgce_m2 AS "单位面积能耗 kgce/m²", p.kgce_m2_median AS "同组中位数 Peer median kgce/m²",
       r.kgce_person AS "人均能耗 kgce/person", p.kgce_person_median AS "同组中位数 Peer median kgce/person",
       r.water_person AS "人均用水 m³/person", p.water_person_median AS "同组中位数 Peer median m³/person",
       p.results AS "同组单位数 Peers"
FROM institution i LEFT JOIN run ON true
LEFT JOIN LATERAL (
  SELECT x.peer_group, {year_figures_sql("x")} FROM scoring_result x
  WHERE x.run_id = run.id AND x.institution_id = i.id
) r ON true
LEFT JOIN scoring_run_peer p ON p.run_id = run.id AND p.peer_group = r.peer_group
WHERE {listed("i.id", "institution")}
ORDER BY i.name
"""

# Working hours are 08:00-18:00 local on working days of the holiday calendar (statutory holidays
# off, make-up days on); days off are weekends and holidays.
BASE_LOAD = f"""
WITH hourly AS (
  SELECT m.institution_id, h.hour AT TIME ZONE {TZ} AS local_hour, sum(h.consumption * {TOTALS_SIGN} * {ELEC_KWH}) AS kwh
  FROM usage_hourly h JOIN meter m ON m.id = h.meter_id
  WHERE m.energy_type = 'electricity' AND {IN_TOTALS}
    AND {CHOSEN} AND $__timeFilter(h.hour)
  GROUP BY 1, 2
), days AS (
  SELECT DISTINCT local_hour::date AS day FROM hourly
), classified AS (
  SELECT hourly.*, {workday("days.day")} AS workday, extract(hour from local_hour) AS hour_of_day
  FROM hourly JOIN days ON days.day = hourly.local_hour::date
), bands AS (
  SELECT institution_id,
         avg(kwh) FILTER (WHERE hour_of_day < 5) AS night,
         avg(kwh) FILTER (WHERE hour_of_day BETWEEN 8 AND 17 AND workday) AS workday,
         avg(kwh) FILTER (WHERE hour_of_day BETWEEN 8 AND 17 AND NOT workday) AS day_off
  FROM classified GROUP BY institution_id
)
SELECT i.name AS "单位 Institution",
       b.night AS "夜间基荷 Night 00-05 kW",
       b.workday AS "工作时段 Workday 08-18 kW",
       b.day_off AS "休息日 Day off 08-18 kW",
       b.night / nullif(b.workday, 0) AS "夜间/白天 Night share"
FROM bands b JOIN institution i ON i.id = b.institution_id
WHERE {listed("i.id", "institution")}
ORDER BY i.name, i.id
"""

QUALITY = f"""
SELECT m.id AS "计量表 Meter", {energy_label("m.energy_type")} AS "能源 Energy", m.end_use AS "分项 End use",
       (SELECT count(DISTINCT date_trunc('hour', r.ts)) FROM reading r
         WHERE r.meter_id = m.id AND $__timeFilter(r.ts))::float8
         / greatest(1, extract(epoch from $__timeTo()::timestamptz - $__timeFrom()::timestamptz) / 3600)
         AS "覆盖率 Hourly coverage",
       (SELECT extract(epoch from max(g.gap)) / 3600 FROM
          (SELECT r.ts - lag(r.ts) OVER (ORDER BY r.ts) AS gap FROM reading r
            WHERE r.meter_id = m.id AND $__timeFilter(r.ts)) g) AS "最长间隔 Longest gap h",
       (SELECT count(*) FROM usage_counter_event e
         WHERE e.meter_id = m.id AND e.kind = 'reset' AND $__timeFilter(e.ts_to)) AS "复位 Resets",
       (SELECT count(*) FROM usage_quarantine q
         WHERE q.meter_id = m.id AND $__timeFilter(q.ts_to)) AS "隔离 Quarantined",
       (SELECT count(*) FROM reading_conflict c
         WHERE c.meter_id = m.id AND $__timeFilter(c.ts)) AS "冲突 Conflicts"
FROM meter m
WHERE {CHOSEN}
ORDER BY m.institution_id, m.id
"""


# The per-area and per-capita figures' columns and units, in both panels that show them.
FIGURES = (
    ("单位面积能耗 kgce/m²", KGCE_M2),
    ("人均能耗 kgce/person", KGCE_PERSON),
    ("人均用水 m³/person", "suffix: m³/person"),
)


def peer_median(column: str) -> str:
    """The peer panel's median column of a figure column, e.g. ``同组中位数 Peer median kgce/m²``."""
    return "同组中位数 Peer median " + column.split(" ", 1)[1]


def _panel(*args, **kwargs) -> dict:
    """A panel of this dashboard: empty on All, with the hint to choose institutions."""
    kwargs.setdefault("no_value", CHOOSE_INSTITUTION)
    return panel(*args, **kwargs)


def build() -> dict:
    panels = [
        _panel(
            "timeseries",
            "分能源逐时用量 Hourly usage by energy type",
            HOURLY,
            fmt="time_series",
            w=24,
            overrides=unit_overrides(),
            description="The chosen institutions' top-level meters, in each meter's unit with its multiplier "
            "applied.",
        ),
        _panel(
            "timeseries",
            "逐日用量 Daily usage (local days)",
            DAILY,
            fmt="time_series",
            w=12,
            overrides=unit_overrides(),
            description="Local calendar days in the deployment time zone.",
            options={"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True}},
        ),
        _panel(
            "table",
            "逐月用量与上年同期 Monthly usage vs same days last year",
            MONTHLY,
            w=12,
            overrides=[unit_override("同比 Change %", "percent"), unit_override("天数 Days", "d")],
            description="Per local month the range touches, from the month's first day, in each meter's unit. "
            "A month still running is compared over its complete days (today is still running and left out) with "
            "the same days of that month last year (天数 Days says how many); a whole month with the whole month.",
            # On the 1st a range ending today has no complete day yet: say so, not only "choose".
            no_value=CHOOSE_INSTITUTION + ";当月尚无完整的一天 No complete day of the month yet",
        ),
        _panel(
            "table",
            "单位面积与人均指标 Per-area and per-capita (${__from:date:YYYY-MM-DD} – ${__to:date:YYYY-MM-DD})",
            INTENSITY,
            w=12,
            h=7,
            overrides=[unit_override(f, u) for f, u in FIGURES],
            description="Over the dashboard's time range (期间 Period, local days), from the institution's own "
            "meters, over the floor area and occupants of its latest registry year up to the range's end.",
        ),
        _panel(
            "table",
            "同组对比 Against the peer group median (scoring year)",
            PEERS,
            w=12,
            h=7,
            overrides=[
                *(unit_override(f, u) for f, u in FIGURES),
                *(unit_override(peer_median(f), u) for f, u in FIGURES),
                unit_override("同组单位数 Peers", "short"),
            ],
            description="The institution and the median of its peer group in the latest province-wide scoring "
            "run, on the run's scored year (shown) with the figures the run scored: building energy per m², "
            "total energy and water per occupant. A whole year, as benchmarks compare buildings; the range does "
            "not change it. 同组单位数 Peers counts the group's results in the run; each median is over those that "
            "have the figure. Quota values are methodology data and appear in scoring reports.",
        ),
        _panel(
            "table",
            "夜间与周末基荷 Night and weekend base load",
            BASE_LOAD,
            w=12,
            h=7,
            unit="kwatt",
            overrides=[percent_override("夜间/白天 Night share")],
            description="Average electric load (kW) by local hour band: night 00-05, working hours 08-18 on "
            "working days of the statutory holiday calendar (make-up days 调休 included), the same "
            "hours on days off. A high night share points at equipment left running.",
        ),
        _panel(
            "table",
            "数据质量 Data quality",
            QUALITY,
            w=12,
            h=7,
            unit="short",
            overrides=[
                percent_override("覆盖率 Hourly coverage"),
                unit_override("最长间隔 Longest gap h", "h"),
            ],
            description="Per meter of the chosen institutions over the time range: coverage of hours with "
            "readings, longest gap, counter resets, quarantined increments, conflicting repeats. "
            "It reads raw readings.",
        ),
    ]
    return dashboard(
        UID,
        "单位详情 Institution detail",
        panels,
        [REGION_VAR, INSTITUTION_VAR],
        description="Institution detail for the institutions chosen by name: usage, intensity against peers, "
        "base load, data quality. On All the panels wait for a choice: a city's or the province's totals are on the "
        "province dashboard.",
    )
