"""Projects, baseline models and savings results: the queries savings/, the API and the CLI use.

Daily metered use of a project is read from ``usage_hourly`` so a day counts only when every one of its hours
has a rollup row for each of the project's meters (a complete day); amounts are converted to the energy
type's canonical unit (store.codes).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from store import codes
from store.deployment import TIMEZONE_SQL
from store.regions import city_of_sql
from store.totals import totals_sign_sql
from store.weather import daily_temperatures_sql

_TZ = TIMEZONE_SQL

PROJECT_COLUMNS = (
    "id",
    "institution_id",
    "kind",
    "name",
    "energy_types",
    "meter_ids",
    "baseline_from",
    "baseline_to",
    "install_from",
    "install_to",
    "reporting_from",
    "reporting_to",
    "description",
    "contract_ref",
    "prices",
)


@dataclass(frozen=True)
class Project:
    id: str
    institution_id: str
    kind: str
    name: str
    energy_types: str
    meter_ids: str | None
    baseline_from: dt.date
    baseline_to: dt.date
    install_from: dt.date
    install_to: dt.date
    reporting_from: dt.date
    reporting_to: dt.date
    description: str | None
    contract_ref: str | None
    prices: str | None

    @property
    def types(self) -> list[str]:
        return self.energy_types.split(";")


_GET_PROJECT = f"""
SELECT {", ".join(PROJECT_COLUMNS)} FROM project WHERE id = %(id)s
"""

_LIST_PROJECTS = f"""
SELECT {", ".join(PROJECT_COLUMNS)} FROM project WHERE %(all)s OR institution_id = ANY(%(ids)s)
ORDER BY id COLLATE "C"
"""

_INSTITUTION_REGION = """
SELECT region_code FROM institution WHERE id = %(id)s
"""

_LISTED_METERS = """
SELECT id, unit FROM meter WHERE id = ANY(%(ids)s) AND energy_type = %(energy_type)s ORDER BY id
"""

# The institution's main meters that its totals count (store/totals.py): the whole-facility meters.
_MAIN_METERS = f"""
SELECT m.id, m.unit FROM meter m WHERE m.institution_id = %(institution_id)s AND m.energy_type = %(energy_type)s
    AND m.end_use = 'main' AND {totals_sign_sql("m")} = 1 ORDER BY m.id
