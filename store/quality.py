"""Data quality per meter and period (docs/design.md §4), read by scoring and the API.

- expected_hours: hours of [start, end) during which the meter was installed and not retired;
- hours_with_data: of those, hours holding at least one reading; a reading at ts counts for the
  hour containing ts - 1 µs (a reading at 10:00 closes 09:00-10:00), for both register kinds;
- coverage = hours_with_data / expected_hours (1.0 when nothing was expected);
- longest_gap_hours: longest run of expected hours without a reading;
- resets, rollovers, quarantined: counter events and quarantined increments ending in the period;
- conflicts, rejects: repeats with another value and refused readings for the meter, by reading ts
  (conflicts) and by receipt time (rejects).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psycopg

HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class MeterQuality:
    """Data quality of one meter over one period: the one record of these figures.

    `meter_quality` fills every figure. Scoring keeps one per meter and year (scoring.inputs), where a year
    whose coverage is judged against the meter's expected reading interval (store.coverage.meter_window_coverage)
    but whose hourly figures were not read has only `coverage`: None is "not known". The API's quality rows
    and the meter lines of a scoring result (scoring.model.MeterQualityInfo) take their fields from here.
    """

    meter_id: str
    expected_hours: float | None = None  # whole hours the meter was in service (a count)
    hours_with_data: float | None = None  # of those, hours holding a reading (a count)
    coverage: float | None = None  # 0..1
    longest_gap_hours: float | None = None
    resets: int | None = None
    rollovers: int | None = None
    quarantined: int | None = None
    conflicts: int | None = None
    rejects: int | None = None


def _floor_hour(ts: datetime) -> datetime:
    return ts.replace(minute=0, second=0, microsecond=0)


def _ceil_hour(ts: datetime) -> datetime:
    f = _floor_hour(ts)
    return f if f == ts else f + HOUR


_METER_QUALITY = """
WITH m AS (
    SELECT id, greatest(%(start)s, installed_at) AS a, least(%(end)s, coalesce(retired_at, %(end)s)) AS b
    FROM meter WHERE %(all)s OR id = ANY(%(ids)s)
)
SELECT m.id, m.a, m.b,
    (SELECT array_agg(DISTINCT date_trunc('hour', r.ts - interval '1 microsecond') ORDER BY
            date_trunc('hour', r.ts - interval '1 microsecond'))
       FROM reading r WHERE r.meter_id = m.id AND r.ts > m.a AND r.ts <= m.b),
    (SELECT count(*) FROM usage_counter_event e WHERE e.meter_id = m.id AND e.kind = 'reset'
        AND e.ts_to > %(start)s AND e.ts_to <= %(end)s),
    (SELECT count(*) FROM usage_counter_event e WHERE e.meter_id = m.id AND e.kind = 'rollover'
        AND e.ts_to > %(start)s AND e.ts_to <= %(end)s),
    (SELECT count(*) FROM usage_quarantine q WHERE q.meter_id = m.id
        AND q.ts_to > %(start)s AND q.ts_to <= %(end)s),
    (SELECT count(*) FROM reading_conflict c WHERE c.meter_id = m.id AND c.ts >= %(start)s AND c.ts < %(end)s),
    (SELECT count(*) FROM ingest_reject j WHERE j.meter_id = m.id
        AND j.received_at >= %(start)s AND j.received_at < %(end)s)
FROM m ORDER BY m.id
"""


def meter_quality(
    conn: psycopg.Connection, start: datetime, end: datetime, meter_ids: list[str] | None = None
) -> list[MeterQuality]:
    """Quality figures for each meter (all meters when ``meter_ids`` is None) over [start, end)."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be timezone-aware")
    params = {"start": start, "end": end, "all": meter_ids is None, "ids": list(meter_ids or [])}
    out: list[MeterQuality] = []
    for meter_id, a, b, hours, resets, rollovers, quarantined, conflicts, rejects in conn.execute(
        _METER_QUALITY, params
    ):
        first, last = _ceil_hour(a), _floor_hour(b)  # whole hours only
        expected = max(0, int((last - first) / HOUR))
        have = sorted(h for h in (hours or []) if first <= h < last)
        longest = 0
        cursor = first
        for h in have:
            longest = max(longest, int((h - cursor) / HOUR))
            cursor = h + HOUR
        if expected:
            longest = max(longest, int((last - cursor) / HOUR))
        out.append(
            MeterQuality(
                meter_id=meter_id,
                expected_hours=expected,
                hours_with_data=len(have),
                coverage=(len(have) / expected) if expected else 1.0,
                longest_gap_hours=longest,
                resets=resets,
                rollovers=rollovers,
                quarantined=quarantined,
                conflicts=conflicts,
                rejects=rejects,
            )
        )
    return out
