"""Grafana alert rules (file provisioning): silent meters and night base load (limits by category).

Grafana turns a table result with one numeric column and string columns into one series per row,
labelled by the string columns, so each meter or institution alerts on its own.
"""

from __future__ import annotations

from dashboards.model import DATASOURCE_UID
from dashboards.sql import ELEC_KWH, HOURS_OVERDUE, IN_TOTALS, LAST_READING, TOTALS_SIGN, TZ, silent, workday

FOLDER = "节能 jieneng"


# Only the silent meters: Grafana makes one alert instance per row, so returning every active meter
# would keep hundreds of thousands of "normal" instances. The threshold is applied here (dashboards.sql.silent,
# the rule the meter-health panels use: hours past the reading due by the meter's expected interval) and
# again by expression B, which needs a condition.
def silent_sql(silent_hours: float) -> str:
    return " ".join(
        f"""
SELECT m.id AS meter, m.institution_id AS institution, {HOURS_OVERDUE} AS hours_overdue
FROM meter m {LAST_READING}
WHERE {silent(repr(float(silent_hours)))}
""".split()
    )


# Night (00:00-05:00 local) mean electric load as a share of working-hours (08:00-18:00 on working days
# of the holiday calendar) load, over the last 7 days, per institution, divided by the limit for its
# category: a hospital runs at night, an office should not. The value is that ratio; it alerts above 1.
def night_sql(default_share: float, by_category: dict[str, float] | None = None) -> str:
    limits = ", ".join(f"('{c}', {float(v)!r}::float8)" for c, v in sorted((by_category or {}).items()))
    limit_table = (
        f"(VALUES {limits}) AS lim(category, share)"
        if limits
        else "(SELECT NULL::text AS category, NULL::float8 AS share WHERE false) lim"
    )
    return " ".join(
        f"""
WITH hourly AS (
  SELECT m.institution_id, h.hour AT TIME ZONE {TZ} AS local_hour, sum(h.consumption * {TOTALS_SIGN} * {ELEC_KWH}) AS kwh
  FROM usage_hourly h JOIN meter m ON m.id = h.meter_id
  WHERE m.energy_type = 'electricity' AND {IN_TOTALS} AND h.hour >= now() - interval '7 days'
  GROUP BY 1, 2
), classified AS (
  SELECT institution_id, kwh, extract(hour from local_hour) AS hour_of_day, {workday("local_hour::date")} AS workday
  FROM hourly
), share AS (
  SELECT institution_id,
         avg(kwh) FILTER (WHERE hour_of_day < 5)
           / nullif(avg(kwh) FILTER (WHERE hour_of_day BETWEEN 8 AND 17 AND workday), 0) AS night_share
  FROM classified GROUP BY institution_id
  HAVING count(*) FILTER (WHERE hour_of_day BETWEEN 8 AND 17 AND workday) > 0
)
SELECT share.institution_id AS institution, i.category,
       share.night_share / coalesce(lim.share, {float(default_share)!r}) AS night_share_of_limit
FROM share JOIN institution i ON i.id = share.institution_id
LEFT JOIN {limit_table} ON lim.category = i.category
""".split()
    )


def _rule(uid: str, title: str, sql: str, threshold: float, summary: str, for_: str) -> dict:
    return {
        "uid": uid,
        "title": title,
        "condition": "B",
        "data": [
            {
                "refId": "A",
                "relativeTimeRange": {"from": 604800, "to": 0},
                "datasourceUid": DATASOURCE_UID,
                "model": {
                    "refId": "A",
                    "editorMode": "code",
                    "format": "table",
                    "rawQuery": True,
                    "rawSql": sql,
                },
            },
            {
                "refId": "B",
                "datasourceUid": "__expr__",
                "model": {
                    "refId": "B",
                    "type": "threshold",
                    "expression": "A",
                    "conditions": [{"evaluator": {"type": "gt", "params": [float(threshold)]}}],
                },
            },
        ],
        "noDataState": "OK",
        "execErrState": "Error",
        "for": for_,
        "annotations": {"summary": summary},
        "labels": {"system": "jieneng"},
    }


