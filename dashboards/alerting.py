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
