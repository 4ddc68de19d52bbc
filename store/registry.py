"""Registry queries and the import/export transaction.

``import_files`` is the one entry both the CLI and the HTTP API use: it reads CSV/XLSX files
(``store.registry_files``), validates every row against each other and the database, and upserts
them in one transaction, or raises ``RegistryImportError`` with every error and writes nothing.
Rows whose values did not change are not rewritten, so a repeated import changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, tzinfo

import psycopg
from psycopg import sql
from psycopg.rows import class_row, dict_row

from store import codes
from store import registry_files as rf
from store.regions import subtree_of_any_sql
from store.registry_files import (
    INSTITUTION_YEARS,
    INSTITUTIONS,
    KINDS,
    METERS,
    REPORTED_USAGE,
    DbMeter,
    DbState,
    RowError,
)

__all__ = [
    "ImportSummary",
    "InstitutionRow",
    "MeterRow",
    "RegistryImportError",
    "RowError",
    "export_files",
    "get_institution",
    "import_files",
    "list_institutions",
    "list_meters",
]

# Serialises imports: validation reads the registry, so two concurrent imports must not interleave.
_LOCK_KEY = 0x6A6E_7265  # "jnre"


class RegistryImportError(Exception):
    """Nothing was imported; ``errors`` lists every bad header, row and cell."""

    def __init__(self, errors: list[RowError]) -> None:
        self.errors = errors
        super().__init__(f"{len(errors)} error(s) in registry files; nothing imported")


@dataclass
class KindCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0


@dataclass
class ImportSummary:
    institutions: KindCounts = field(default_factory=KindCounts)
    institution_years: KindCounts = field(default_factory=KindCounts)
    meters: KindCounts = field(default_factory=KindCounts)
    files: list[str] = field(default_factory=list)  # "meters.csv (meters, 250 rows)"
    reported_usage: KindCounts = field(default_factory=KindCounts)
    projects: KindCounts = field(default_factory=KindCounts)

    @property
    def changed(self) -> int:
        return sum(
            c.inserted + c.updated
            for c in (
                self.institutions,
                self.institution_years,
                self.meters,
                self.reported_usage,
                self.projects,
            )
        )


@dataclass(frozen=True)
class MeterRow:
    id: str
    institution_id: str
    name: str | None
    energy_type: str
    unit: str
    register: str
    end_use: str
    parent_meter_id: str | None
    multiplier: float
    rollover: float | None
    max_rate_per_h: float | None
    config_from: datetime | None  # when the configuration above took effect; None: from the beginning
    installed_at: datetime
    retired_at: datetime | None
    read_interval_s: int | None = None  # None: store.codes.default_read_interval_s
    accounting: str | None = None  # own_supply | excluded_area (store.codes.METER_ACCOUNTING)


@dataclass(frozen=True)
class InstitutionRow:
    id: str
    name: str
    category: str
    sub_kind: str | None
    admin_level: str
    region_code: str
    climate_zone: str
    baseline_year: int | None
    address: str | None


# --- read queries ---------------------------------------------------------------------------------
# The column lists are the file kinds' (store.registry_files), composed once as quoted identifiers.

_METER_COLS = sql.SQL(", ").join(sql.Identifier(c) for c in METERS.column_names)
_INSTITUTION_COLS = sql.SQL(", ").join(sql.Identifier(c) for c in INSTITUTIONS.column_names)

_LIST_METERS = sql.SQL("""
SELECT {cols} FROM meter ORDER BY id COLLATE "C"
""").format(cols=_METER_COLS)

_LIST_INSTITUTION_METERS = sql.SQL("""
SELECT {cols} FROM meter WHERE institution_id = %(inst)s ORDER BY id COLLATE "C"
""").format(cols=_METER_COLS)

_LIST_INSTITUTIONS = sql.SQL("""
SELECT {cols} FROM institution ORDER BY id
""").format(cols=_INSTITUTION_COLS)

_INSTITUTIONS_UNDER = sql.SQL(
    """
SELECT {cols} FROM institution WHERE region_code = ANY("""
    + subtree_of_any_sql("%(regions)s")
    + """) ORDER BY id