def rules(
    *,
    silent_hours: float,
    night_load_share: float,
    night_load_share_by_category: dict[str, float] | None = None,
) -> dict:
    """The alerting provisioning document; thresholds come from settings at build time."""
    limits = ", ".join(f"{c} {v:.0%}" for c, v in sorted((night_load_share_by_category or {}).items()))
    return {
        "apiVersion": 1,
        "groups": [
            {
                "orgId": 1,
                "name": "jieneng",
                "folder": FOLDER,
                "interval": "5m",
                "rules": [
                    _rule(
                        "jieneng-meter-silent",
                        "计量表静默 Meter silent",
                        silent_sql(silent_hours),
                        silent_hours,
                        f"Meter {{{{ $labels.meter }}}}: its next reading, due by its expected reading interval, is more "
                        f"than {silent_hours:g} h late.",
                        "10m",
                    ),
                    _rule(
                        "jieneng-night-base-load",
                        "夜间基荷偏高 Night base load high",
                        night_sql(night_load_share, night_load_share_by_category),
                        1.0,
                        f"Institution {{{{ $labels.institution }}}} ({{{{ $labels.category }}}}): night load "
                        f"is above its category's share of working-hours load (last 7 days; limits: "
                        f"{limits + ', ' if limits else ''}others {night_load_share:.0%}).",
                        "1h",
                    ),
                ],
            }
        ],
    }


# --- ingest stalled (Prometheus) -------------------------------------------------------------
# Self-contained: its own datasource, group and file (provisioning/alerting/jieneng-ingest-alerts.json).
PROMETHEUS_UID = "jieneng-prom"
INGEST_ALERTS_FILE_NAME = "jieneng-ingest-alerts.json"

# Per ingest process: how long messages have waited with no commit, i.e. the smaller of the oldest
# unacknowledged message's age and the last commit's age (0 while nothing waits). Matches /health.
INGEST_STALLED_PROMQL = (
    "(jieneng_ingest_oldest_unacked_age_seconds < jieneng_ingest_last_commit_age_seconds)"
    " or jieneng_ingest_last_commit_age_seconds * (jieneng_ingest_oldest_unacked_age_seconds > bool 0)"
)


def ingest_stalled_rule(stall_after_s: float) -> dict:
    """ "ingest stalled": messages wait unacknowledged and nothing committed for ``stall_after_s``.

    No data (ingest down, or Prometheus cannot scrape it) alerts too: a stopped ingest is a stall.
    """
    return {
        "uid": "jieneng-ingest-stalled",
        "title": "采集停滞 ingest stalled",
        "condition": "B",
        "data": [
            {
                "refId": "A",
                "relativeTimeRange": {"from": 600, "to": 0},
                "datasourceUid": PROMETHEUS_UID,
                "model": {"refId": "A", "expr": INGEST_STALLED_PROMQL, "instant": True, "range": False},
            },
            {
                "refId": "B",
                "datasourceUid": "__expr__",
                "model": {
                    "refId": "B",
                    "type": "threshold",
                    "expression": "A",
                    "conditions": [{"evaluator": {"type": "gt", "params": [float(stall_after_s)]}}],
                },
            },
        ],
        "noDataState": "Alerting",
        "execErrState": "Error",
        "for": "2m",
        "annotations": {
            "summary": f"Ingest {{{{ $labels.instance }}}}: messages have waited more than {stall_after_s:g} s "
            "with no commit (database slow or hung, writer stuck). See its /health.",
        },
        "labels": {"system": "jieneng"},
    }


def ingest_rules(*, stall_after_s: float) -> dict:
    """The ingest alerting provisioning document (a file of its own beside rules())."""
    return {
        "apiVersion": 1,
        "groups": [
            {
                "orgId": 1,
                "name": "jieneng-ingest",
                "folder": FOLDER,
                "interval": "1m",
                "rules": [ingest_stalled_rule(stall_after_s)],
            }
        ],
    }
