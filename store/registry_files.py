"""Registry files: read, validate and write institutions / institution years / meters / reported usage as CSV or XLSX.

Pure: no database here. ``store.registry`` loads what validation needs from the database into a
``DbState`` and runs the import transaction. Column names follow store/migrations/0001_core.sql;
the codes and their Chinese labels come from ``store.codes``. docs/registry.md documents it all.

Errors are reported as ``file:line:column: message``: for CSV, ``line`` is the physical line (the
header is line 1); for XLSX, ``file`` is ``book.xlsx[Sheet]`` and ``line`` is the sheet row.
"""

from __future__ import annotations

import csv
import io
import math
import re
import struct
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, tzinfo
from typing import Any

from store import codes
from store.spreadsheet import csv_text, csv_text_back, xlsx_append
from store.xlsx_guard import WorkbookRefused, check_workbook

# --- column and file-kind definitions -------------------------------------------------------------

ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")  # the CHECK on institution.id and meter.id
REGION_RE = re.compile(r"^[0-9]{6}$")
# Characters XLSX cannot hold (and no name needs): export as a workbook would fail on them.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
YEAR_MIN, YEAR_MAX = 2000, 2100  # the CHECK on institution_year.year
# Longest free text per column, in characters (any other text column: TEXT_DEFAULT_MAX_CHARS). Names go
# into ranking tables and PDF headings; the longest official Chinese institution names are under 60.
TEXT_MAX_CHARS = {"name": 200, "address": 500}
TEXT_DEFAULT_MAX_CHARS = 1000


@dataclass(frozen=True)
class Col:
    name: str
    type: str  # id | text | code | int | float | ts | date | unit | region
    required: bool = False  # the header must have it and every row a value
    codes: Mapping[str, str] | None = None
    what: str = ""  # how messages name the allowed set
    positive: bool = False
    non_negative: bool = False
    year_range: bool = False
    default: Any = None  # used for an empty cell of an optional column


@dataclass(frozen=True)
class Kind:
    name: str  # institutions | institution_years | meters | reported_usage
    table: str
    filename: str
    key: tuple[str, ...]
    columns: tuple[Col, ...]

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def col(self, name: str) -> Col:
        return next(c for c in self.columns if c.name == name)


INSTITUTIONS = Kind(
    "institutions",
    "institution",
    "institutions.csv",
    ("id",),
    (
        Col("id", "id", required=True),
        Col("name", "text", required=True),
        Col("category", "code", required=True, codes=codes.CATEGORIES, what="category"),
        Col("sub_kind", "text"),  # checked against the row's category
        Col("admin_level", "code", required=True, codes=codes.ADMIN_LEVELS, what="admin_level"),
        Col("region_code", "region", required=True),
        Col("climate_zone", "code", required=True, codes=codes.CLIMATE_ZONES, what="climate_zone"),
        Col("baseline_year", "int", year_range=True),
        Col("address", "text"),
    ),
)

INSTITUTION_YEARS = Kind(
    "institution_years",
    "institution_year",
    "institution_years.csv",
    ("institution_id", "year"),
    (
        Col("institution_id", "id", required=True),
        Col("year", "int", required=True, year_range=True),
        Col("floor_area_m2", "float", required=True, positive=True),
        Col("occupants", "int", required=True, positive=True),
        # yes: occupants include the students (schools); no: staff only; empty: not stated
        Col("students_counted", "code", codes=codes.STUDENTS_COUNTED, what="students_counted"),
    ),
)

METERS = Kind(
    "meters",
    "meter",
    "meters.csv",
    ("id",),
    (
        Col("id", "id", required=True),
        Col("institution_id", "id", required=True),
        Col("name", "text"),
        Col("energy_type", "code", required=True, codes=codes.ENERGY_TYPES, what="energy_type"),
        Col("unit", "unit", required=True),
        Col("register", "code", required=True, codes=codes.REGISTERS, what="register"),
        Col("end_use", "code", required=True, codes=codes.END_USES, what="end_use"),
        Col("parent_meter_id", "id"),
        Col("multiplier", "float", positive=True, default=1.0),
        Col("rollover", "float", positive=True),
        Col("max_rate_per_h", "float", positive=True),
        # When the row's unit, register, multiplier, rollover and max_rate_per_h took effect (a CT
        # changed on a given day); empty: from the beginning. Earlier configurations stay (meter_config).
        Col("config_from", "ts"),
        Col("installed_at", "ts", required=True),
        Col("retired_at", "ts"),
        # seconds between expected readings; 0 event-based; empty: store.codes.default_read_interval_s
        Col("read_interval_s", "int"),
        Col("accounting", "code", codes=codes.METER_ACCOUNTING, what="accounting"),
    ),
)

