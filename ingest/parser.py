"""MQTT payload parsing (DESIGN §7): pure, no I/O, never raises.

Forms accepted:
- ``{prefix}/{institution}/{meter}`` with one reading ``{"ts": ..., "value": ..., "unit"?: ...}``
  or an array of them;
- ``{prefix}/{institution}/_batch`` with an array of ``{"meter": ..., "ts": ..., "value": ...}``.

``ts`` is ISO 8601 with an offset, naive ISO 8601 (read in the deployment time zone), or epoch
seconds / milliseconds (a number above 1e11 is taken as milliseconds: 1e11 s is the year 5138,
1e11 ms is 1973). Anything else becomes a :class:`Reject` with a reason code; the good readings
of the same message are still returned.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

BATCH_SEGMENT = "_batch"
EPOCH_MS_THRESHOLD = 1e11


@dataclass(frozen=True)
class ParseConfig:
    prefix: str
    tz: tzinfo
    max_payload_bytes: int = 1_048_576
    max_items: int = 10_000
    max_future_s: int = 900
    reject_payload_chars: int = 4096


@dataclass(frozen=True)
class RawReading:
    institution_id: str
    meter_id: str
    ts: datetime  # aware, UTC
    value: float
    unit: str | None = None


@dataclass(frozen=True)
class Reject:
    reason: str
    detail: str
    payload: str
    meter_id: str | None = None


@dataclass
class ParseResult:
    readings: list[RawReading]
    rejects: list[Reject]


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f"…[{len(text) - limit} more chars]"


def _payload_text(payload: bytes, limit: int) -> str:
    return _clip(payload[: limit * 4].decode("utf-8", errors="replace"), limit)


def split_topic(topic: str, prefix: str) -> tuple[str, str] | None:
    """(institution_id, meter_id or ``_batch``) for a topic under ``prefix``, else None."""
    head = prefix.rstrip("/") + "/"
    if not topic.startswith(head):
        return None
    parts = topic[len(head):].split("/")
    if len(parts) != 2 or not parts[0] or not parts[1]:
        return None
    return parts[0], parts[1]


def parse_ts(raw: object, tz: tzinfo) -> datetime:
    """An aware UTC datetime from ISO 8601 (naive = deployment zone) or epoch s/ms; ValueError otherwise."""
    if isinstance(raw, bool):
        raise ValueError("ts must be a string or a number, not a boolean")
    if isinstance(raw, int | float):
        if not math.isfinite(raw):
            raise ValueError("ts is not finite")
        seconds = raw / 1000.0 if abs(raw) >= EPOCH_MS_THRESHOLD else float(raw)
        try:
            return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)
        except OverflowError as exc:
            raise ValueError("ts out of range") from exc
    if isinstance(raw, str):
        try:
            dt = datetime.fromisoformat(raw.strip())
        except ValueError as exc:
            raise ValueError(f"ts {raw[:64]!r} is not ISO 8601") from exc
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=tz)
        try:
            return dt.astimezone(UTC)
        except OverflowError as exc:
            raise ValueError("ts out of range") from exc
    raise ValueError(f"ts must be a string or a number, not {type(raw).__name__}")


def _parse_value(raw: object) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise ValueError(f"value must be a number, not {type(raw).__name__}")
    try:
        value = float(raw)
    except OverflowError as exc:
        raise ValueError("value out of range") from exc
    if not math.isfinite(value):
        raise ValueError("value is not finite")
    return value


def parse_message(topic: str, payload: bytes, cfg: ParseConfig, now: datetime) -> ParseResult:
    """Readings and rejects from one MQTT message. Never raises."""
    try:
        return _parse_message(topic, payload, cfg, now)
    except Exception as exc:  # noqa: BLE001 - a bug here must become a reject, never a stuck stream
        return ParseResult([], [Reject("parse_error", f"{type(exc).__name__}: {exc}",
                                       _payload_text(payload, cfg.reject_payload_chars))])


def _parse_message(topic: str, payload: bytes, cfg: ParseConfig, now: datetime) -> ParseResult:
    limit = cfg.reject_payload_chars

    def whole(reason: str, detail: str, meter_id: str | None = None) -> ParseResult:
        return ParseResult([], [Reject(reason, detail, _payload_text(payload, limit), meter_id)])

    parts = split_topic(topic, cfg.prefix)
    if parts is None:
        return whole("bad_topic", f"expected {cfg.prefix}/{{institution}}/{{meter|_batch}}")
    institution_id, segment = parts
    is_batch = segment == BATCH_SEGMENT
    topic_meter = None if is_batch else segment
    if len(payload) > cfg.max_payload_bytes:
        return whole("payload_too_large", f"{len(payload)} bytes > {cfg.max_payload_bytes}", topic_meter)
    try:
        doc = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        return whole("bad_json", str(exc)[:200], topic_meter)

    if is_batch:
        if not isinstance(doc, list):
            return whole("bad_payload", "a _batch payload must be a JSON array of readings")
        items = doc
    elif isinstance(doc, list):
        items = doc
    elif isinstance(doc, dict):
        items = [doc]
    else:
        return whole("bad_payload", "payload must be a reading object or an array of them", topic_meter)
    if len(items) > cfg.max_items:
        return whole("too_many_items", f"{len(items)} items > {cfg.max_items}", topic_meter)

    latest = now + timedelta(seconds=cfg.max_future_s)
    readings: list[RawReading] = []
    rejects: list[Reject] = []
    for index, item in enumerate(items):
        meter_id = topic_meter

        def bad(reason: str, detail: str, item=item, index=index, meter_id=None) -> None:
            try:
                text = json.dumps(item, ensure_ascii=False, allow_nan=True)
            except (TypeError, ValueError):
                text = repr(item)
            rejects.append(Reject(reason, f"item {index}: {detail}", _clip(text, limit), meter_id))

        if not isinstance(item, dict):
            bad("bad_reading", "a reading must be a JSON object", meter_id=meter_id)
            continue
        if is_batch:
            meter_id = item.get("meter")
            if not isinstance(meter_id, str) or not meter_id:
                bad("bad_reading", "a batch reading needs a string 'meter'")
                continue
        if "ts" not in item or "value" not in item:
            bad("bad_reading", "a reading needs 'ts' and 'value'", meter_id=meter_id)
            continue
        try:
            ts = parse_ts(item["ts"], cfg.tz)
        except ValueError as exc:
            bad("bad_timestamp", str(exc), meter_id=meter_id)
            continue
        if ts > latest:
            bad("future_timestamp", f"ts {ts.isoformat()} is more than {cfg.max_future_s}s ahead of now",
                meter_id=meter_id)
            continue
        try:
            value = _parse_value(item["value"])
        except ValueError as exc:
            reason = "non_finite_value" if "finite" in str(exc) or "range" in str(exc) else "bad_value"
            bad(reason, str(exc), meter_id=meter_id)
            continue
        unit = item.get("unit")
        if unit is not None and not isinstance(unit, str):
            bad("bad_reading", "'unit' must be a string", meter_id=meter_id)
            continue
        readings.append(RawReading(institution_id, meter_id, ts, value, unit))
    return ParseResult(readings, rejects)
