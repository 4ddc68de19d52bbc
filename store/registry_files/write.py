"""Writing registry files: deterministic CSV and XLSX (byte-identical for the same rows)."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterable, Mapping
from datetime import datetime, tzinfo
from typing import Any

from store.registry_files.schema import KINDS, Col, Kind, float_text
from store.spreadsheet import csv_text, xlsx_append


def format_value(col: Col, v: Any, tz: tzinfo) -> str:
    """The file text for a database value: empty for NULL, timestamps with their offset in ``tz``."""
    if v is None:
        return ""
    if col.type == "ts":
        return v.astimezone(tz).isoformat()
    if col.type == "float":
        return float_text(v)
    return str(v)


def _csv_cell(col: Col, text: str) -> str:
    """Text cells protected against formula injection; numbers as written (a negative is not a formula)."""
    return text if col.type in ("int", "float") else csv_text(text)


def write_csv(kind: Kind, rows: Iterable[Mapping[str, Any]], tz: tzinfo) -> bytes:
    """UTF-8 CSV (no BOM, LF line ends) with the kind's columns in table order."""
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\n")
    # With "\n" as line end, the csv module leaves a bare "\r" unquoted and a reader then splits the
    # row there; rows holding one are written fully quoted instead.
    w_all = csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_ALL)
    w.writerow(kind.column_names)
    for row in rows:
        cells = [_csv_cell(c, format_value(c, row.get(c.name), tz)) for c in kind.columns]
        (w_all if any("\r" in x for x in cells) else w).writerow(cells)
    return buf.getvalue().encode("utf-8")


_FIXED_ZIP_TIME = (2020, 1, 1, 0, 0, 0)


def write_xlsx(tables: Mapping[str, Iterable[Mapping[str, Any]]], tz: tzinfo) -> bytes:
    """One workbook, one sheet per kind named after it; numbers as numbers, timestamps as ISO text.

    Timestamps stay text because Excel cells cannot hold a UTC offset. The bytes are deterministic
    (fixed zip entry times and document dates), so regenerated workbooks diff cleanly.
    """
    from openpyxl import Workbook

    book = Workbook()
    book.remove(book.active)
    for kind_name, rows in tables.items():
        kind = KINDS[kind_name]
        sheet = book.create_sheet(kind.name)
        xlsx_append(sheet, list(kind.column_names))
        for row in rows:
            out = []
            for c in kind.columns:
                v = row.get(c.name)
                if v is None:
                    out.append(None)
                elif c.type == "ts":
                    out.append(format_value(c, v, tz))
                elif c.type == "float":
                    out.append(int(v) if float(v).is_integer() and abs(v) < 2**53 else float(v))
                else:
                    out.append(v)
            xlsx_append(sheet, out)
        for letter, c in zip("ABCDEFGHIJKLMNOPQRSTUVWXYZ", kind.columns, strict=False):
            sheet.column_dimensions[letter].width = max(10, len(c.name) + 2)
    fixed = datetime(*_FIXED_ZIP_TIME)
    book.properties.created = fixed
    raw = io.BytesIO()
    book.save(raw)
    return _normalise_zip(raw.getvalue())


_CORE_DATES = re.compile(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*(</dcterms:)")


def _normalise_zip(data: bytes) -> bytes:
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            content = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                content = _CORE_DATES.sub(rb"\g<1>2020-01-01T00:00:00Z\g<2>", content)
            dst.writestr(
                zipfile.ZipInfo(info.filename, date_time=_FIXED_ZIP_TIME), content, zipfile.ZIP_DEFLATED
            )
    return out.getvalue()