# Figures an institution reported in its annual statistics return (公共机构能源资源消费统计) for years its
# meters do not cover (before metering, or before a meter was installed); scoring uses them for such years.
REPORTED_END_USES: dict[str, str] = {k: codes.END_USES[k] for k in ("main", "vehicle")}

REPORTED_USAGE = Kind(
    "reported_usage",
    "reported_usage",
    "reported_usage.csv",
    ("institution_id", "year", "energy_type", "end_use"),
    (
        Col("institution_id", "id", required=True),
        Col("year", "int", required=True, year_range=True),
        Col("energy_type", "code", required=True, codes=codes.ENERGY_TYPES, what="energy_type"),
        Col("end_use", "code", required=True, codes=REPORTED_END_USES, what="end_use for reported usage"),
        Col("unit", "unit", required=True),
        Col("quantity", "float", required=True, non_negative=True),
        Col("source", "text"),
    ),
)

KINDS: dict[str, Kind] = {k.name: k for k in (INSTITUTIONS, INSTITUTION_YEARS, METERS, REPORTED_USAGE)}
# Columns that tell the kinds apart when a header is incomplete.
_SIGNATURE = {
    "institutions": {
        "category",
        "admin_level",
        "region_code",
        "climate_zone",
        "sub_kind",
        "baseline_year",
        "address",
    },
    "institution_years": {"year", "floor_area_m2", "occupants"},
    "meters": {"energy_type", "unit", "register", "end_use", "parent_meter_id", "multiplier", "installed_at"},
    "reported_usage": {"year", "energy_type", "unit", "end_use", "quantity", "source"},
}


# --- errors and parsed rows -----------------------------------------------------------------------


@dataclass(frozen=True)
class RowError:
    file: str
    line: int
    column: str  # a column name, or "-" when the message is about the whole file or row
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


@dataclass
class Table:
    """One CSV file or one XLSX sheet, recognised as a kind."""

    kind: Kind
    source: str  # "meters.csv" or "book.xlsx[meters]"
    header: tuple[str, ...]
    rows: list[tuple[int, dict[str, str]]]  # (line, column -> raw text); blank rows dropped


@dataclass
class Row:
    kind: Kind
    source: str
    line: int
    values: dict[str, Any]  # only the columns the file has; parsed to Python values

    def where(self, column: str, message: str) -> RowError:
        return RowError(self.source, self.line, column, message)


@dataclass
class Parsed:
    institutions: list[Row] = field(default_factory=list)
    years: list[Row] = field(default_factory=list)
    meters: list[Row] = field(default_factory=list)  # parents before children
    reported: list[Row] = field(default_factory=list)
    projects: list[Row] = field(default_factory=list)

    def rows(self, kind: Kind) -> list[Row]:
        return {
            "institutions": self.institutions,
            "institution_years": self.years,
            "meters": self.meters,
            "reported_usage": self.reported,
            "projects": self.projects,
        }[kind.name]


@dataclass(frozen=True)
class DbMeter:
    institution_id: str
    energy_type: str
    parent_meter_id: str | None
    end_use: str | None = None
    accounting: str | None = None


@dataclass
class DbState:
    """What validation needs to know about the database."""

    region_codes: set[str]
    # institution id -> (category, sub_kind)
    institutions: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    meters: dict[str, DbMeter] = field(default_factory=dict)


class CellError(ValueError):
    pass


# --- reading --------------------------------------------------------------------------------------


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
        return _fmt_float(v)
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


# --- parsing cells --------------------------------------------------------------------------------


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


