"""Parsing registry cells: each raw text to its Python value, or a CellError naming what is allowed."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date, datetime, time, tzinfo
from typing import Any

from store import codes
from store.registry_files.schema import (
    _CONTROL,
    ID_RE,
    REGION_RE,
    TEXT_DEFAULT_MAX_CHARS,
    TEXT_MAX_CHARS,
    YEAR_MAX,
    YEAR_MIN,
    CellError,
    Col,
    Row,
    RowError,
    Table,
)


def _allowed(table: Mapping[str, str]) -> str:
    return ", ".join(f"{k} ({v})" for k, v in table.items())


def parse_code(text: str, table: Mapping[str, str], what: str) -> str:
    """A code, or its Chinese label (机关 → government); raises CellError naming the allowed values."""
    if text in table:
        return text
    for k, label in table.items():
        if text == label:
            return k
    raise CellError(f"'{text}' is not a valid {what}; allowed: {_allowed(table)}")


def parse_timestamp(text: str, tz: tzinfo) -> datetime:
    """ISO 8601 (a date alone is local midnight); naive values are in the deployment time zone ``tz``."""
    try:
        if len(text) == 10:
            d = date.fromisoformat(text)
            ts = datetime(d.year, d.month, d.day)
        else:
            ts = datetime.fromisoformat(text)
    except ValueError:
        raise CellError(f"not an ISO 8601 timestamp: '{text}'") from None
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=tz)
    return ts


def parse_date(text: str) -> date:
    """A calendar day, YYYY-MM-DD (a workbook's date cell, midnight, is read as its day)."""
    try:
        if len(text) > 10 and datetime.fromisoformat(text).time() == time(0, 0):
            text = text[:10]
        return date.fromisoformat(text)
    except ValueError:
        raise CellError(f"not an ISO 8601 date (YYYY-MM-DD): '{text}'") from None


def _parse_cell(col: Col, text: str, tz: tzinfo) -> Any:
    if col.type == "text":
        if _CONTROL.search(text):
            raise CellError("contains a control character (only tab and line breaks are allowed)")
        most = TEXT_MAX_CHARS.get(col.name, TEXT_DEFAULT_MAX_CHARS)
        if len(text) > most:
            raise CellError(f"{col.name} is {len(text)} characters long; at most {most}")
        return text
    if col.type == "id":
        if not ID_RE.match(text):
            raise CellError(
                f"'{text}' is not a valid id (1-64 characters: letters, digits, '.', '_', '-'; starting with a letter or digit)"
            )
        return text
    if col.type == "region":
        if not REGION_RE.match(text):
            raise CellError(f"'{text}' is not a region code (6 digits, GB/T 2260)")
        return text
    if col.type == "code":
        return parse_code(text, col.codes or {}, col.what)
    if col.type == "unit":
        try:
            return codes.normalize_unit(text)
        except codes.UnitError as exc:
            raise CellError(str(exc)) from None
    if col.type == "int":
        try:
            v = int(text)
        except ValueError:
            raise CellError(f"not a whole number: '{text}'") from None
        if col.year_range and not YEAR_MIN <= v <= YEAR_MAX:
            raise CellError(f"year {v} is out of range {YEAR_MIN}-{YEAR_MAX}")
        if col.positive and v <= 0:
            raise CellError(f"{col.name} must be greater than 0, got {v}")
        return v
    if col.type == "float":
        try:
            v = float(text)
        except ValueError:
            raise CellError(f"not a number: '{text}'") from None
        if not math.isfinite(v):
            raise CellError(f"not a finite number: '{text}'")
        if col.positive and v <= 0:
            raise CellError(f"{col.name} must be greater than 0, got {text}")
        if col.non_negative and v < 0:
            raise CellError(f"{col.name} must not be negative, got {text}")
        return v
    if col.type == "ts":
        return parse_timestamp(text, tz)
    if col.type == "date":
        return parse_date(text)
    raise AssertionError(col.type)


def _parse_row(table: Table, line: int, raw: dict[str, str], tz: tzinfo, errors: list[RowError]) -> Row:
    """Each cell parsed; a bad one is reported and marked _BAD (a missing required one left out)."""
    row = Row(table.kind, table.source, line, {})
    for name, text in raw.items():
        col = table.kind.col(name)
        if text == "":
            if col.required:
                errors.append(row.where(name, "required value missing"))
            else:
                row.values[name] = col.default
            continue
        try:
            row.values[name] = _parse_cell(col, text, tz)
        except CellError as exc:
            errors.append(row.where(name, str(exc)))
            row.values[name] = _BAD
    return row


class _Bad:
    """A cell that failed to parse; later cross-field checks skip it."""

    def __repr__(self) -> str:
        return "<bad>"


_BAD = _Bad()


def _good(row: Row, *names: str) -> bool:
    return all(n in row.values and row.values[n] is not _BAD for n in names)
