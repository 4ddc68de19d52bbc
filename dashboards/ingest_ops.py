"""采集运行 Ingest operations: throughput, commit latency, rollup lag, rejects."""

from __future__ import annotations

from dashboards.model import axis_override, dashboard, panel, unit_override

UID = "jieneng-ingest"

THROUGHPUT = """
SELECT $__timeGroupAlias(b.committed_at, $__interval),
       sum(b.readings) / ($__interval_ms / 1000.0) AS "读数/秒 Readings/s",
       sum(b.inserted) / ($__interval_ms / 1000.0) AS "新增/秒 Inserted/s",
       sum(b.duplicates) / ($__interval_ms / 1000.0) AS "重复/秒 Duplicates/s",
       sum(b.messages) / ($__interval_ms / 1000.0) AS "消息/秒 Messages/s"
FROM ingest_batch b
WHERE $__timeFilter(b.committed_at)
GROUP BY 1 ORDER BY 1
"""

LATENCY = """
SELECT $__timeGroupAlias(b.committed_at, $__interval),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY b.commit_ms) AS "p50 ms",
       percentile_cont(0.95) WITHIN GROUP (ORDER BY b.commit_ms) AS "p95 ms",
       max(b.commit_ms) AS "max ms"
FROM ingest_batch b
WHERE $__timeFilter(b.committed_at) AND b.commit_ms IS NOT NULL
GROUP BY 1 ORDER BY 1
"""

ROLLUP_LAG = """
SELECT $__timeGroupAlias(r.finished_at, $__interval),
       max(r.lag_s) AS "最大滞后 Max lag s", avg(r.lag_s) AS "平均滞后 Mean lag s",
       sum(r.meter_hours) AS "汇总表时 Meter-hours"
FROM rollup_run r
WHERE $__timeFilter(r.finished_at)
GROUP BY 1 ORDER BY 1
"""

REJECTS = """
SELECT $__timeGroupAlias(r.received_at, $__interval), r.reason AS metric, count(*) AS value
FROM ingest_reject r
WHERE $__timeFilter(r.received_at)
GROUP BY 1, 2 ORDER BY 1, 2
"""

TOTALS = """
SELECT coalesce(sum(b.readings), 0) AS "读数 Readings", coalesce(sum(b.inserted), 0) AS "新增 Inserted",
       coalesce(sum(b.conflicts), 0) AS "冲突 Conflicts", coalesce(sum(b.rejects), 0) AS "拒收 Rejects",
       extract(epoch from now() - max(b.committed_at)) AS "距上批 Since last batch s"
FROM ingest_batch b
WHERE $__timeFilter(b.committed_at)
"""

BACKLOG = """
SELECT count(*) AS "待汇总 Pending ranges", coalesce(extract(epoch from now() - min(d.queued_at)), 0) AS "最旧 Oldest s"
FROM usage_dirty d
"""


def build() -> dict:
    panels = [
        panel(
            "stat",
            "区间合计 Totals in range",
            TOTALS,
            w=16,
            h=5,
            unit="short",
            overrides=[unit_override("距上批 Since last batch s", "s")],
        ),
        panel(
            "stat",
            "汇总积压 Rollup backlog",
            BACKLOG,
            w=8,
            h=5,
            unit="short",
            overrides=[unit_override("最旧 Oldest s", "s")],
            description="Meter-time ranges written by ingest and not yet rolled up.",
        ),
        panel("timeseries", "吞吐量 Throughput", THROUGHPUT, fmt="time_series", unit="suffix: /s", w=12),
        panel("timeseries", "提交延迟 Commit latency", LATENCY, fmt="time_series", unit="ms", w=12),
        panel(
            "timeseries",
            "汇总滞后 Rollup lag",
            ROLLUP_LAG,
            fmt="time_series",
            unit="s",
            w=12,
            overrides=[axis_override("汇总表时 Meter-hours", "short", "right", "meter-hours")],
            description="Rollup lag in seconds (left axis); meter-hours rolled up per interval (right axis).",
        ),
        panel(
            "timeseries",
            "拒收 Rejects by reason",
            REJECTS,
            fmt="time_series",
            w=12,
            unit="short",
            axis_label="rejects per interval",
        ),
    ]
    return dashboard(
        UID,
        "采集运行 Ingest operations",
        panels,
        [],
        time_from="now-6h",
        description="Ingest operations: throughput, commit latency, rollup lag, rejects.",
    )