# --- validation -----------------------------------------------------------------------------------


def validate(tables: list[Table], state: DbState, tz: tzinfo) -> tuple[Parsed, list[RowError]]:
    """Parse and check every row of every table against each other and ``state``; collect every error.

    The result is importable only when the error list is empty.
    """
    errors: list[RowError] = []
    parsed = Parsed()
    for t in tables:
        for line, raw in t.rows:
            parsed.rows(t.kind).append(_parse_row(t, line, raw, tz, errors))

    _check_institutions(parsed.institutions, state, errors)
    inst_ids = set(state.institutions) | {r.values["id"] for r in parsed.institutions if _good(r, "id")}
    _check_years(parsed.years, inst_ids, errors)
    parsed.meters = _check_meters(parsed.meters, inst_ids, state, errors)
    _check_reported(parsed.reported, inst_ids, errors)
    _projects.check(parsed.projects, inst_ids, parsed.meters, state, errors)
    return parsed, sort_errors(errors, [t.source for t in tables], {t.source: t.kind for t in tables})


def sort_errors(
    errors: list[RowError], sources: list[str], kinds: Mapping[str, Kind] | None = None
) -> list[RowError]:
    """Errors in file order (as given), then line, then column order in the file's kind (``kinds``: source ->
    kind, when known; kinds order the same columns differently, e.g. unit and end_use)."""
    rank: dict[str, int] = {}
    for src in sources + [e.file for e in errors]:
        rank.setdefault(src, len(rank))
    kinds = kinds or {}
    return sorted(errors, key=lambda e: (rank[e.file], e.line, _col_order(e, kinds.get(e.file))))


def _col_order(e: RowError, kind: Kind | None = None) -> int:
    for k in [kind] if kind is not None else KINDS.values():
        if e.column in k.column_names:
            return k.column_names.index(e.column)
    return -1


def _where(row: Row) -> str:
    return f"{row.source}:{row.line}"


def _check_duplicates(rows: list[Row], key: tuple[str, ...], label: str, errors: list[RowError]) -> None:
    first: dict[tuple, Row] = {}
    for r in rows:
        if not _good(r, *key):
            continue
        k = tuple(r.values[c] for c in key)
        if k in first:
            shown = "/".join(str(v) for v in k)
            errors.append(r.where(key[-1], f"duplicate {label} '{shown}' (first at {_where(first[k])})"))
        else:
            first[k] = r


def _check_institutions(rows: list[Row], state: DbState, errors: list[RowError]) -> None:
    _check_duplicates(rows, ("id",), "institution id", errors)
    for r in rows:
        v = r.values
        if _good(r, "region_code") and v["region_code"] not in state.region_codes:
            errors.append(r.where("region_code", f"unknown region code '{v['region_code']}'"))
        if _good(r, "category"):
            _check_sub_kind(r, state, errors)


def _check_sub_kind(r: Row, state: DbState, errors: list[RowError]) -> None:
    v = r.values
    category = v["category"]
    allowed = codes.SUB_KINDS[category]
    if "sub_kind" in v:
        sub = v["sub_kind"]
    else:  # column left out of the file: the stored sub_kind stays, so it must suit the category
        stored = state.institutions.get(v["id"]) if _good(r, "id") else None
        sub = stored[1] if stored else None
        if (sub or None) is not None and sub not in allowed:
            errors.append(
                r.where(
                    "sub_kind",
                    f"stored sub_kind '{sub}' does not suit category {category}; add a sub_kind column",
                )
            )
            return
        if allowed and not sub:
            errors.append(
                r.where(
                    "sub_kind", f"sub_kind is required for category {category}; allowed: {_allowed(allowed)}"
                )
            )
        return
    if not allowed:
        if sub:
            errors.append(
                r.where(
                    "sub_kind", f"category {category} has no sub-kinds; leave sub_kind empty, not '{sub}'"
                )
            )
        v["sub_kind"] = None
    elif not sub:
        errors.append(
            r.where("sub_kind", f"sub_kind is required for category {category}; allowed: {_allowed(allowed)}")
        )
    else:
        try:
            v["sub_kind"] = parse_code(sub, allowed, f"sub_kind for category {category}")
        except CellError as exc:
            errors.append(r.where("sub_kind", str(exc)))


