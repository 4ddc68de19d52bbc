"""Reading registry files: CSV (UTF-8 or GB18030) and XLSX (streamed, within bounds) into header-checked tables.

Errors are reported as ``file:line:column: message``: for CSV, ``line`` is the physical line (the
header is line 1); for XLSX, ``file`` is ``book.xlsx[Sheet]`` and ``line`` is the sheet row.
"""

from __future__ import annotations

import csv
import io
import struct
import zipfile
from collections.abc import Iterable
from datetime import date, datetime, time
from typing import Any

from store.registry_files.schema import _SIGNATURE, KINDS, Kind, RowError, Table, float_text
from store.spreadsheet import csv_text_back
from store.xlsx_guard import WorkbookRefused, check_workbook


def read_file(name: str, data: bytes) -> tuple[list[Table], list[RowError]]:
    """The tables in one uploaded file: XLSX when it is a zip (whatever its name), else CSV."""
    if data[:4] == b"PK\x03\x04":
        return read_xlsx(name, data)
    return read_csv(name, data)


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Excel on Chinese Windows saves "CSV" as GBK; GB18030 is its superset.
        return data.decode("gb18030")


def read_csv(name: str, data: bytes) -> tuple[list[Table], list[RowError]]:
    try:
        text = _decode(data)
    except UnicodeDecodeError:
        return [], [RowError(name, 1, "-", "file is neither UTF-8 nor GB18030 text")]
    reader = csv.reader(io.StringIO(text, newline=""))
    records: list[tuple[int, list[str]]] = []
    try:
        prev = 0
        for cells in reader:
            # The apostrophe our exports put before formula-like text (store.spreadsheet) comes off here.
            records.append((prev + 1, [csv_text_back(c) for c in cells]))
            prev = reader.line_num
    except csv.Error as exc:
        return [], [RowError(name, reader.line_num, "-", f"not valid CSV: {exc}")]
    return _table(name, records)


