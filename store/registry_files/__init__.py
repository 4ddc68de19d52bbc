"""Registry files: read, validate and write institutions / institution years / meters / reported usage as CSV or XLSX.

Pure: no database here. ``store.registry`` loads what validation needs from the database into a
``DbState`` and runs the import transaction. docs/registry.md documents the files.

One module per job: ``schema`` (file kinds, columns, the records a file becomes), ``read`` (CSV and
XLSX into tables), ``parse`` (cell text to values), ``validate`` (rows against each other and the
database's state), ``write`` (deterministic CSV and XLSX). This package re-exports what callers use.
"""

from __future__ import annotations

from store.registry_files.parse import CellError, parse_code, parse_date, parse_timestamp
from store.registry_files.read import (
    XLSX_MAX_CELL_CHARS,
    XLSX_MAX_CENTRAL_DIRECTORY_BYTES,
    XLSX_MAX_COLUMNS,
    XLSX_MAX_ROWS,
    XLSX_MAX_SHARED_STRINGS,
    XLSX_MAX_SHARED_STRINGS_BYTES,
    XLSX_MAX_UNCOMPRESSED_BYTES,
    XLSX_SCAN_MAX_CELL_CHARS,
    read_csv,
    read_file,
    read_xlsx,
    recognise,
)
from store.registry_files.schema import (
    ID_RE,
    INSTITUTION_YEARS,
    INSTITUTIONS,
    KINDS,
    METERS,
    REGION_RE,
    REPORTED_END_USES,
    REPORTED_USAGE,
    TEXT_DEFAULT_MAX_CHARS,
    TEXT_MAX_CHARS,
    YEAR_MAX,
    YEAR_MIN,
    Col,
    DbMeter,
    DbState,
    Kind,
    Parsed,
    Row,
    RowError,
    Table,
)
from store.registry_files.validate import sort_errors, validate
from store.registry_files.write import format_value, write_csv, write_xlsx

__all__ = [
    "ID_RE",
    "INSTITUTIONS",
    "INSTITUTION_YEARS",
    "KINDS",
    "METERS",
    "REGION_RE",
    "REPORTED_END_USES",
    "REPORTED_USAGE",
    "TEXT_DEFAULT_MAX_CHARS",
    "TEXT_MAX_CHARS",
    "XLSX_MAX_CELL_CHARS",
    "XLSX_MAX_CENTRAL_DIRECTORY_BYTES",
    "XLSX_MAX_COLUMNS",
    "XLSX_MAX_ROWS",
    "XLSX_MAX_SHARED_STRINGS",
    "XLSX_MAX_SHARED_STRINGS_BYTES",
    "XLSX_MAX_UNCOMPRESSED_BYTES",
    "XLSX_SCAN_MAX_CELL_CHARS",
    "YEAR_MAX",
    "YEAR_MIN",
    "CellError",
    "Col",
    "DbMeter",
    "DbState",
    "Kind",
    "Parsed",
    "Row",
    "RowError",
    "Table",
    "format_value",
    "parse_code",
    "parse_date",
    "parse_timestamp",
    "read_csv",
    "read_file",
    "read_xlsx",
    "recognise",
    "sort_errors",
    "validate",
    "write_csv",
    "write_xlsx",
]
