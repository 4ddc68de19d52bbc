"""SQL fragments shared by the dashboards: deployment time zone, local-day bounds, kgce coefficients.

Days and months are local calendar buckets in the zone recorded in ``deployment_setting`` (the
rollups are already bucketed there), so every day boundary a panel shows is local midnight.
"""

from __future__ import annotations

from scoring.coal import kgce_per_metered_unit
from scoring.methodology import Methodology, load_methodology
from store.codes import CANONICAL_UNITS, ENERGY_TYPES, ENERGY_UNITS, conversion_factor
from store.deployment import TIMEZONE_SQL
from store.totals import in_totals_sql, sign_in_totals_sql

# The deployment time zone as recorded by `jieneng db migrate` (store/deployment.py).
TZ = TIMEZONE_SQL

# The dashboard time range as local calendar dates (inclusive), for usage_daily / usage_monthly.
LOCAL_DAY_FROM = f"($__timeFrom()::timestamptz AT TIME ZONE {TZ})::date"
LOCAL_DAY_TO = f"($__timeTo()::timestamptz AT TIME ZONE {TZ})::date"
LOCAL_MONTH_FROM = f"date_trunc('month', $__timeFrom()::timestamptz AT TIME ZONE {TZ})::date"

# The exclusive end of the range's complete local days: the days before it are over, both in the range
# and on the clock. A range ending in the future (Grafana's "This month") stops at now; the day now (or the
# range end) is in is still running and left out, so a comparison never sets today's first hours against a
# whole day a year earlier. Grafana ends a range that closes a day at its last millisecond (23:59:59.999):
# the second added to the range end (not to now) makes that day count.
LOCAL_DAYS_DONE_TO = f"(least($__timeTo()::timestamptz + interval '1 second', now()) AT TIME ZONE {TZ})::date"


# The whole local months inside the range: from the first month starting on or after its first day, up to
# (exclusive) the month its last day is in unless that day ends the month. Empty (from >= to) when the range
# holds no whole month.
WHOLE_MONTHS_FROM = f"(date_trunc('month', ({LOCAL_DAY_FROM} - 1)::timestamp) + interval '1 month')::date"
WHOLE_MONTHS_TO = f"date_trunc('month', ({LOCAL_DAY_TO} + 1)::timestamp)::date"


# A meter's usage over the range's local days: usage_monthly for the whole months inside it, usage_daily for the
# days before and after them. A year is then some twelve monthly rows and a few dozen daily ones per meter, not
# 365; the rollup writes every month as the sum of its days (ingest/rollup.py), so the sum is the same. Probed
# per meter (a lateral join), so a city's or an institution's panel reads only its meters: the bounds depend on
# the deployment time zone, which the planner cannot see, and over a join it misjudged a city as the province.
# A branch whose span is empty (no whole month; no days after them) is skipped once, before any probe.
def range_usage(meter_id: str) -> str:
    """``JOIN LATERAL (…) d ON true``: rows ``d.consumption`` of the meter ``meter_id`` (a column of the outer
    query, e.g. ``"m.id"``) whose sum is its usage over the dashboard range's local days."""
    return f"""JOIN LATERAL (
  SELECT um.consumption FROM usage_monthly um
  WHERE {WHOLE_MONTHS_FROM} < {WHOLE_MONTHS_TO}
    AND um.meter_id = {meter_id} AND um.month >= {WHOLE_MONTHS_FROM} AND um.month < {WHOLE_MONTHS_TO}
  UNION ALL
  SELECT ud.consumption FROM usage_daily ud
  WHERE ud.meter_id = {meter_id} AND ud.day >= {LOCAL_DAY_FROM} AND ud.day < least({WHOLE_MONTHS_FROM}, {LOCAL_DAY_TO} + 1)
  UNION ALL
  SELECT ud.consumption FROM usage_daily ud
  WHERE greatest({WHOLE_MONTHS_TO}, {WHOLE_MONTHS_FROM}) <= {LOCAL_DAY_TO}
    AND ud.meter_id = {meter_id} AND ud.day >= greatest({WHOLE_MONTHS_TO}, {WHOLE_MONTHS_FROM}) AND ud.day <= {LOCAL_DAY_TO}
) d ON true"""


def local_date_as_time(col: str) -> str:
    """A local calendar date as the timestamptz of its local midnight (Grafana's time column)."""
    return f"({col}::timestamp AT TIME ZONE {TZ})"


# Standard-coal coefficients come from the methodology the deployment scores with (the shipped default,
# scoring/methodologies/, GB/T 2589-2020 annex A): a changed coefficient changes the dashboards' SQL at the
# next `jieneng dashboards build`, and `--check` fails until they are rebuilt. Dashboards are a monitoring
# view: the authoritative figures are a scoring run's, which record the methodology file they used.


def deployment_methodology() -> Methodology:
    """The methodology whose coefficients the dashboards convert with: the shipped default."""
    return load_methodology()