def _cell_text(v: Any) -> str:
    """An XLSX cell as the text a CSV would hold, so both go through one parser."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float):
        return float_text(v)
    if isinstance(v, datetime):
        return v.isoformat()
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, time):
        return v.isoformat()
    return str(v)


# Bounds on a workbook, far above any province's registry: a small hostile file (a declared
# A1:XFD1048576, a row at the bottom of the sheet, a zip that inflates a thousandfold) is refused
# instead of read, and reading stays within a few tens of MB whatever the file declares.
XLSX_MAX_ROWS = 200_000  # per sheet, header included
XLSX_MAX_COLUMNS = 64  # a registry kind has at most 13
XLSX_MAX_CELL_CHARS = 16_384  # half of what Excel allows in a cell; far more than any registry text
XLSX_MAX_UNCOMPRESSED_BYTES = 256 * 2**20  # all parts of the zip together, as declared (zipfile enforces it)
XLSX_MAX_SHARED_STRINGS_BYTES = 64 * 2**20  # openpyxl holds the shared strings in memory ...
XLSX_MAX_CENTRAL_DIRECTORY_BYTES = 2**20  # the zip's table of parts: a few KB in any workbook; zipfile
# builds an object of some 500 bytes per part listed there before anything else can look at them
XLSX_MAX_SHARED_STRINGS = 1_000_000  # ... each as a Python object (some 60 bytes beside its text)
# Past this a cell is refused by the streaming pre-check (store.xlsx_guard) before openpyxl builds it;
# a cell between XLSX_MAX_CELL_CHARS and this is refused by the row reader with its coordinate.
XLSX_SCAN_MAX_CELL_CHARS = 4 * XLSX_MAX_CELL_CHARS


def _central_directory_bytes(data: bytes) -> int | None:
    """The size of the zip's central directory as its end record (ZIP64 when present) declares it: what
    zipfile will parse into one ZipInfo per entry. None when there is no end record."""
    end = data.rfind(b"PK\x05\x06", max(0, len(data) - 65_557))
    if end < 0 or end + 22 > len(data):
        return None
    size = struct.unpack_from("<I", data, end + 12)[0]
    locator = end - 20
    if locator >= 0 and data[locator : locator + 4] == b"PK\x06\x07":
        at = struct.unpack_from("<Q", data, locator + 8)[0]
        if data[at : at + 4] == b"PK\x06\x06" and at + 56 <= len(data):
            size = struct.unpack_from("<Q", data, at + 40)[0]
    return size


def _xlsx_too_big(book_zip: zipfile.ZipFile) -> str | None:
    infos = book_zip.infolist()
    total = sum(i.file_size for i in infos)
    if total > XLSX_MAX_UNCOMPRESSED_BYTES:
        return f"workbook is {total} bytes uncompressed, more than {XLSX_MAX_UNCOMPRESSED_BYTES}"
    shared = sum(i.file_size for i in infos if i.filename.lower().endswith("sharedstrings.xml"))
    if shared > XLSX_MAX_SHARED_STRINGS_BYTES:
        return f"workbook's shared strings are {shared} bytes uncompressed, more than {XLSX_MAX_SHARED_STRINGS_BYTES}"
    return None


def _sheet_records(source: str, sheet: Any, errors: list[RowError]) -> list[tuple[int, list[str]]] | None:
    """The sheet's rows as text cells, trailing empty cells dropped; None when the sheet breaks a bound
    (the error is in ``errors``). Rows past a bound are reported with their row number."""
    from openpyxl.utils import get_column_letter

    # The declared <dimension> is the file's claim, not its content: ignoring it stops openpyxl from
    # padding every row to the declared width and the sheet to the declared height.
    sheet.reset_dimensions()
    records: list[tuple[int, list[str]]] = []
    bad = False
    for line, row in enumerate(sheet.iter_rows(values_only=True), 1):
        last = len(row)
        while last and (row[last - 1] is None or row[last - 1] == ""):
            last -= 1
        if last == 0:
            continue  # a gap between rows, or an empty row: nothing kept
        if line > XLSX_MAX_ROWS:
            errors.append(
                RowError(source, line, "-", f"sheet has more than {XLSX_MAX_ROWS} rows; split the file")
            )
            return None
        if last > XLSX_MAX_COLUMNS:
            cell = f"{get_column_letter(last)}{line}"
            errors.append(
                RowError(source, line, "-", f"cell {cell} lies beyond the first {XLSX_MAX_COLUMNS} columns")
            )
            bad = True
            continue
        cells = [_cell_text(v) for v in row[:last]]
        for col, text in enumerate(cells, 1):
            if len(text) > XLSX_MAX_CELL_CHARS:
                cell = f"{get_column_letter(col)}{line}"
                errors.append(
                    RowError(
                        source,
                        line,
                        "-",
                        f"cell {cell} holds {len(text)} characters, more than {XLSX_MAX_CELL_CHARS}",
                    )
                )
                bad = True
                break
        else:
            records.append((line, cells))
    return None if bad else records


def read_xlsx(name: str, data: bytes) -> tuple[list[Table], list[RowError]]:
    """The workbook's sheets, read streaming (openpyxl read-only) within the XLSX_MAX_* bounds."""
    from openpyxl import load_workbook

    directory = _central_directory_bytes(data)
    if directory is not None and directory > XLSX_MAX_CENTRAL_DIRECTORY_BYTES:
        return [], [
            RowError(
                name,
                1,
                "-",
                f"workbook lists its parts in {directory} bytes, more than"
                f" {XLSX_MAX_CENTRAL_DIRECTORY_BYTES}: far too many parts for a workbook",
            )
        ]
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            too_big = _xlsx_too_big(z)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        return [], [RowError(name, 1, "-", f"not a readable XLSX workbook: {exc}")]
    if too_big:
        return [], [RowError(name, 1, "-", too_big)]
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            check_workbook(
                z,
                max_cell_chars=XLSX_SCAN_MAX_CELL_CHARS,
                max_row_chars=XLSX_MAX_COLUMNS * XLSX_MAX_CELL_CHARS,
                max_shared_strings=XLSX_MAX_SHARED_STRINGS,
            )
    except WorkbookRefused as exc:
        return [], [RowError(name, exc.row or 1, "-", f"workbook refused: {exc}")]
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        # A zip entry that inflates past its declared size fails its CRC check here (zipfile stops at the size).
        return [], [RowError(name, 1, "-", f"not a readable XLSX workbook: {exc}")]
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, SyntaxError) as exc:
        return [], [RowError(name, 1, "-", f"not a readable XLSX workbook: {exc}")]
    tables: list[Table] = []
    errors: list[RowError] = []
    try:
        for sheet in book.worksheets:
            source = f"{name}[{sheet.title}]"
            try:
                records = _sheet_records(source, sheet, errors)
            except (zipfile.BadZipFile, KeyError, OSError, ValueError, SyntaxError) as exc:
                errors.append(RowError(source, 1, "-", f"sheet cannot be read: {exc}"))
                continue
            if records is None:
                continue
            if not records:
                continue  # an empty sheet is not an error
            t, e = _table(source, records)
            tables += t
            errors += e
    finally:
        book.close()
    if not tables and not errors:
        errors.append(RowError(name, 1, "-", "workbook has no sheets with data"))
    return tables, errors