def _check_institution_ref(r: Row, inst_ids: set[str], errors: list[RowError]) -> None:
    """The row's institution_id names an institution in the registry or in this import."""
    v = r.values
    if _good(r, "institution_id") and v["institution_id"] not in inst_ids:
        errors.append(
            r.where(
                "institution_id", f"institution '{v['institution_id']}' is not in the registry or this import"
            )
        )


def _check_unit(r: Row, errors: list[RowError]) -> None:
    """The row's unit is one allowed for its energy_type (store.codes.ENERGY_UNITS)."""
    v = r.values
    if _good(r, "energy_type", "unit") and not codes.unit_allowed(v["energy_type"], v["unit"]):
        errors.append(
            r.where(
                "unit",
                f"unit {v['unit']} is not allowed for energy_type {v['energy_type']}; "
                f"allowed: {', '.join(codes.ENERGY_UNITS[v['energy_type']])}",
            )
        )


def _check_years(rows: list[Row], inst_ids: set[str], errors: list[RowError]) -> None:
    _check_duplicates(rows, ("institution_id", "year"), "institution year", errors)
    for r in rows:
        _check_institution_ref(r, inst_ids, errors)


def _check_reported(rows: list[Row], inst_ids: set[str], errors: list[RowError]) -> None:
    _check_duplicates(rows, REPORTED_USAGE.key, "reported usage", errors)
    for r in rows:
        _check_institution_ref(r, inst_ids, errors)
        _check_unit(r, errors)


def _check_meters(rows: list[Row], inst_ids: set[str], state: DbState, errors: list[RowError]) -> list[Row]:
    _check_duplicates(rows, ("id",), "meter id", errors)
    merged: dict[str, DbMeter] = dict(state.meters)
    by_id: dict[str, Row] = {}
    for r in rows:
        v = r.values
        if not _good(r, "id") or v["id"] in by_id:
            continue
        by_id[v["id"]] = r
        if "parent_meter_id" in v:
            parent = v["parent_meter_id"] if _good(r, "parent_meter_id") else None
        else:  # column left out of the file: the stored parent stays
            old = state.meters.get(v["id"])
            parent = old.parent_meter_id if old else None
        merged[v["id"]] = DbMeter(
            v["institution_id"] if _good(r, "institution_id") else "",
            v["energy_type"] if _good(r, "energy_type") else "",
            parent,
        )
        _check_meter_accounting(r, parent, state.meters.get(v["id"]), errors)

    for r in rows:
        v = r.values
        _check_institution_ref(r, inst_ids, errors)
        _check_unit(r, errors)
        _check_config_from(r, errors)
        if _good(r, "installed_at", "retired_at") and v.get("retired_at") is not None:
            if v["retired_at"] <= v["installed_at"]:
                errors.append(
                    r.where(
                        "retired_at",
                        f"retired_at {v['retired_at'].isoformat()} is not after installed_at {v['installed_at'].isoformat()}",
                    )
                )
        parent = v.get("parent_meter_id")
        if not _good(r, "id", "parent_meter_id") or not parent:
            continue
        if parent == v["id"]:
            errors.append(r.where("parent_meter_id", "a meter cannot be its own parent"))
            continue
        p = merged.get(parent)
        if p is None:
            errors.append(
                r.where("parent_meter_id", f"parent meter '{parent}' is not in the registry or this import")
            )
            continue
        if _good(r, "institution_id") and p.institution_id != v["institution_id"]:
            errors.append(
                r.where(
                    "parent_meter_id",
                    f"parent meter '{parent}' belongs to institution '{p.institution_id}', not '{v['institution_id']}'",
                )
            )
        if _good(r, "energy_type") and p.energy_type and p.energy_type != v["energy_type"]:
            errors.append(
                r.where(
                    "parent_meter_id",
                    f"parent meter '{parent}' measures {p.energy_type}, not {v['energy_type']}",
                )
            )
        chain = [v["id"], parent]
        cur = merged.get(parent)
        while cur is not None and cur.parent_meter_id is not None:
            if cur.parent_meter_id in chain:
                chain.append(cur.parent_meter_id)
                errors.append(r.where("parent_meter_id", f"parent meters form a loop: {' -> '.join(chain)}"))
                break
            chain.append(cur.parent_meter_id)
            cur = merged.get(cur.parent_meter_id)
    return _parents_first(rows)