def kgce_table(m: Methodology | None = None) -> dict[tuple[str, str], float]:
    """kgce per unit for every (energy type, allowed unit) of `m` (default: deployment_methodology())."""
    return kgce_per_metered_unit(deployment_methodology() if m is None else m)


def kgce_values(m: Methodology | None = None) -> str:
    """``(VALUES …) AS kgce(energy_type, unit, kgce_per_unit)`` to join on meter (energy_type, unit)."""
    rows = ", ".join(f"('{e}', '{u}', {round(v, 9)!r}::float8)" for (e, u), v in kgce_table(m).items())
    return f"(VALUES {rows}) AS kgce(energy_type, unit, kgce_per_unit)"


def canonical_factor(energy_type: str, alias: str = "m") -> str:
    """Factor from the meter ``alias``'s unit to the energy type's canonical unit (store.codes), as SQL;
    NULL for a unit the type does not allow, so such a meter drops out of a sum rather than adding raw."""
    to = CANONICAL_UNITS[energy_type]
    whens = " ".join(
        f"WHEN '{u}' THEN {float(conversion_factor(u, to))!r}" for u in ENERGY_UNITS[energy_type]
    )
    return f"CASE {alias}.unit {whens} END"


# Water in m³ whatever the meter's unit (water is its own indicator, not energy).
WATER_M3 = canonical_factor("water")
# Electricity in kWh.
ELEC_KWH = canonical_factor("electricity")

# What the meter ``m`` adds to its institution's totals (store/totals.py, the rule scoring sums by): IN_TOTALS keeps
# the meters it sums, TOTALS_SIGN is then 1, or -1 for excluded floor area. Every total filters by the one and
# multiplies by the other.
TOTALS_SIGN = f"({sign_in_totals_sql('m')})"
IN_TOTALS = in_totals_sql("m")

# Latest known floor area and headcount up to the year the time range ends in.
INSTITUTION_YEAR = (
    "LEFT JOIN LATERAL (SELECT iy.floor_area_m2, iy.occupants FROM institution_year iy "
    "WHERE iy.institution_id = i.id "
    f"AND iy.year <= extract(year from $__timeTo()::timestamptz AT TIME ZONE {TZ}) "
    "ORDER BY iy.year DESC LIMIT 1) y ON true"
)


# The custom all value of the region, institution and meter variables, inserted verbatim by Grafana:
# "All" is one marker, not every id (300,000 quoted meter ids at province size), and the filters below
# test for it, so PostgreSQL folds an All filter away at plan time.
ALL_VALUE = "'__all'"


def _array(var: str) -> str:
    # ${var:sqlstring} quotes each value whether Grafana holds the selection as a list or as a lone
    # string; ARRAY[…]::text[] stays valid SQL for an empty selection (ARRAY[]).
    return f"ARRAY[${{{var}:sqlstring}}]::text[]"


def is_all(var: str) -> str:
    """The variable ``var`` is on All."""
    return f"{ALL_VALUE} = ANY({_array(var)})"


def listed(col: str, var: str) -> str:
    """``col`` is one of the values chosen in ``var``; nothing matches on All (chained variables and
    per-meter detail stay bounded by an explicit choice)."""
    return f"{col} = ANY({_array(var)})"


def chosen(col: str, var: str) -> str:
    """``col`` is one of the values chosen in ``var``, or anything when ``var`` is on All."""
    return f"({is_all(var)} OR {listed(col, var)})"


def in_cities(col: str) -> str:
    """The region code ``col`` is one of the chosen cities. Institutions are registered under their city's code
    (docs/registry.md), so this is an exact match: a set computed at run time (store.regions' subtree) would hide
    the city's size from the planner, which then read a year of every meter's daily usage for one city's panels."""
    return listed(col, "region")


def region_chosen(col: str) -> str:
    """The region code ``col`` is in a chosen city (or under one), or anything when the city is on All."""
    return f"({is_all('region')} OR {in_cities(col)})"


def institution_chosen(col: str) -> str:
    """The institution id ``col`` passes the city and institution variables. The city's test reads the chosen
    institutions only when some are chosen (the institution's All folds away at plan time), so one
    institution's panels do not read every institution of its city."""
    return (
        f"{chosen(col, 'institution')} AND ({is_all('region')} OR {col} IN "
        f"(SELECT ri.id FROM institution ri WHERE {in_cities('ri.region_code')} AND {chosen('ri.id', 'institution')}))"
    )


def meter_chosen(col: str) -> str:
    """The meter id ``col`` passes the city, institution and meter variables (for tables keyed by meter only)."""
    return (
        f"{chosen(col, 'meter')} AND (({is_all('region')} AND {is_all('institution')}) OR {col} IN "
        f"(SELECT mi.id FROM meter mi WHERE {institution_chosen('mi.institution_id')}))"
    )