"""
).format(cols=_INSTITUTION_COLS)

_GET_INSTITUTION = sql.SQL("""
SELECT {cols} FROM institution WHERE id = %(id)s
""").format(cols=_INSTITUTION_COLS)


def list_meters(conn: psycopg.Connection, institution_id: str | None = None) -> list[MeterRow]:
    """Every meter (or one institution's), ordered by id."""
    with conn.cursor(row_factory=class_row(MeterRow)) as cur:
        if institution_id is None:
            return cur.execute(_LIST_METERS).fetchall()
        return cur.execute(_LIST_INSTITUTION_METERS, {"inst": institution_id}).fetchall()


def list_institutions(
    conn: psycopg.Connection, region_code: str | None = None, *, region_codes: list[str] | None = None
) -> list[InstitutionRow]:
    """Institutions ordered by id; with ``region_code``/``region_codes``, only those in those regions or under them."""
    regions = list(region_codes or []) + ([region_code] if region_code else [])
    with conn.cursor(row_factory=class_row(InstitutionRow)) as cur:
        if region_code is None and region_codes is None:
            return cur.execute(_LIST_INSTITUTIONS).fetchall()
        return cur.execute(_INSTITUTIONS_UNDER, {"regions": regions}).fetchall()


_INSTITUTION_IDS = """
SELECT id FROM institution ORDER BY id
"""


def institution_ids(conn: psycopg.Connection) -> list[str]:
    """Every institution's id, in id order."""
    return [r[0] for r in conn.execute(_INSTITUTION_IDS)]


def get_institution(conn: psycopg.Connection, institution_id: str) -> InstitutionRow | None:
    with conn.cursor(row_factory=class_row(InstitutionRow)) as cur:
        return cur.execute(_GET_INSTITUTION, {"id": institution_id}).fetchone()


_REGION_CODES = """
SELECT code FROM region
"""

_INSTITUTION_KINDS = """
SELECT id, category, sub_kind FROM institution
"""

_METER_LINKS = """
SELECT id, institution_id, energy_type, parent_meter_id, end_use, accounting FROM meter
"""

_IMPORT_LOCK = """
SELECT pg_advisory_xact_lock(%(key)s)
"""

_STORED_CONFIG_FROM = """
SELECT id, config_from FROM meter WHERE id = ANY(%(ids)s)
"""

_CONFIG_UNITS = """
SELECT meter_id, nullif(valid_from, '-infinity'), unit FROM meter_config WHERE meter_id = ANY(%(ids)s)
"""


def load_state(conn: psycopg.Connection) -> DbState:
    """What validation needs from the database: region codes, institution ids, meters and their parents."""
    state = DbState(region_codes={r[0] for r in conn.execute(_REGION_CODES)})
    state.institutions = {r[0]: (r[1], r[2]) for r in conn.execute(_INSTITUTION_KINDS)}
    state.meters = {r[0]: DbMeter(r[1], r[2], r[3], r[4], r[5]) for r in conn.execute(_METER_LINKS)}
    return state


# --- import ---------------------------------------------------------------------------------------


def import_files(
    conn: psycopg.Connection, files: list[tuple[str, bytes]], tz: tzinfo, *, dry_run: bool = False
) -> ImportSummary:
    """Validate and upsert registry files in one transaction; all or nothing.

    ``files``: (name, content) pairs; each CSV is recognised by its header, an XLSX (by content)
    contributes one table per sheet. Naive timestamps are read in ``tz``. Raises
    RegistryImportError with every error found (and commits nothing) when any row is bad.
    ``dry_run``: do everything, report what would change, then roll back.
    """
    tables: list[rf.Table] = []
    errors: list[RowError] = []
    sources: list[str] = []
    for name, data in files:
        t, e = rf.read_file(name, data)
        tables += t
        errors += e
        sources += [x.source for x in t] + [x.file for x in e]
    summary = ImportSummary(files=[f"{t.source} ({t.kind.name}, {len(t.rows)} rows)" for t in tables])
    with conn.transaction(force_rollback=dry_run):
        conn.execute(_IMPORT_LOCK, {"key": _LOCK_KEY})
        parsed, row_errors = rf.validate(tables, load_state(conn), tz)
        errors += row_errors
        if not errors:
            errors += _check_unit_history(conn, parsed.meters)
        if errors:
            raise RegistryImportError(rf.sort_errors(errors, sources, {t.source: t.kind for t in tables}))
        summary.institutions = _upsert(conn, INSTITUTIONS, parsed.institutions)
        summary.institution_years = _upsert(conn, INSTITUTION_YEARS, parsed.years)
        summary.meters = _upsert(conn, METERS, parsed.meters)
        summary.reported_usage = _upsert(conn, REPORTED_USAGE, parsed.reported)
        summary.projects = _upsert(conn, KINDS["projects"], parsed.projects)
    return summary


def _check_unit_history(conn: psycopg.Connection, rows: list[rf.Row]) -> list[RowError]:
    """A meter's new unit must convert from the unit of every earlier configuration it keeps.

    Usage is reported in the current unit (ingest/rollup.py), so readings of a kept earlier period
    are converted to it; a mass and a volume do not convert (store.codes). The configuration of a
    row applies from its ``config_from`` (left out of the file: the stored one) and replaces every
    period from then on (migration 0011).
    """
    ids = [r.values["id"] for r in rows]
    stored: dict[str, datetime | None] = dict(conn.execute(_STORED_CONFIG_FROM, {"ids": ids}).fetchall())
    periods: dict[str, list[tuple[datetime, str]]] = {}
    for meter_id, valid_from, unit in conn.execute(_CONFIG_UNITS, {"ids": ids}):
        periods.setdefault(meter_id, []).append((valid_from, unit))
    errors: list[RowError] = []
    for r in rows:
        v = r.values
        if v["id"] not in stored:
            continue
        vf = v["config_from"] if "config_from" in v else stored[v["id"]]
        for valid_from, unit in periods.get(v["id"], []):
            if vf is None or (valid_from is not None and valid_from >= vf) or unit == v["unit"]:
                continue
            try:
                codes.conversion_factor(codes.normalize_unit(unit), codes.normalize_unit(v["unit"]))
            except codes.UnitError:
                since = "the beginning" if valid_from is None else valid_from.isoformat()
                errors.append(
                    r.where(
                        "unit",
                        f"unit {v['unit']} does not convert from {unit}, the unit of this meter's configuration from "
                        f"{since}, which a config_from of {vf.isoformat()} keeps; leave config_from empty to replace it",
                    )
                )
                break
    return errors


def _upsert(conn: psycopg.Connection, kind: rf.Kind, rows: list[rf.Row]) -> KindCounts:
    """Insert new rows, update changed ones, leave identical ones untouched (no new row version).

    Rows are written in the given order (meters: parents first), batched by the set of columns
    their file had: a column a file leaves out keeps its stored value.
    """
    counts = KindCounts()
    i = 0
    while i < len(rows):
        cols = tuple(c for c in kind.column_names if c in rows[i].values)
        j = i
        while j < len(rows) and tuple(c for c in kind.column_names if c in rows[j].values) == cols:
            j += 1
        q = _upsert_sql(kind, cols)
        with conn.cursor() as cur:
            cur.executemany(q, [{c: r.values[c] for c in cols} for r in rows[i:j]], returning=True)
            returned = 0
            while True:
                for (inserted,) in cur.fetchall():
                    returned += 1
                    if inserted:
                        counts.inserted += 1
                    else:
                        counts.updated += 1
                if not cur.nextset():
                    break
        counts.unchanged += (j - i) - returned
        i = j
    return counts


# Templates of the upsert of a kind's rows for the columns their file had: identifiers from the kind
# (store.registry_files), one named placeholder per column. RETURNING tells an insert from an update.
_UPSERT = sql.SQL(
    "INSERT INTO {table} ({cols}) VALUES ({values}) ON CONFLICT ({key}) {action} RETURNING (xmax = 0)"
)
_UPDATE_CHANGED = sql.SQL("DO UPDATE SET {sets} WHERE ROW({mine}) IS DISTINCT FROM ROW({theirs})")
_KEEP_EXISTING = sql.SQL("DO NOTHING")


def _upsert_sql(kind: rf.Kind, cols: tuple[str, ...]) -> sql.Composed:
    ident = sql.Identifier
    table = ident(kind.table)
    rest = [c for c in cols if c not in kind.key]
    if rest:
        action = _UPDATE_CHANGED.format(
            sets=sql.SQL(", ").join(sql.SQL("{} = EXCLUDED.{}").format(ident(c), ident(c)) for c in rest),
            mine=sql.SQL(", ").join(sql.SQL("{}.{}").format(table, ident(c)) for c in rest),
            theirs=sql.SQL(", ").join(sql.SQL("EXCLUDED.{}").format(ident(c)) for c in rest),
        )
    else:
        action = _KEEP_EXISTING
    return _UPSERT.format(
        table=table,
        cols=sql.SQL(", ").join(ident(c) for c in cols),
        values=sql.SQL(", ").join(sql.Placeholder(c) for c in cols),
        key=sql.SQL(", ").join(ident(c) for c in kind.key),
        action=action,
    )


# --- export ---------------------------------------------------------------------------------------


_SELECT_ALL = sql.SQL("SELECT {cols} FROM {table} ORDER BY {order}")


def _select_all(conn: psycopg.Connection, kind: rf.Kind) -> list[dict]:
    cols = sql.SQL(", ").join(sql.Identifier(c) for c in kind.column_names)
    # Byte order (COLLATE "C"), not the database locale's, so files are the same on every server.
    order = sql.SQL(", ").join(
        sql.SQL('{} COLLATE "C"' if kind.col(c).type in ("id", "code") else "{}").format(sql.Identifier(c))
        for c in kind.key
    )
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            _SELECT_ALL.format(cols=cols, table=sql.Identifier(kind.table), order=order)
        ).fetchall()


def export_files(conn: psycopg.Connection, tz: tzinfo, fmt: str = "csv") -> dict[str, bytes]:
    """The registry as files: csv → institutions.csv, institution_years.csv, meters.csv, reported_usage.csv;
    xlsx → registry.xlsx (one sheet per kind).

    Rows ordered by key; timestamps with their offset in ``tz``. Importing the result changes nothing.
    """
    data = {k.name: _select_all(conn, k) for k in KINDS.values()}
    if not data["projects"]:  # a registry without projects exports the files it always did
        del data["projects"]
    if fmt == "csv":
        return {KINDS[name].filename: rf.write_csv(KINDS[name], rows, tz) for name, rows in data.items()}
    if fmt == "xlsx":
        return {"registry.xlsx": rf.write_xlsx(data, tz)}
    raise ValueError(f"unknown export format {fmt!r}; use csv or xlsx")


_COUNT = sql.SQL("SELECT count(*) FROM {table}")


def counts(conn: psycopg.Connection) -> dict[str, int]:
    """Rows per registry table (for summaries and tests)."""
    return {
        k.table: conn.execute(_COUNT.format(table=sql.Identifier(k.table))).fetchone()[0]
        for k in KINDS.values()
    }
