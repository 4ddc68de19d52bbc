"""Grafana alert rules (file provisioning): silent meters and night base load.

Grafana turns a table result with one numeric column and string columns into one series per row,
labelled by the string columns, so each meter or institution alerts on its own.
"""

from __future__ import annotations

from dashboards.model import DATASOURCE_UID
from dashboards.sql import ELEC_KWH, TZ

FOLDER = "节能 jieneng"

SILENT_SQL = " ".join("""
SELECT m.id AS meter, m.institution_id AS institution,
       coalesce(extract(epoch from now() - last.ts), extract(epoch from now() - m.installed_at)) / 3600 AS hours_silent
FROM meter m
LEFT JOIN LATERAL (SELECT r.ts FROM reading r WHERE r.meter_id = m.id ORDER BY r.ts DESC LIMIT 1) last ON true
WHERE m.retired_at IS NULL
""".split())

# Night (00:00-05:00 local) mean electric load as a share of weekday working-hours (08:00-18:00) load,
# over the last 7 local days, per institution.
NIGHT_SQL = " ".join(f"""
WITH hourly AS (
  SELECT m.institution_id, h.hour AT TIME ZONE {TZ} AS local_hour, sum(h.consumption * {ELEC_KWH}) AS kwh
  FROM usage_hourly h JOIN meter m ON m.id = h.meter_id
  WHERE m.energy_type = 'electricity' AND m.parent_meter_id IS NULL AND h.hour >= now() - interval '7 days'
  GROUP BY 1, 2
)
SELECT institution_id AS institution,
       avg(kwh) FILTER (WHERE extract(hour from local_hour) < 5)
         / nullif(avg(kwh) FILTER (WHERE extract(hour from local_hour) BETWEEN 8 AND 17
                                    AND extract(isodow from local_hour) < 6), 0) AS night_share
FROM hourly GROUP BY institution_id
HAVING count(*) FILTER (WHERE extract(hour from local_hour) BETWEEN 8 AND 17) > 0
""".split())


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
                "model": {"refId": "A", "editorMode": "code", "format": "table", "rawQuery": True, "rawSql": sql},
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


def rules(*, silent_hours: float, night_load_share: float) -> dict:
    """The alerting provisioning document; thresholds come from settings at build time."""
    return {
        "apiVersion": 1,
        "groups": [
            {
                "orgId": 1,
                "name": "jieneng",
                "folder": FOLDER,
                "interval": "5m",
                "rules": [
                    _rule("jieneng-meter-silent", "计量表静默 Meter silent", SILENT_SQL, silent_hours,
                          f"Meter {{{{ $labels.meter }}}} has sent no reading for more than {silent_hours:g} h.",
                          "10m"),
                    _rule("jieneng-night-base-load", "夜间基荷偏高 Night base load high", NIGHT_SQL,
                          night_load_share,
                          f"Institution {{{{ $labels.institution }}}}: night load is more than "
                          f"{night_load_share:.0%} of weekday daytime load (last 7 days).",
                          "1h"),
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
    """"ingest stalled": messages wait unacknowledged and nothing committed for ``stall_after_s``.

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
