"""MQTT payload parsing (docs/design.md §7): pure, no I/O, never raises.

Forms accepted:
- ``{prefix}/{institution}/{meter}`` with one reading ``{"ts": ..., "value": ..., "unit"?: ...}``
  or an array of them;
- ``{prefix}/{institution}/_batch`` with an array of ``{"meter": ..., "ts": ..., "value": ...}``.

``ts`` is ISO 8601 with an offset, naive ISO 8601 (read in the deployment time zone), or epoch
seconds / milliseconds (a number above 1e11 is taken as milliseconds: 1e11 s is the year 5138,
1e11 ms is 1973). Anything else becomes a :class:`Reject` with a reason code; the good readings
of the same message are still returned.

Text PostgreSQL cannot store (a NUL, a lone surrogate from a ``\\ud800`` escape or from a topic's
bytes that are not UTF-8, see ingest/transport.py) is refused where it would reach a column (topic,
``meter``, ``ts``, ``unit``: reason ``unstorable_text``), and every
reject's own text is made storable with :func:`storable_text`, so writing a reject cannot fail on
the content it describes. Ids longer than :data:`MAX_ID_CHARS` are refused too: no index row could
hold them.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import NamedTuple

BATCH_SEGMENT = "_batch"
EPOCH_MS_THRESHOLD = 1e11
# Registry ids are short codes; a longer one is a hostile or broken sender (and a btree index row
# holds at most ~2.7 kB, so an id many times this long could not even be recorded as a reject).
MAX_ID_CHARS = 256
# What a PostgreSQL text value cannot hold: NUL, and UTF-16 surrogates (no UTF-8 form exists).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


@dataclass(frozen=True)
class ParseConfig:
    prefix: str
    tz: tzinfo
    max_payload_bytes: int = 1_048_576
    max_items: int = 10_000
    max_future_s: int = 900
    reject_payload_chars: int = 4096


class RawReading(NamedTuple):  # a tuple: one is built per reading, at the rate ingest runs at
    institution_id: str
    meter_id: str
    ts: datetime  # aware, UTC
    value: float
    unit: str | None = None
    item: int = -1  # position in the message's array (0 for a single object)


@dataclass(frozen=True)
class Reject:
    reason: str
    detail: str
    payload: str
    meter_id: str | None = None
    item: int | None = None  # the reading's position in the message; None: the whole message
    payload_raw: bytes | None = None  # the exact bytes, when ``payload`` is an escaped form of them


@dataclass
class ParseResult:
    readings: list[RawReading]
    rejects: list[Reject]
    # The reading items the message held when it was refused whole after they were counted (too many);
    # None: one per reading and reject (a message that was not parsed into items counts as one).
    items: int | None = None

    @property
    def item_count(self) -> int:
        """The reading items the message carried, as its publisher counted them."""
        return len(self.readings) + len(self.rejects) if self.items is None else self.items


def has_unstorable(text: str) -> bool:
    return _UNSTORABLE.search(text) is not None


def _escape(m: re.Match) -> str:
    c = ord(m.group())
    return "\\x00" if c == 0 else f"\\u{c:04x}"


def storable_text(text: str) -> str:
    """``text`` with each NUL and lone surrogate written as a backslash escape (``\\x00``, ``\\ud800``)."""
    return _UNSTORABLE.sub(_escape, text)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f"…[{len(text) - limit} more chars]"


def payload_fields(payload: bytes, limit: int) -> tuple[str, bytes | None]:
    """A reject's payload as storable text (at most ``limit`` chars), and the raw bytes when the text
    is not a plain decoding of them (invalid UTF-8 is written ``\\xff``, a NUL ``\\x00``)."""
    head = payload[: limit * 4]
    plain = head.decode("utf-8", errors="backslashreplace")
    text = storable_text(plain)
    try:
        exact = text == plain and head.decode("utf-8") == plain
    except UnicodeDecodeError:
        exact = False
    return _clip(text, limit), None if exact else head


def _item_text(item: object, limit: int) -> str:
    try:
        text = json.dumps(item, ensure_ascii=False, allow_nan=True)
    except (TypeError, ValueError, RecursionError):
        try:
            text = repr(item)
        except RecursionError:
            text = f"<{type(item).__name__} nested too deeply to print>"
    return _clip(storable_text(text), limit)


def _id_problem(name: str, value: str) -> tuple[str, str] | None:
    """(reason, detail) when ``value`` cannot serve as an id in the database, else None."""
    if has_unstorable(value):
        return (
            "unstorable_text",
            f"{name} holds a NUL or a lone surrogate, which PostgreSQL text cannot store",
        )
    if len(value) > MAX_ID_CHARS:
        return "bad_reading", f"{name} is {len(value)} characters long (at most {MAX_ID_CHARS})"
    return None


def split_topic(topic: str, prefix: str) -> tuple[str, str] | None:
    """(institution_id, meter_id or ``_batch``) for a topic under ``prefix``, else None."""
    head = prefix.rstrip("/") + "/"
    if not topic.startswith(head):
        return None
    parts = topic[len(head) :].split("/")
    if len(parts) != 2 or not parts[0] or not parts[1]:
        return None
    return parts[0], parts[1]


def parse_ts(raw: object, tz: tzinfo) -> datetime:
    """An aware UTC datetime from ISO 8601 (naive = deployment zone) or epoch s/ms; ValueError otherwise."""
    if isinstance(raw, bool):
        raise ValueError("ts must be a string or a number, not a boolean")
    if isinstance(raw, int | float):
        try:
            number = float(raw)  # an integer of 400 digits is valid JSON and too large for a float
        except OverflowError as exc:
            raise ValueError("ts out of range") from exc
        if not math.isfinite(number):
            raise ValueError("ts is not finite")
        seconds = number / 1000.0 if abs(number) >= EPOCH_MS_THRESHOLD else number
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
        text, raw = payload_fields(payload, cfg.reject_payload_chars)
        return ParseResult(
            [],
            [
                Reject(
                    "parse_error", storable_text(f"{type(exc).__name__}: {exc}"[:500]), text, payload_raw=raw
                )
            ],
        )


def _parse_message(topic: str, payload: bytes, cfg: ParseConfig, now: datetime) -> ParseResult:
    limit = cfg.reject_payload_chars

    def whole(reason: str, detail: str, meter_id: str | None = None, items: int | None = None) -> ParseResult:
        text, raw = payload_fields(payload, limit)
        return ParseResult([], [Reject(reason, detail, text, meter_id, payload_raw=raw)], items)

    if has_unstorable(topic):
        return whole("unstorable_text", "the topic holds a NUL or a lone surrogate")
    parts = split_topic(topic, cfg.prefix)
    if parts is None:
        return whole("bad_topic", f"expected {cfg.prefix}/{{institution}}/{{meter|_batch}}")
    institution_id, segment = parts
    for name, value in (("institution id", institution_id), ("meter id", segment)):
        if (problem := _id_problem(f"the topic's {name}", value)) is not None:
            return whole(problem[0], problem[1])
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
        return whole("too_many_items", f"{len(items)} items > {cfg.max_items}", topic_meter, len(items))

    latest = now + timedelta(seconds=cfg.max_future_s)
    readings: list[RawReading] = []
    rejects: list[Reject] = []
    # A string decoded from strict UTF-8 JSON can hold a NUL or a lone surrogate only through a \u
    # escape (raw control characters and unpaired surrogates are refused by the decoders), so without
    # one no field needs the per-string check: the common case, at the rate ingest runs at.
    escapes = b"\\u" in payload

    def bad(index: int, item: object, reason: str, detail: str, meter_id: str | None = None) -> None:
        rejects.append(
            Reject(
                reason,
                storable_text(f"item {index}: {detail}"),
                _item_text(item, limit),
                meter_id,
                item=index,
            )
        )

    for index, item in enumerate(items):
        meter_id = topic_meter
        if not isinstance(item, dict):
            bad(index, item, "bad_reading", "a reading must be a JSON object", meter_id)
            continue
        if is_batch:
            meter_id = item.get("meter")
            if not isinstance(meter_id, str) or not meter_id:
                bad(index, item, "bad_reading", "a batch reading needs a string 'meter'")
                continue
            if (escapes or len(meter_id) > MAX_ID_CHARS) and (
                problem := _id_problem("'meter'", meter_id)
            ) is not None:
                bad(index, item, *problem)
                continue
        if "ts" not in item or "value" not in item:
            bad(index, item, "bad_reading", "a reading needs 'ts' and 'value'", meter_id)
            continue
        raw_ts = item["ts"]
        unit = item.get("unit")
        if escapes:
            names = [
                f"'{k}'"
                for k, v in (("ts", raw_ts), ("unit", unit))
                if isinstance(v, str) and has_unstorable(v)
            ]
            if names:
                bad(
                    index,
                    item,
                    "unstorable_text",
                    f"{', '.join(names)} holds a NUL or a lone surrogate, which PostgreSQL text cannot store",
                    meter_id,
                )
                continue
        try:
            ts = parse_ts(raw_ts, cfg.tz)
        except ValueError as exc:
            bad(index, item, "bad_timestamp", str(exc), meter_id)
            continue
        if ts > latest:
            bad(
                index,
                item,
                "future_timestamp",
                f"ts {ts.isoformat()} is more than {cfg.max_future_s}s ahead of now",
                meter_id,
            )
            continue
        try:
            value = _parse_value(item["value"])
        except ValueError as exc:
            reason = "non_finite_value" if "finite" in str(exc) or "range" in str(exc) else "bad_value"
            bad(index, item, reason, str(exc), meter_id)
            continue
        if unit is not None and not isinstance(unit, str):
            bad(index, item, "bad_reading", "'unit' must be a string", meter_id)
            continue
        readings.append(RawReading(institution_id, meter_id, ts, value, unit, index))
    return ParseResult(readings, rejects)
