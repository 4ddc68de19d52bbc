"""Readings checked against the meter registry, from a cache refreshed when the registry changes.

The cache is keyed by ``registry_version`` (migration 0005: a trigger bumps it on any change to
``meter`` or ``institution``), read inside each batch's transaction, so a meter added or retired is
seen by the next batch without a restart and without reloading the registry on every batch.

A value is checked after the unit factor and after the meter's multiplier, where an overflow
happens (1e308 MWh is finite; in kWh it is not): it must be finite (``non_finite_value``) and, scaled
by the multiplier, at most :data:`MAX_ABS_READING` (``value_out_of_range``), so that no sum of
readings in any rollup can overflow either.

A stored value is in the unit of the meter's configuration period in force at its timestamp
(``meter_config``, migration 0011), since that is how the rollup reads it: a late reading that
names its unit, for a time before a change of the meter's unit, is converted to the unit of its
own period, not to the current one. The unit, register kind and multiplier checked are those of
that period too.
"""

from __future__ import annotations

import json
import math
from bisect import bisect_right
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple

import psycopg

from ingest.parser import RawReading, Reject, storable_text
from store.codes import UnitError, conversion_factor, normalize_unit
from store.registry import MeterRow, list_meters

# The largest magnitude a reading may have in its meter's unit, after the multiplier. 1e15 Wh is a
# terawatt-hour, orders of magnitude above any building's register, yet any sum of such readings over
# a province and a century stays far inside float range (1.8e308).
MAX_ABS_READING = 1e15


@dataclass(frozen=True)
class MeterInfo(MeterRow):
    """A registry meter (store.registry.MeterRow, its times in UTC) with its configuration periods."""

    # (valid_from, unit, register, multiplier) of each configuration period, oldest first; None as
    # valid_from: from the beginning. Empty: the meter's own fields hold for all time.
    periods: tuple[tuple[datetime | None, str, str, float], ...] = ()

    def at(self, ts: datetime) -> tuple[str, str, float]:
        """(unit, register, multiplier) in force at ``ts``: the latest period starting at or before
        it, else the earliest (as ``meter_config_at`` in migration 0011)."""
        if not self.periods:
            return self.unit, self.register, self.multiplier
        # Only the earliest period may start at None; the rest are searched (a meter may have thousands).
        chosen = self.periods[bisect_right(self.periods, ts, lo=1, key=lambda p: p[0]) - 1]
        return chosen[1], chosen[2], chosen[3]


class GoodReading(NamedTuple):  # a tuple: one is built per reading, at the rate ingest runs at
    meter_id: str
    ts: datetime
    value: float  # in the meter's unit, before the multiplier


def _utc(ts: datetime | None) -> datetime | None:
    """In UTC, the zone the parser gives every reading: aware datetimes with one tzinfo object compare
    without a utcoffset() call each, and validation compares every reading with several of them."""
    return None if ts is None else ts.astimezone(UTC)


class RegistryCache:
    def __init__(self) -> None:
        self.version: int | None = None
        self.meters: dict[str, MeterInfo] = {}
        self.loads = 0

    def refresh(self, conn: psycopg.Connection) -> None:
        """Reload the meters when the registry version moved since the last load."""
        version = conn.execute("SELECT version FROM registry_version").fetchone()[0]
        if version == self.version:
            return
        rows = list_meters(conn)
        periods: dict[str, list[tuple]] = {}
        for meter_id, valid_from, *period in conn.execute(
            "SELECT meter_id, nullif(valid_from, '-infinity'), unit, register, multiplier FROM meter_config"
            " ORDER BY meter_id, valid_from"
        ):
            periods.setdefault(meter_id, []).append((_utc(valid_from), *period))
        self.meters = {
            r.id: MeterInfo(
                **r.__dict__
                | {
                    "installed_at": _utc(r.installed_at),
                    "retired_at": _utc(r.retired_at),
                    "periods": tuple(periods.get(r.id, ())),
                }
            )
            for r in rows
        }
        self.version = version
        self.loads += 1


def _item_text(r: RawReading, limit: int) -> str:
    item = {"meter": r.meter_id, "ts": r.ts.isoformat(), "value": r.value}
    if r.unit is not None:
        item["unit"] = r.unit
    return storable_text(json.dumps(item, ensure_ascii=False)[:limit])


def validate(
    readings: list[RawReading],
    meters: dict[str, MeterInfo],
    payload_chars: int = 4096,
    horizon: datetime | None = None,
) -> tuple[list[GoodReading], list[Reject]]:
    """Good readings (converted to the meter's unit) and a reject with a reason for each bad one.

    ``horizon``: readings older than this are refused (``older_than_retention``): raw data before it
    may already be dropped by the retention policy, so such a reading cannot be rolled up correctly.
    """
    good: list[GoodReading] = []
    rejects: list[Reject] = []
    factors: dict[tuple[str, str], float] = {}

    def bad(r: RawReading, reason: str, detail: str) -> None:
        rejects.append(
            Reject(reason, storable_text(detail), _item_text(r, payload_chars), r.meter_id, item=r.item)
        )

    for r in readings:
        m = meters.get(r.meter_id)
        if m is None:
            bad(r, "unknown_meter", f"meter {r.meter_id!r} is not in the registry")
            continue
        if m.institution_id != r.institution_id:
            bad(
                r,
                "wrong_institution",
                f"meter {r.meter_id!r} belongs to {m.institution_id!r}, topic says {r.institution_id!r}",
            )
            continue
        if r.ts < m.installed_at:
            bad(
                r,
                "before_install",
                f"ts {r.ts.isoformat()} is before the meter's install date {m.installed_at.isoformat()}",
            )
            continue
        if m.retired_at is not None and r.ts > m.retired_at:
            bad(
                r,
                "meter_retired",
                f"ts {r.ts.isoformat()} is after the meter was retired {m.retired_at.isoformat()}",
            )
            continue
        if horizon is not None and r.ts < horizon:
            bad(
                r,
                "older_than_retention",
                f"ts {r.ts.isoformat()} is older than the raw-data retention horizon {horizon.isoformat()}",
            )
            continue
        value = r.value
        unit, register, multiplier = m.at(r.ts)
        if r.unit is not None:
            key = (r.unit, unit)
            factor = factors.get(key)
            if factor is None:
                try:
                    factor = conversion_factor(normalize_unit(r.unit), normalize_unit(unit))
                except UnitError as exc:
                    reason = "unknown_unit" if "unknown unit" in str(exc) else "incompatible_unit"
                    bad(r, reason, str(exc))
                    continue
                factors[key] = factor
            value = value * factor
            if not math.isfinite(value):
                bad(r, "non_finite_value", f"value {r.value!r} {r.unit} is not finite in {unit}")
                continue
        scaled = value * multiplier
        if not math.isfinite(scaled):
            bad(
                r,
                "non_finite_value",
                f"value {value!r} {unit} times the meter's multiplier {multiplier} is not finite",
            )
            continue
        if abs(scaled) > MAX_ABS_READING:
            bad(
                r,
                "value_out_of_range",
                f"value {value!r} {unit} times the meter's multiplier {multiplier} exceeds {MAX_ABS_READING:g}",
            )
            continue
        if register == "cumulative" and value < 0:
            bad(r, "negative_value", f"cumulative value {value} is negative")
            continue
        good.append(GoodReading(r.meter_id, r.ts, value))
    return good, rejects