def recognise(header: Iterable[str]) -> Kind | None:
    """The kind whose distinctive columns the header shares most; None when it shares none or ties."""
    cols = set(header)
    scores = sorted(((len(cols & sig), k) for k, sig in _SIGNATURE.items()), reverse=True)
    (best, kind), (second, _) = scores[0], scores[1]
    if best == 0 or best == second:
        return None
    return KINDS[kind]


def _kinds_help() -> str:
    return "; ".join(
        f"{k.name}: {', '.join(c.name for c in k.columns if c.required)}" for k in KINDS.values()
    )


def _table(source: str, records: list[tuple[int, list[str]]]) -> tuple[list[Table], list[RowError]]:
    # Leading blank lines are tolerated; the header is the first non-blank record.
    records = [(ln, [c.strip() for c in cells]) for ln, cells in records]
    while records and not any(records[0][1]):
        records.pop(0)
    if not records:
        return [], [RowError(source, 1, "-", "file is empty: no header line")]
    header_line, header = records[0]
    while header and header[-1] == "":
        header.pop()  # trailing empty cells (spreadsheets pad rows)
    kind = recognise(header)
    if kind is None:
        return [], [
            RowError(
                source,
                header_line,
                "-",
                f"header matches no registry file kind; expected the columns of one of: {_kinds_help()}",
            )
        ]
    errors: list[RowError] = []
    seen: set[str] = set()
    for name in header:
        if name == "":
            errors.append(RowError(source, header_line, "-", "empty column name in header"))
        elif name in seen:
            errors.append(RowError(source, header_line, name, f"duplicate column '{name}'"))
        elif name not in kind.column_names:
            errors.append(
                RowError(
                    source,
                    header_line,
                    name,
                    f"unknown column '{name}' ({kind.name} columns: {', '.join(kind.column_names)})",
                )
            )
        seen.add(name)
    for c in kind.columns:
        if c.required and c.name not in seen:
            errors.append(RowError(source, header_line, c.name, f"missing required column '{c.name}'"))
    if errors:
        return [], errors
    rows: list[tuple[int, dict[str, str]]] = []
    width = len(header)
    for line, cells in records[1:]:
        if not any(cells):
            continue
        extra = cells[width:]
        if any(extra):
            errors.append(
                RowError(source, line, "-", f"row has {len(cells)} cells but the header has {width}")
            )
            continue
        cells = cells[:width] + [""] * (width - len(cells))
        rows.append((line, dict(zip(header, cells, strict=True))))
    return [Table(kind, source, tuple(header), rows)], errors
