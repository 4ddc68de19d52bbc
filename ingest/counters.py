"""Meter semantics as pure functions: readings in, hourly consumption, quarantine and events out.

DESIGN §4. Cumulative registers: consumption between consecutive readings is the difference; a
decrease is a reset (consumption = the new value) unless the meter has a rollover value, in which
case it wrapped (rollover - previous + new). An increment implying more than ``max_rate_per_h`` is
quarantined with a reason and kept out of usage. An increment is spread over the hours it spans in
proportion to time, as billing calendarisation does (ASHRAE Guideline 14 / ENERGY STAR Portfolio
Manager calendarise meter periods this way). Interval registers: each value is the consumption of
the interval ending at ``ts``, so it belongs to the hour containing ``ts - ε`` (10:00 is 09:00-10:00).

Everything here depends only on the *sorted set* of readings, never on arrival order: that is what
makes late data and any split into messages give identical usage.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

HOUR = timedelta(hours=1)
_EPS = timedelta(microseconds=1)


@dataclass(frozen=True)
class MeterSpec:
    register: str  # "cumulative" or "interval"
    multiplier: float = 1.0
    rollover: float | None = None
    max_rate_per_h: float | None = None


@dataclass(frozen=True)
class Quarantined:
    ts_from: datetime
    ts_to: datetime
    increment: float
    reason: str


@dataclass(frozen=True)
class CounterEvent:
    ts_from: datetime
    ts_to: datetime
    kind: str  # "reset" or "rollover"


@dataclass
class UsageResult:
    hourly: dict[datetime, float]
    quarantined: list[Quarantined]
    events: list[CounterEvent]


def floor_hour(ts: datetime) -> datetime:
    """Start of the hour containing ``ts`` (aware datetimes; hours are aligned in UTC)."""
    return ts.replace(minute=0, second=0, microsecond=0)


def ceil_hour(ts: datetime) -> datetime:
    """End of the hour that an instant ending at ``ts`` belongs to: 10:00 -> 10:00, 10:01 -> 11:00."""
    return floor_hour(ts - _EPS) + HOUR


def cumulative_increment(prev_value: float, value: float, rollover: float | None) -> tuple[float, str | None]:
    """Consumption between two counter values (DESIGN §4) and the event it implies, if any."""
    if value >= prev_value:
        return value - prev_value, None
    if rollover is not None:
        return rollover - prev_value + value, "rollover"
    return value, "reset"


def spread_over_hours(ts_from: datetime, ts_to: datetime, amount: float) -> list[tuple[datetime, float]]:
    """``amount`` spread over [ts_from, ts_to) in proportion to the time falling in each hour."""
    total_s = (ts_to - ts_from).total_seconds()
    if total_s <= 0:
        return [(floor_hour(ts_to - _EPS), amount)]
    out: list[tuple[datetime, float]] = []
    hour = floor_hour(ts_from)
    while hour < ts_to:
        end = hour + HOUR
        overlap_s = (min(end, ts_to) - max(hour, ts_from)).total_seconds()
        if overlap_s > 0:
            out.append((hour, amount * overlap_s / total_s))
        hour = end
    return out


def _rate_reason(amount: float, ts_from: datetime, ts_to: datetime, spec: MeterSpec) -> str | None:
    if spec.max_rate_per_h is None:
        return None
    hours = (ts_to - ts_from).total_seconds() / 3600.0
    if hours <= 0:
        return None
    rate = amount / hours
    if rate > spec.max_rate_per_h:
        return f"rate {rate:.6g}/h exceeds max_rate_per_h {spec.max_rate_per_h:.6g}"
    return None


def compute_usage(
    readings: Iterable[tuple[datetime, float]],
    spec: MeterSpec,
    hour_from: datetime | None = None,
    hour_to: datetime | None = None,
) -> UsageResult:
    """Hourly consumption (meter unit x multiplier) from one meter's readings.

    ``readings`` are (ts, value) in the meter's unit, any order, unique ts. When ``hour_from`` /
    ``hour_to`` are given, only hours in [hour_from, hour_to) are returned, and only quarantines and
    events whose interval overlaps that window: the caller passes the readings of the window plus
    one neighbour on each side, so every increment overlapping the window is complete.
    """
    pts: Sequence[tuple[datetime, float]] = sorted(readings)
    hourly: dict[datetime, float] = {}
    quarantined: list[Quarantined] = []
    events: list[CounterEvent] = []

    def in_window(a: datetime, b: datetime) -> bool:
        return (hour_from is None or b > hour_from) and (hour_to is None or a < hour_to)

    def add(hour: datetime, amount: float) -> None:
        if (hour_from is None or hour >= hour_from) and (hour_to is None or hour < hour_to):
            hourly[hour] = hourly.get(hour, 0.0) + amount

    for i in range(1, len(pts)) if spec.register == "cumulative" else ():
        (t0, v0), (t1, v1) = pts[i - 1], pts[i]
        if not in_window(t0, t1):
            continue
        raw, kind = cumulative_increment(v0, v1, spec.rollover)
        if kind is not None:
            events.append(CounterEvent(t0, t1, kind))
        amount = raw * spec.multiplier
        reason = _rate_reason(amount, t0, t1, spec)
        if reason is not None:
            if kind is not None:
                reason = f"{reason} (after {kind})"
            quarantined.append(Quarantined(t0, t1, amount, reason))
            continue
        for hour, part in spread_over_hours(t0, t1, amount):
            add(hour, part)

    if spec.register == "interval":
        for i, (t1, v1) in enumerate(pts):
            amount = v1 * spec.multiplier
            t0 = pts[i - 1][0] if i > 0 else None
            hour = floor_hour(t1 - _EPS)
            if not in_window(t0 or t1 - _EPS, t1):
                continue
            reason = _rate_reason(amount, t0, t1, spec) if t0 is not None else None
            if reason is not None:
                quarantined.append(Quarantined(t0, t1, amount, reason))
                continue
            add(hour, amount)

    return UsageResult(hourly=hourly, quarantined=quarantined, events=events)
