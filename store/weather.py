"""Daily mean air temperature per region: CSV import with row-level errors, and the queries savings reads.

A weather file has the columns ``region_code, date, mean_temp_c`` and optionally ``source``
(docs/savings.md). Every bad row is reported as ``file:line:column: message`` and nothing is imported
when any is bad. A day already stored for a region is replaced by the file's value.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
from dataclasses import dataclass

import psycopg

from store.regions import city_code_sql
from store.registry_files import RowError

REQUIRED = ("region_code", "date", "mean_temp_c")
OPTIONAL = ("source",)
TEMP_MIN_C, TEMP_MAX_C = -60.0, 60.0  # the CHECK on weather_daily.mean_temp_c


class WeatherImportError(Exception):
    def __init__(self, errors: list[RowError]) -> None:
        self.errors = errors
        super().__init__(f"{len(errors)} error(s) in weather files; nothing imported")


@dataclass(frozen=True)
class WeatherRow:
    region_code: str
    day: dt.date
    mean_temp_c: float
    source: str | None
    line: int = 0  # where it was read


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("gb18030")  # Excel on Chinese Windows


def parse_file(name: str, data: bytes, region_codes: set[str]) -> tuple[list[WeatherRow], list[RowError]]:
    """Rows of one weather CSV and every error in it (header, cells, unknown regions, repeated days)."""
    try:
        text = _decode(data)
    except UnicodeDecodeError:
        return [], [RowError(name, 1, "-", "file is neither UTF-8 nor GB18030 text")]
    reader = csv.reader(io.StringIO(text, newline=""))
    errors: list[RowError] = []
    rows: list[WeatherRow] = []
    header: list[str] | None = None
    seen: dict[tuple[str, dt.date], int] = {}
    prev = 0
    try:
        for cells in reader:
            line, prev = prev + 1, reader.line_num
            cells = [c.strip() for c in cells]
            if not any(cells):
                continue
            if header is None:
                header = cells
                while header and header[-1] == "":
                    header.pop()
                for c in header:
                    if c not in REQUIRED + OPTIONAL:
                        errors.append(
                            RowError(
                                name,
                                line,
                                c or "-",
                                f"unknown column '{c}' (weather columns: {', '.join(REQUIRED + OPTIONAL)})",
                            )
                        )
                for c in REQUIRED:
                    if c not in header:
                        errors.append(RowError(name, line, c, f"missing required column '{c}'"))
                if errors:
                    return [], errors
                continue
            if any(cells[len(header) :]):
                errors.append(
                    RowError(name, line, "-", f"row has {len(cells)} cells but the header has {len(header)}")
                )
                continue
            v = dict(zip(header, cells + [""] * (len(header) - len(cells)), strict=False))
            row = _parse_row(name, line, v, region_codes, errors)
            if row is None:
                continue
            key = (row.region_code, row.day)
            if key in seen:
                errors.append(
                    RowError(
                        name,
                        line,
                        "date",
                        f"duplicate day {row.day} for region {row.region_code} (first at {name}:{seen[key]})",
                    )
                )
                continue
            seen[key] = line
            rows.append(row)
    except csv.Error as exc:
        return [], [RowError(name, reader.line_num, "-", f"not valid CSV: {exc}")]
    if header is None:
        return [], [RowError(name, 1, "-", "file is empty: no header line")]
    return rows, errors


def _parse_row(
    name: str, line: int, v: dict[str, str], region_codes: set[str], errors: list[RowError]
) -> WeatherRow | None:
    before = len(errors)
    region, day, temp = v["region_code"], None, None
    if not region:
        errors.append(RowError(name, line, "region_code", "required value missing"))
    elif region not in region_codes:
        errors.append(RowError(name, line, "region_code", f"unknown region code '{region}'"))
    text = v["date"]
    if not text:
        errors.append(RowError(name, line, "date", "required value missing"))
    else:
        try:
            day = dt.date.fromisoformat(text)
        except ValueError:
            errors.append(RowError(name, line, "date", f"not an ISO 8601 date (YYYY-MM-DD): '{text}'"))
    text = v["mean_temp_c"]
    if not text:
        errors.append(RowError(name, line, "mean_temp_c", "required value missing"))
    else:
        try:
            temp = float(text)
        except ValueError:
            errors.append(RowError(name, line, "mean_temp_c", f"not a number: '{text}'"))
        else:
            if not math.isfinite(temp) or not TEMP_MIN_C <= temp <= TEMP_MAX_C:
                errors.append(
                    RowError(
                        name, line, "mean_temp_c", f"{text} °C is outside {TEMP_MIN_C:g}..{TEMP_MAX_C:g} °C"
                    )
                )
    if len(errors) > before:
        return None
    return WeatherRow(region, day, temp, v.get("source") or None, line)


_REGION_CODES = """
SELECT code FROM region
"""


def import_files(conn: psycopg.Connection, files: list[tuple[str, bytes]], *, dry_run: bool = False) -> int:
    """Validate every file, then upsert all rows in one transaction; raises WeatherImportError with every
    error (and writes nothing) when any row is bad. Returns the rows written."""
    regions = {r[0] for r in conn.execute(_REGION_CODES)}
    rows: list[WeatherRow] = []
    errors: list[RowError] = []
    seen: dict[tuple[str, dt.date], str] = {}
    for name, data in files:
        r, e = parse_file(name, data, regions)
        errors += e
        for w in r:
            key = (w.region_code, w.day)
            if key in seen:
                errors.append(
                    RowError(
                        name,
                        w.line,
                        "date",
                        f"duplicate day {w.day} for region {w.region_code} (first at {seen[key]})",
                    )
                )
            else:
                seen[key] = f"{name}:{w.line}"
        rows += r
    if errors:
        raise WeatherImportError(errors)
    with conn.transaction(force_rollback=dry_run):
        upsert(conn, rows)
    return len(rows)


_UPSERT = """
INSERT INTO weather_daily (region_code, day, mean_temp_c, source)
VALUES (%(region_code)s, %(day)s, %(mean_temp_c)s, %(source)s)
ON CONFLICT (region_code, day) DO UPDATE
SET mean_temp_c = EXCLUDED.mean_temp_c, source = EXCLUDED.source, imported_at = now()
WHERE (weather_daily.mean_temp_c, weather_daily.source) IS DISTINCT FROM (EXCLUDED.mean_temp_c, EXCLUDED.source)
"""


def upsert(conn: psycopg.Connection, rows: list[WeatherRow]) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            _UPSERT,
            [
                {"region_code": r.region_code, "day": r.day, "mean_temp_c": r.mean_temp_c, "source": r.source}
                for r in rows
            ],
        )


# The region's own rows, else its city's (store.regions: the nearest city at or above it); a region the table
# does not hold has no city, so only its own rows.
def daily_temperatures_sql(region: str, first: str, last: str) -> str:
    """The statement of :func:`daily_temperatures` with SQL expressions for the region code and the first
    and last day, so a statement that composes it can pass its own columns (store.savings.section_reads_sql)."""
    return f"""
SELECT DISTINCT ON (day) day, mean_temp_c FROM weather_daily
WHERE region_code IN ({region}, (SELECT {city_code_sql("g")} FROM region g WHERE g.code = {region}))
    AND day BETWEEN {first} AND {last}
ORDER BY day, region_code = {region} DESC
"""


_DAILY_TEMPERATURES = daily_temperatures_sql("%(r)s", "%(a)s", "%(b)s")


def daily_temperatures(
    conn: psycopg.Connection, region_code: str, first: dt.date, last: dt.date
) -> dict[dt.date, float]:
    """Mean °C per day of ``region_code`` in [first, last]: its own row of a day, else its city's of that day
    (a county station's few days do not hide the city's record of the others). The city is the region
    hierarchy's (store.regions.city_of names the same one)."""
    rows = conn.execute(_DAILY_TEMPERATURES, {"r": region_code, "a": first, "b": last}).fetchall()
    return {d: float(t) for d, t in rows}
