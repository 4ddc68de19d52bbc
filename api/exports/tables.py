"""Tabular exports: CSV that Excel opens with Chinese intact, and XLSX with typed cells.

No cell ever becomes a formula: text goes through ``store.spreadsheet`` (CSV injection), numbers stay numbers.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from fastapi.responses import Response
from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from store.spreadsheet import csv_text, xlsx_append

Columns = Sequence[tuple[str, str]]  # (row key, header)

MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}


def _cell(value: Any) -> Any:
    """A number as itself (written bare), anything else as its protected text (written quoted)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, int | float | Decimal):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, str):
        return csv_text(value)
    return csv_text(str(value))


def to_csv(columns: Columns, rows: Sequence[dict]) -> bytes:
    """UTF-8 with a byte-order mark: without it Excel reads the file as the local ANSI code page.

    Every text cell is quoted (OWASP): where Excel's list separator is ``;`` (or another character a
    name may hold), an unquoted ``x;=HYPERLINK(...)`` would split into a second cell that starts a
    formula. Numbers stay bare, so spreadsheets read them as numbers."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n", quoting=csv.QUOTE_NONNUMERIC)
    writer.writerow([csv_text(header) for _, header in columns])
    for row in rows:
        writer.writerow([_cell(row.get(key)) for key, _ in columns])
    return buf.getvalue().encode("utf-8-sig")


def _xlsx_value(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is not None:
        # Excel has no time zones: write the local wall time the value was rendered in.
        return value.replace(tzinfo=None)
    if isinstance(value, list | dict):
        return str(value)
    return value


def to_xlsx(columns: Columns, rows: Sequence[dict], *, title: str) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = title[:31]
    xlsx_append(ws, [header for _, header in columns])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in rows:
        xlsx_append(ws, [_xlsx_value(row.get(key)) for key, _ in columns])
    ws.freeze_panes = "A2"
    for idx, (_, header) in enumerate(columns, start=1):
        ws.column_dimensions[get_column_letter(idx)].width = max(10, min(40, len(header) * 2 + 2))
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def file_response(data: bytes, fmt: str, filename: str, *, headers: dict[str, str] | None = None) -> Response:
    # RFC 6266/5987: an ASCII fallback name plus the UTF-8 one.
    from urllib.parse import quote

    ascii_name = filename.encode("ascii", "replace").decode().replace("?", "_")
    disposition = f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"
    return Response(
        content=data,
        media_type=MEDIA_TYPES[fmt],
        headers={"Content-Disposition": disposition, **(headers or {})},
    )


def file_responses(*fmts: str) -> dict:
    """OpenAPI `responses` entry declaring the file types a JSON endpoint can also return."""
    return {
        200: {
            "content": {
                MEDIA_TYPES[f].split(";")[0]: {"schema": {"type": "string", "format": "binary"}} for f in fmts
            }
        }
    }