"""


def get_project(conn: psycopg.Connection, project_id: str) -> Project | None:
    row = conn.execute(_GET_PROJECT, {"id": project_id}).fetchone()
    return Project(*row) if row else None


def list_projects(conn: psycopg.Connection, institution_ids: list[str] | None = None) -> list[Project]:
    """Every project (or those of ``institution_ids``), ordered by id."""
    rows = conn.execute(
        _LIST_PROJECTS, {"all": institution_ids is None, "ids": list(institution_ids or [])}
    ).fetchall()
    return [Project(*r) for r in rows]


# A report's savings section reads the region's temperatures, its city and whether the institution has any
# project: three statements of their own modules, sent as one (each was a round trip of a report: a third of
# its time under load, bench/README.md); the report's pull composes this one into its own (store/api_pulls.py).
def section_reads_sql(institution: str, region: str, year: str) -> str:
    """The statement of :func:`section_reads` with SQL expressions for the institution id, its region code and
    the report's year; its row is (temperatures of the year before, of the year, city, has_projects), read by
    :func:`section_reads_of`. The temperatures are float8 arrays in no particular order (degree days are their
    sums; sorting them again for each report was a tenth of a millisecond of the server's): in binary, a
    report's two years reach the client in microseconds, where 730 dates and numbers in text took a third of a
    millisecond."""
    split = f"make_date({year}, 1, 1)"
    days = daily_temperatures_sql(region, f"make_date(({year}) - 1, 1, 1)", f"make_date({year}, 12, 31)")
    return f"""
SELECT tt.before, tt.during, ({city_of_sql(region)}) AS city,
    EXISTS (SELECT 1 FROM project WHERE institution_id = {institution}) AS has_projects
FROM (SELECT array_agg(t.mean_temp_c::float8) FILTER (WHERE t.day < {split}) AS before,
        array_agg(t.mean_temp_c::float8) FILTER (WHERE t.day >= {split}) AS during
    FROM ({days}) t) tt
"""


_SECTION_READS = section_reads_sql("%(id)s", "%(r)s", "%(year)s::integer")


@dataclass(frozen=True)
class SectionReads:
    # year → the daily mean °C of its days that have one, in no particular order (store.weather.
    # daily_temperatures), for the report's year and the year before
    temperatures: dict[int, list[float]]
    city: str  # as store.regions.city_of
    has_projects: bool


def section_reads_of(
    year: int, before: list | None, during: list | None, city: str, has_projects: bool
) -> SectionReads:
    """The row of :func:`section_reads_sql` for ``year`` as a SectionReads."""
    return SectionReads({year - 1: list(before or ()), year: list(during or ())}, city, has_projects)


def section_reads(conn: psycopg.Connection, institution_id: str, region_code: str, year: int) -> SectionReads:
    """store.weather.daily_temperatures(region_code, …) of ``year`` and the year before, by year,
    store.regions.city_of(region_code) and whether the institution has a project, in one round trip."""
    with conn.cursor(binary=True) as cur:
        row = cur.execute(_SECTION_READS, {"r": region_code, "year": year, "id": institution_id}).fetchone()
    return section_reads_of(year, *row)


def institution_region(conn: psycopg.Connection, institution_id: str) -> str:
    return conn.execute(_INSTITUTION_REGION, {"id": institution_id}).fetchone()[0]


def project_meters(conn: psycopg.Connection, p: Project, energy_type: str) -> list[tuple[str, str]]:
    """(meter id, unit) the project measures ``energy_type`` with: its listed meters of that type, else the
    institution's main meters (no parent) of that type."""
    listed = [m for m in (p.meter_ids or "").split(";") if m]
    if listed:
        rows = conn.execute(_LISTED_METERS, {"ids": listed, "energy_type": energy_type})
    else:
        rows = conn.execute(_MAIN_METERS, {"institution_id": p.institution_id, "energy_type": energy_type})
    return [(r[0], r[1]) for r in rows.fetchall()]


_DAILY_USE = f"""
SELECT (hour AT TIME ZONE {_TZ})::date AS day, meter_id, sum(consumption), count(*)
FROM usage_hourly
WHERE meter_id = ANY(%(ids)s)
    AND hour >= (%(a)s::timestamp AT TIME ZONE {_TZ}) AND hour < (%(b)s::timestamp AT TIME ZONE {_TZ})
GROUP BY 1, 2
"""


def daily_use(
    conn: psycopg.Connection, meters: list[tuple[str, str]], energy_type: str, first: dt.date, last: dt.date
) -> dict[dt.date, float]:
    """Use per complete local day in [first, last], summed over ``meters`` in the canonical unit."""
    if not meters:
        return {}
    canonical = codes.CANONICAL_UNITS.get(energy_type) or meters[0][1]
    factor = {m: codes.convert(1.0, codes.normalize_unit(u), canonical) for m, u in meters}
    rows = conn.execute(
        _DAILY_USE, {"ids": list(factor), "a": first, "b": last + dt.timedelta(days=1)}
    ).fetchall()
    per_day: dict[dt.date, list[float]] = {}
    for day, meter_id, total, hours in rows:
        if hours >= 24:
            per_day.setdefault(day, []).append(float(total) * factor[meter_id])
    return {d: sum(v) for d, v in per_day.items() if len(v) == len(meters)}


_INSERT_MODEL = """
INSERT INTO baseline_model (project_id, energy_type, unit, baseline_from, baseline_to, method,
    methodology_sha256, data_sha256, params, n_days, n_parameters, r2_adj, cvrmse, nmbe, autocorr_lag1)
VALUES (%(project_id)s, %(energy_type)s, %(unit)s, %(baseline_from)s, %(baseline_to)s, %(method)s,
    %(methodology_sha256)s, %(data_sha256)s, %(params)s, %(n_days)s, %(n_parameters)s, %(r2_adj)s, %(cvrmse)s,
    %(nmbe)s, %(autocorr_lag1)s)
RETURNING id
"""

_GET_MODEL = """
SELECT * FROM baseline_model WHERE id = %(id)s
"""


def insert_model(
    conn: psycopg.Connection,
    project_id: str,
    energy_type: str,
    unit: str,
    first: dt.date,
    last: dt.date,
    method: str,
    methodology_sha256: str,
    data_sha256: str,
    params: dict,
) -> int:
    s = params["stats"]
    return conn.execute(
        _INSERT_MODEL,
        {
            "project_id": project_id,
            "energy_type": energy_type,
            "unit": unit,
            "baseline_from": first,
            "baseline_to": last,
            "method": method,
            "methodology_sha256": methodology_sha256,
            "data_sha256": data_sha256,
            "params": Jsonb(params),
            "n_days": s["n_days"],
            "n_parameters": s["n_parameters"],
            "r2_adj": s["r2_adj"],
            "cvrmse": s["cvrmse"],
            "nmbe": s["nmbe"],
            "autocorr_lag1": s["autocorr_lag1"],
        },
    ).fetchone()[0]


def get_model(conn: psycopg.Connection, model_id: int) -> dict | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(_GET_MODEL, {"id": model_id}).fetchone()


RESULT_COLUMNS = (
    "project_id",
    "energy_type",
    "unit",
    "model_id",
    "reporting_from",
    "reporting_to",
    "reporting_days",
    "predicted",
    "metered",
    "avoided",
    "avoided_uncertainty",
    "confidence_level",
    "avoided_kgce",
    "avoided_cost_yuan",
    "previous_year_metered",
    "year_on_year_change",
    "hdd",
    "cdd",
    "previous_year_hdd",
    "previous_year_cdd",
    "status",
    "reasons",
)


# A daily row as replace_result takes it, after the project and energy type.
_DAILY_COLUMNS = ("day", "mean_temp_c", "hdd", "cdd", "workday", "predicted", "metered", "avoided")

_DELETE_DAILY = """
DELETE FROM savings_daily WHERE project_id = %(project_id)s AND energy_type = %(energy_type)s
"""

_DELETE_RESULT = """
DELETE FROM savings_result WHERE project_id = %(project_id)s AND energy_type = %(energy_type)s
"""

_INSERT_RESULT = f"""
INSERT INTO savings_result ({", ".join(RESULT_COLUMNS)})
VALUES ({", ".join(f"%({c})s" for c in RESULT_COLUMNS)})
"""

_INSERT_DAILY = f"""
INSERT INTO savings_daily (project_id, energy_type, {", ".join(_DAILY_COLUMNS)})
VALUES (%(project_id)s, %(energy_type)s, {", ".join(f"%({c})s" for c in _DAILY_COLUMNS)})
"""

_RESULTS = f"""
SELECT {", ".join(RESULT_COLUMNS)}, computed_at FROM savings_result WHERE project_id = %(project_id)s
ORDER BY energy_type
"""

_DAILY_ROWS = f"""
SELECT {", ".join(_DAILY_COLUMNS)} FROM savings_daily
WHERE project_id = %(project_id)s AND energy_type = %(energy_type)s ORDER BY day
"""


def replace_result(conn: psycopg.Connection, result: dict, daily: list[tuple]) -> None:
    """The project's result for one energy type and its daily rows (_DAILY_COLUMNS), replacing the previous
    ones."""
    key = {"project_id": result["project_id"], "energy_type": result["energy_type"]}
    conn.execute(_DELETE_DAILY, key)
    conn.execute(_DELETE_RESULT, key)
    conn.execute(
        _INSERT_RESULT,
        {**{c: result.get(c) for c in RESULT_COLUMNS}, "reasons": list(result.get("reasons") or [])},
    )
    with conn.cursor() as cur:
        cur.executemany(
            _INSERT_DAILY, [{**key, **dict(zip(_DAILY_COLUMNS, row, strict=True))} for row in daily]
        )


def results(conn: psycopg.Connection, project_id: str) -> list[dict]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(_RESULTS, {"project_id": project_id}).fetchall()


def daily_rows(conn: psycopg.Connection, project_id: str, energy_type: str) -> list[dict]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(_DAILY_ROWS, {"project_id": project_id, "energy_type": energy_type}).fetchall()


def canonical_json(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
