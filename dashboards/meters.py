"""计量监测 Meter health: last seen, silent meters, gaps, resets, quarantines, conflicts, rejects."""

from __future__ import annotations

from dashboards.model import (
    INSTITUTION_VAR,
    METER_VAR,
    REGION_VAR,
    custom_var,
    dashboard,
    panel,
    unit_override,
)
from dashboards.sql import (
    HOURS_OVERDUE,
    LAST_READING,
    READ_INTERVAL_S,
    chosen,
    institution_chosen,
    is_all,
    listed,
    meter_chosen,
    silent,
)

UID = "jieneng-meters"

# The alert's rule (dashboards.sql.silent) with the dashboard's threshold variable.
SILENT_RULE = silent("'$silent_hours'::integer")

# Per-meter lists that read raw readings are shown for institutions chosen by name, not for All.
CHOOSE_INSTITUTION = "请选择单位 Choose an institution"

LAST = LAST_READING

LAST_SEEN = f"""
SELECT m.id AS "计量表 Meter", i.name AS "单位 Institution", m.energy_type AS "能源 Energy",
       last.ts AS "最新读数 Last reading", last.received_at AS "接收时间 Received",
       extract(epoch from now() - last.ts) / 3600 AS "静默 Hours silent",
       {READ_INTERVAL_S} / 3600.0 AS "应报间隔 Expected interval h",
       CASE WHEN {READ_INTERVAL_S} > 0 THEN {HOURS_OVERDUE} END AS "逾期 Hours overdue"
FROM meter m JOIN institution i ON i.id = m.institution_id {LAST}
WHERE {chosen("m.id", "meter")} AND {listed("m.institution_id", "institution")}
ORDER BY last.ts NULLS FIRST, m.id
"""

SILENT_COUNT = f"""
SELECT count(*) AS "静默计量表 Silent meters"
FROM meter m {LAST}
WHERE {chosen("m.id", "meter")} AND {institution_chosen("m.institution_id")} AND {SILENT_RULE}
"""

SILENT = f"""
SELECT m.id AS "计量表 Meter", i.name AS "单位 Institution", last.ts AS "最新读数 Last reading",
       {READ_INTERVAL_S} / 3600.0 AS "应报间隔 Expected interval h", {HOURS_OVERDUE} AS "逾期 Hours overdue"
FROM meter m JOIN institution i ON i.id = m.institution_id {LAST}
WHERE {chosen("m.id", "meter")} AND {institution_chosen("m.institution_id")} AND {SILENT_RULE}
ORDER BY 5 DESC
"""

# A gap that began before the range's start counts: each chosen meter's last reading before the range
# (one index probe) is the start of the gap that ends at its first reading inside it.
GAPS = f"""
SELECT g.meter_id AS "计量表 Meter", g.prev_ts AS "起 From", g.ts AS "止 To",
       extract(epoch from g.ts - g.prev_ts) / 3600 AS "时长 Hours"
FROM (SELECT m.id AS meter_id, x.ts, lag(x.ts) OVER (PARTITION BY m.id ORDER BY x.ts) AS prev_ts
      FROM meter m
      CROSS JOIN LATERAL (SELECT r.ts FROM reading r WHERE r.meter_id = m.id AND $__timeFilter(r.ts)
                          UNION ALL
                          (SELECT r.ts FROM reading r WHERE r.meter_id = m.id AND r.ts < $__timeFrom()
                           ORDER BY r.ts DESC LIMIT 1)) x
      WHERE {chosen("m.id", "meter")} AND {listed("m.institution_id", "institution")}) g
WHERE g.ts - g.prev_ts > make_interval(hours => '$gap_hours'::integer)
ORDER BY 4 DESC LIMIT 200
"""

RESETS = f"""
SELECT e.meter_id AS "计量表 Meter", e.kind AS "类型 Kind", e.ts_from AS "起 From", e.ts_to AS "止 To"
FROM usage_counter_event e
WHERE {meter_chosen("e.meter_id")} AND $__timeFilter(e.ts_to)
ORDER BY e.ts_to DESC LIMIT 200
"""

QUARANTINE = f"""
SELECT q.meter_id AS "计量表 Meter", q.ts_from AS "起 From", q.ts_to AS "止 To",
       q.increment AS "增量 Increment", q.reason AS "原因 Reason", q.detected_at AS "发现 Detected"
FROM usage_quarantine q
WHERE {meter_chosen("q.meter_id")} AND $__timeFilter(q.ts_to)
ORDER BY q.ts_to DESC LIMIT 200
"""

CONFLICTS = f"""
SELECT c.meter_id AS "计量表 Meter", c.ts AS "读数时间 Reading ts", c.stored_value AS "已存 Stored",
       c.new_value AS "新值 New", c.received_at AS "接收 Received", c.topic AS "主题 Topic"
FROM reading_conflict c
WHERE {meter_chosen("c.meter_id")} AND $__timeFilter(c.ts)
ORDER BY c.received_at DESC LIMIT 200
"""