def _check_config_from(r: Row, errors: list[RowError]) -> None:
    """A configuration takes effect while the meter is in service (empty: from the beginning)."""
    v = r.values
    when = v.get("config_from")
    if when is None or when is _BAD:
        return
    if _good(r, "installed_at") and when < v["installed_at"]:
        errors.append(
            r.where(
                "config_from",
                f"config_from {when.isoformat()} is before installed_at {v['installed_at'].isoformat()}; "
                "leave it empty for a configuration in force from the beginning",
            )
        )
    elif _good(r, "retired_at") and v.get("retired_at") is not None and when >= v["retired_at"]:
        errors.append(
            r.where(
                "config_from",
                f"config_from {when.isoformat()} is not before retired_at {v['retired_at'].isoformat()}",
            )
        )


def _check_meter_accounting(r: Row, parent: str | None, old: DbMeter | None, errors: list[RowError]) -> None:
    """A sub-meter with no parent is counted nowhere: refuse it unless it is its own supply; a deducted
    (excluded-area) meter must be inside a parent; the reading interval is whole seconds, 0 for event-based."""
    v = r.values
    if _good(r, "read_interval_s") and v.get("read_interval_s") is not None and v["read_interval_s"] < 0:
        errors.append(
            r.where(
                "read_interval_s",
                f"read_interval_s must be 0 (event-based) or more seconds, got {v['read_interval_s']}",
            )
        )
    if not _good(r, "end_use") or any(c in v and not _good(r, c) for c in ("accounting", "parent_meter_id")):
        return
    end_use = v.get("end_use")
    accounting = v["accounting"] if "accounting" in v else (old.accounting if old else None)
    if accounting == "own_supply" and parent:
        errors.append(
            r.where(
                "accounting",
                f"own_supply is a meter with its own feed: it cannot be inside parent meter '{parent}'",
            )
        )
    elif accounting == "excluded_area" and not parent:
        errors.append(
            r.where(
                "accounting",
                "excluded_area is deducted from its parent meter's use: parent_meter_id is required",
            )
        )
    elif end_use in codes.SUB_METER_END_USES and not parent and accounting != "own_supply":
        errors.append(
            r.where(
                "parent_meter_id",
                f"a {end_use} sub-meter needs parent_meter_id (the meter its use is inside), or it would be counted "
                "nowhere; a separately fed supply (e.g. a data centre on its own feeder) is counted with accounting = own_supply",
            )
        )


def _parents_first(rows: list[Row]) -> list[Row]:
    """Meters ordered so a parent in the import is written before its children (the foreign key needs it)."""
    by_id = {r.values.get("id"): r for r in rows}
    out: list[Row] = []
    done: set[int] = set()

    def visit(r: Row, depth: int) -> None:
        if id(r) in done or depth > len(rows):
            return
        parent = r.values.get("parent_meter_id")
        if isinstance(parent, str) and parent in by_id:
            visit(by_id[parent], depth + 1)
        done.add(id(r))
        out.append(r)

    for r in rows:
        visit(r, 0)
    return out


# --- writing --------------------------------------------------------------------------------------


def _fmt_float(v: float) -> str:
    s = repr(float(v))
    return s[:-2] if s.endswith(".0") else s


def format_value(col: Col, v: Any, tz: tzinfo) -> str:
    """The file text for a database value: empty for NULL, timestamps with their offset in ``tz``."""
    if v is None:
        return ""
    if col.type == "ts":
        return v.astimezone(tz).isoformat()
    if col.type == "float":
        return _fmt_float(v)
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


# --- projects (savings verification): store.registry_projects defines the kind and adds it to KINDS -----

from store import registry_projects as _projects  # noqa: E402,F401  (it imports this module's names)