# The months the dashboard range touches, each with the span of days it covers: a month still
# running (or cut by the range end) covers its complete days only (LOCAL_DAYS_DONE_TO), so it is
# compared with the same number of days from the same month's start a year earlier (February's 28 complete
# days of a leap year against all 28 of the year before); a whole month with the whole month a year earlier
# (a leap February's 29 days with 28); a month with no complete day yet is left out. ``until`` is
# exclusive; ``whole`` says the span is the full month, which usage_monthly answers without reading days.
MONTH_SPANS = f"""
months AS (
  SELECT month, next_month, least(next_month, {LOCAL_DAYS_DONE_TO}) AS until
  FROM (SELECT mo::date AS month, (mo + interval '1 month')::date AS next_month
        FROM generate_series({LOCAL_MONTH_FROM}, {LOCAL_DAY_TO}, interval '1 month') mo) mo
  WHERE month < {LOCAL_DAYS_DONE_TO}
), spans AS (
  SELECT month, 0 AS years_back, month AS span_from, until AS span_to, until = next_month AS whole FROM months
  UNION ALL
  SELECT month, 1, (month - interval '1 year')::date,
         CASE WHEN until = next_month THEN (next_month - interval '1 year')::date
              ELSE (month - interval '1 year')::date + (until - month) END,
         until = next_month
  FROM months
)"""


def span_usage(meters: str) -> str:
    """Usage over each span of the meters ``meters`` (a subquery of meter ids): usage_monthly for
    whole months, usage_daily for partial ones, each read by its time index or by meter."""
    return f"""
JOIN LATERAL (
  SELECT um.meter_id, um.consumption FROM usage_monthly um
  WHERE sp.whole AND um.month = sp.span_from AND um.meter_id IN ({meters})
  UNION ALL
  SELECT ud.meter_id, ud.consumption FROM usage_daily ud
  WHERE NOT sp.whole AND ud.day >= sp.span_from AND ud.day < sp.span_to AND ud.meter_id IN ({meters})
) u ON true"""


# A scoring run over the whole province (a run limited to a city scores, and ranks, only part of it).
PROVINCE_RUN = "(region_code IS NULL OR region_code IN (SELECT code FROM region WHERE level = 'province'))"


def energy_label(col: str) -> str:
    """An energy type code as its bilingual name, e.g. ``电力 electricity``."""
    whens = " ".join(f"WHEN '{code}' THEN '{zh} {code}'" for code, zh in ENERGY_TYPES.items())
    return f"CASE {col} {whens} ELSE {col} END"


def workday(local_date: str) -> str:
    """Whether a local date is a working day: the holiday calendar (``calendar_day``, from
    store/calendar.py, with 调休 make-up days), else Monday to Friday."""
    return (
        f"coalesce((SELECT cd.workday FROM calendar_day cd WHERE cd.day = ({local_date})::date), "
        f"extract(isodow from {local_date}) < 6)"
    )


# --- silence against each meter's expected reading interval ------------------------------------------

# The meter ``m``'s expected interval in seconds: its registry value, or the default for its kind
# (store.codes.default_read_interval_s through meter_interval_default, migration 0020); 0 is event-based.
# meter_read_interval_s() of migration 0020 by a join (INTERVAL_DEFAULT, as ``mid``): called per meter,
# the function cost 20 us a call, 1.5 s of the province's silent-meter count at 37,700 meters.
READ_INTERVAL_S = "coalesce(m.read_interval_s, mid.read_interval_s)"
INTERVAL_DEFAULT = (
    "LEFT JOIN meter_interval_default mid ON mid.energy_type = m.energy_type AND mid.end_use = m.end_use "
    "AND mid.register = m.register"
)

# The latest reading of the meter ``m`` (ts and received_at), as ingest keeps it per meter
# (meter_last_reading, migration 0024), and its kind's default interval for READ_INTERVAL_S: joins, where
# the province's silent meters took a probe of ``reading`` per meter (37,700 at 100x).
LAST_READING = f"LEFT JOIN meter_last_reading last ON last.meter_id = m.id {INTERVAL_DEFAULT}"

# When the meter ``m``'s next reading was due: one expected interval after its latest reading (or its
# installation, for a meter that never reported).
READING_DUE = f"(coalesce(last.ts, m.installed_at) + make_interval(secs => {READ_INTERVAL_S}))"

# Hours since the next reading was due (negative: not due yet).
HOURS_OVERDUE = f"extract(epoch from now() - {READING_DUE}) / 3600"


def silent(hours_sql: str) -> str:
    """The meter ``m`` (joined to ``last``), in service (not retired, or retiring later), is silent: its next reading, due one expected interval
    after the last, is more than ``hours_sql`` hours late. Event-based meters (interval 0: a fill-up or a
    delivery whenever it happens) have no due time and are never silent. One rule for the alert and the
    meter-health panels."""
    return (
        f"((m.retired_at IS NULL OR m.retired_at > now()) AND {READ_INTERVAL_S} > 0 "
        f"AND {READING_DUE} < now() - make_interval(secs => ({hours_sql}) * 3600))"
    )