REJECTS = f"""
SELECT r.reason AS "原因 Reason", count(*) AS "拒收 Rejects"
FROM ingest_reject r
WHERE $__timeFilter(r.received_at) AND (r.meter_id IS NULL OR {meter_chosen("r.meter_id")})
GROUP BY r.reason ORDER BY 2 DESC
"""

# Counted per meter and hour as ingest writes (reading_received_hourly, migration 0024), for the meters
# of a chosen city, institution or meter: summed over the province's meters a week is 6.3 million rows
# at 37,700 meters (the province's ingest is on the ingest dashboard, from its batches). Each chosen
# meter's hours are read by its key (a lateral probe; OFFSET 0 keeps the planner from flattening it into a
# join, which scanned every meter's hours to find a city's: 470 ms at 37,700 meters), and summed by
# hour before Grafana's bucket expression is computed once per hour rather than per meter-hour.
RECEIVED = f"""
SELECT $__timeGroupAlias(x.hour, $__interval), sum(x.readings) AS "读数 Readings received"
FROM (SELECT h.hour, sum(h.readings) AS readings
      FROM meter m
      CROSS JOIN LATERAL (SELECT h.hour, h.readings FROM reading_received_hourly h
                          WHERE h.meter_id = m.id
                            AND h.hour > $__timeFrom()::timestamptz - interval '1 hour' AND h.hour < $__timeTo()
                          OFFSET 0) h
      WHERE NOT ({is_all("region")} AND {is_all("institution")} AND {is_all("meter")})
        AND {chosen("m.id", "meter")} AND {institution_chosen("m.institution_id")}
      GROUP BY h.hour) x
GROUP BY 1 ORDER BY 1
"""

CHOOSE_SCOPE = "请选择城市、单位或计量表 Choose a city, an institution or a meter"


def build() -> dict:
    panels = [
        panel(
            "stat",
            "静默计量表 Silent meters",
            SILENT_COUNT,
            w=6,
            h=7,
            unit="short",
            description="Active clock-read meters whose next reading is later than the silent-hours setting "
            "(the alert's rule: expected interval per meter).",
        ),
        panel(
            "timeseries",
            "接收读数 Readings received",
            RECEIVED,
            fmt="time_series",
            w=18,
            h=7,
            unit="short",
            axis_label="readings per interval",
            interval="1h",
            no_value=CHOOSE_SCOPE,
            description="Readings of the chosen city's, institutions' or meters' meters by the hour ingest "
            "received them (kept for the statistics retention, JIENENG_STATS_RETENTION). Waits for a "
            "choice on All: the province's ingest is on the ingest dashboard (采集运行 Ingest operations).",
        ),
        panel(
            "table",
            "最后上报 Last seen",
            LAST_SEEN,
            w=12,
            h=9,
            overrides=[
                unit_override(c, "h")
                for c in ("静默 Hours silent", "应报间隔 Expected interval h", "逾期 Hours overdue")
            ],
            no_value=CHOOSE_INSTITUTION,
            description="Every meter of the chosen institutions (choose by name).",
        ),
        panel(
            "table",
            "静默计量表 Silent meters (list)",
            SILENT,
            w=12,
            h=9,
            overrides=[unit_override(c, "h") for c in ("应报间隔 Expected interval h", "逾期 Hours overdue")],
            description="Active clock-read meters whose next reading, due one expected interval "
            "(meter.read_interval_s, or the default for the kind) after the last, is later than "
            "the silent-hours setting; event-based meters (vehicle fuel, deliveries) are never "
            "silent.",
        ),
        panel(
            "table",
            "数据缺口 Gaps between readings",
            GAPS,
            w=12,
            h=8,
            overrides=[unit_override("时长 Hours", "h")],
            no_value=CHOOSE_INSTITUTION,
            description="Gaps longer than the threshold that end inside the time range, in the chosen "
            "institutions' readings (choose by name); a gap that began before the range is shown from "
            "its last reading before it.",
        ),
        panel("table", "复位与回绕 Counter resets and rollovers", RESETS, w=12, h=8),
        panel("table", "隔离增量 Quarantined increments", QUARANTINE, w=12, h=8),
        panel("table", "读数冲突 Conflicting repeats", CONFLICTS, w=12, h=8),
        panel(
            "barchart",
            "拒收原因 Rejects by reason",
            REJECTS,
            w=24,
            h=8,
            unit="short",
            axis_label="rejects",
            description="Rejected messages and rows for the selected meters, and those naming no known meter.",
            options={"xField": "原因 Reason"},
        ),
    ]
    variables = [
        REGION_VAR,
        INSTITUTION_VAR,
        METER_VAR,
        custom_var("silent_hours", "静默阈值 Silent after hours", ["2", "6", "24", "72"], "24"),
        custom_var("gap_hours", "缺口阈值 Gap longer than hours", ["1", "2", "6", "24"], "2"),
    ]
    return dashboard(
        UID,
        "计量监测 Meter health",
        panels,
        variables,
        description="Meter health: last seen, silent meters, gaps, resets, quarantines, conflicts, rejects.",
    )
