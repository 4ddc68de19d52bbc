"""The thin database loader: registry, yearly usage, data quality and assessed items → InstitutionInput.

Yearly usage comes from meters (usage_monthly) and from the figures institutions reported in their annual
statistics returns (reported_usage, 公共机构能源资源消费统计). The loader hands both to the core, with each
counted meter's coverage of every year read (against its own reading interval, over the whole calendar year);
scoring.indicators.year_inputs takes a year's meter data only when they cover it, and the return otherwise.

A handful of set-based queries (no per-institution round trips), so a province of 10,000 institutions
loads in about the time of one aggregate over its monthly usage. Years are calendar years in the deployment
time zone: usage_monthly months are already local months.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from scoring.inputs import AssessedEntry, InstitutionInput, MeterQuality, MeterUse, ReportedUse
from scoring.methodology import Methodology
from store import assessed as store_assessed
from store import coverage as store_coverage
from store.codes import EVENT_BASED, SUB_METER_END_USES, UNITS, UnitError, conversion_factor, read_interval_s
from store.deployment import deployment_timezone
from store.regions import city_code_sql, subtree_sql
from store.totals import in_totals_sql, totals_sign_sql


def _scope_sql(region_code: str | None) -> str:
    if region_code is None:
        return "TRUE"
    # the region and every region under it, however deep (store.regions)
    return f"i.region_code = ANY({subtree_sql('%(region)s')})"


def target_unit(energy_type: str, meter_unit: str, m: Methodology) -> tuple[str | None, str | None]:
    """(unit to convert this meter's use to, problem). Same dimension: the coefficient's unit; litres of a fuel
    whose coefficient is per kg stay in L (the methodology's density converts them in the core)."""
    if energy_type == "water":
        want = "m3"
    else:
        coef = m.spec.coefficients.get(energy_type)
        if coef is None:
            return None, f"{energy_type} has no coefficient in {m.name}"
        want = coef.unit
        if (
            meter_unit in UNITS
            and UNITS[meter_unit].dimension == "volume"
            and UNITS[want].dimension == "mass"
            and coef.density_kg_per_l is not None
        ):
            want = "L"
    try:
        conversion_factor(meter_unit, want)
    except UnitError as exc:
        return None, str(exc)
    return want, None


def _get(q: Any, name: str) -> Any:
    return q.get(name) if isinstance(q, dict) else getattr(q, name, None)


def load_quality(
    conn: psycopg.Connection, year: int, meter_ids: list[str], tz: str
) -> dict[str, MeterQuality]:
    """Per-meter data quality over the local calendar year, from store.quality (ingest's figures)."""
    from store.quality import meter_quality

    zone = ZoneInfo(tz)
    start, end = datetime(year, 1, 1, tzinfo=zone), datetime(year + 1, 1, 1, tzinfo=zone)
    out: dict[str, MeterQuality] = {}
    if not meter_ids:
        return out
    for q in meter_quality(conn, start, end, meter_ids):
        mid = _get(q, "meter_id")
        out[mid] = MeterQuality(
            meter_id=mid,
            coverage=_get(q, "coverage"),
            longest_gap_hours=_get(q, "longest_gap_hours"),
            resets=_get(q, "resets"),
            rollovers=_get(q, "rollovers"),
            quarantined=_get(q, "quarantined"),
            conflicts=_get(q, "conflicts"),
            rejects=_get(q, "rejects"),
        )
    return out


# A meter and its successor a day apart or less together answer for the year (a swap takes hours, not days).
SWAP_TOLERANCE = timedelta(days=1)
# Supplies every public building has all year: a main electricity or water meter retired with no successor
# leaves the rest of the year unread, not unused. Other supplies (gas, heat, a leased-out floor) may end.
CONTINUOUS_SUPPLIES = {("electricity", "main"), ("water", "main")}


def year_windows(mid: str, mt: dict, siblings: list[dict], years: list[int], tz: str) -> list[tuple]:
    """The (meter, year, start, end, interval, installed_at) windows over which a clock-read meter must have data.

    A year's window is the whole local calendar year, so a meter installed in December does not cover the
    months before it (the year then takes the statistics return, scoring.indicators.year_inputs). It starts
    at installation only when a meter of the same institution, energy type and end use (a sibling) was in
    service until then (retired at most a day before), and ends at retirement only when a sibling took over
    (installed before it or at most a day after) or the supply may end (not main electricity or water): months between a
    retirement and a successor, or after a main meter's retirement, are expected readings that are missing.
    Years the meter was not in service at all have no window."""
    zone = ZoneInfo(tz)
    out = []
    continuous = (mt.get("et"), mt.get("end_use")) in CONTINUOUS_SUPPLIES
    for y in years:
        start, end = datetime(y, 1, 1, tzinfo=zone), datetime(y + 1, 1, 1, tzinfo=zone)
        installed, retired = mt["installed"], mt["retired"]
        if installed >= end or (retired is not None and retired <= start):
            continue
        a = start
        if installed > start and any(
            s["installed"] < installed
            and s["retired"] is not None
            and s["retired"] >= installed - SWAP_TOLERANCE
            for s in siblings
        ):
            a = installed
        b = end
        if (
            retired is not None
            and retired < end
            and (
                not continuous
                or any(installed < s["installed"] <= retired + SWAP_TOLERANCE for s in siblings)
            )
        ):
            b = retired
        out.append((mid, y, a, b, mt["interval"], installed))
    return out


def year_coverage(
    conn: psycopg.Connection, meters: dict[str, dict], years: list[int], tz: str
) -> dict[tuple[str, int], float]:
    """Coverage (share of expected readings present, at each meter's interval) per (meter, year in service)."""
    by_supply: dict[tuple, list[dict]] = defaultdict(list)
    for mt in meters.values():
        by_supply[(mt["iid"], mt["et"], mt["end_use"])].append(mt)
    windows = []
    for mid, mt in meters.items():
        if mt["interval"] == EVENT_BASED:
            continue
        siblings = [s for s in by_supply[(mt["iid"], mt["et"], mt["end_use"])] if s is not mt]
        windows += year_windows(mid, mt, siblings, years, tz)
    out = {}
    for key, (expected, have) in store_coverage.meter_window_coverage(conn, windows, tz).items():
        out[key] = have / expected if expected else 1.0
    return out


def load_inputs(
    conn: psycopg.Connection, m: Methodology, year: int, region_code: str | None = None
) -> list[InstitutionInput]:
    params = {"region": region_code}
    scope = _scope_sql(region_code)
    rows = conn.execute(
        f"""SELECT i.id, i.name, i.region_code,
                   {city_code_sql("r")},
                   i.category, i.sub_kind, i.admin_level, i.climate_zone, i.baseline_year
            FROM institution i JOIN region r ON r.code = i.region_code
            WHERE {scope} ORDER BY i.id""",
        params,
    ).fetchall()
    insts = {
        r[0]: InstitutionInput(
            id=r[0],
            name=r[1],
            region_code=r[2],
            city_code=r[3],
            category=r[4],
            sub_kind=r[5],
            admin_level=r[6],
            climate_zone=r[7],
            baseline_year=r[8],
        )
        for r in rows
    }
    default_by = m.spec.methodology.default_baseline_year
    # the scored year, the previous one and the one before it (two-year annual targets), the baselines
    years = sorted(
        {year, year - 1, year - 2, default_by} | {i.baseline_year for i in insts.values() if i.baseline_year}
    )
    params["years"] = years

    for iid, y, area, occ, students in conn.execute(
        f"""SELECT iy.institution_id, iy.year, iy.floor_area_m2, iy.occupants, iy.students_counted
            FROM institution_year iy JOIN institution i ON i.id = iy.institution_id
            WHERE iy.year = ANY(%(years)s) AND {scope}""",
        params,
    ):
        insts[iid].years[y] = (area, occ)
        if students is not None:
            insts[iid].students_counted[y] = students

    # Which meters add to the totals and with which sign is store.totals' rule, applied in SQL so the dashboards
    # sum the same meters: 1 counted, -1 deducted (excluded floor area, once at the outermost), 0 sub-meters.
    meters: dict[str, dict] = {}
    for mid, iid, et, unit, register, end_use, parent, installed, retired, interval, sign in conn.execute(
        f"""SELECT m.id, m.institution_id, m.energy_type, m.unit, m.register, m.end_use, m.parent_meter_id,
                   m.installed_at, m.retired_at, m.read_interval_s, {totals_sign_sql("m")}
            FROM meter m JOIN institution i ON i.id = m.institution_id WHERE {scope} ORDER BY m.id""",
        params,
    ):
        counted, deducted = sign > 0, sign < 0
        if parent is None and not counted and end_use in SUB_METER_END_USES:
            # the registry import refuses these; a row from before that check is named, never silently dropped
            insts[iid].registry_problems.append(
                f"meter {mid} ({end_use} sub-meter) has no parent meter and is not marked own_supply: its use "
                "is counted nowhere, so the totals may be incomplete (set parent_meter_id, or accounting = own_supply)"
            )
        meters[mid] = dict(
            iid=iid,
            et=et,
            unit=unit,
            end_use=end_use,
            counted=counted,
            deducted=deducted,
            by_year={},
            installed=installed,
            retired=retired,
            interval=read_interval_s(interval, et, end_use, register),
        )

    # One aggregate: yearly use of every meter in scope that enters the totals, for the years scoring needs.
    usage = conn.execute(
        f"""SELECT u.meter_id, extract(year FROM u.month)::int AS y, sum(u.consumption)
            FROM usage_monthly u JOIN meter m ON m.id = u.meter_id JOIN institution i ON i.id = m.institution_id
            WHERE extract(year FROM u.month)::int = ANY(%(years)s) AND {in_totals_sql("m")} AND {scope}
            GROUP BY u.meter_id, y""",
        params,
    ).fetchall()
    for mid, y, total in usage:
        meters[mid]["by_year"][y] = total

    # (energy type, unit) → (target unit, problem, factor): a province has a handful of pairs, and the
    # exact fraction arithmetic of conversion_factor per meter was a tenth of the load time
    conversions: dict[tuple[str, str], tuple[str | None, str | None, float | None]] = {}
    for mid, mt in meters.items():
        inst = insts[mt["iid"]]
        by_year = mt["by_year"]
        unit = mt["unit"]
        if mt["counted"] or mt["deducted"]:
            key = (mt["et"], unit)
            if key not in conversions:
                want, problem = target_unit(mt["et"], unit, m)
                conversions[key] = (
                    want,
                    problem,
                    None if problem or want == unit else conversion_factor(unit, want),
                )
            want, problem, f = conversions[key]
            if problem is not None:
                if by_year:
                    inst.unconverted.append(f"meter {mid} ({mt['et']}, {unit}): {problem}")
                by_year = {}
            elif want != unit:
                by_year = {y: v * f for y, v in by_year.items()}
                unit = want
        inst.meters.append(
            MeterUse(
                meter_id=mid,
                energy_type=mt["et"],
                end_use=mt["end_use"],
                counted=mt["counted"],
                unit=unit,
                by_year=dict(sorted(by_year.items())),
                read_interval_s=mt["interval"],
                deducted=mt["deducted"],
            )
        )

    reported: dict[str, dict[int, list[ReportedUse]]] = defaultdict(lambda: defaultdict(list))
    for iid, y, et, end_use, unit, qty, source in conn.execute(
        f"""SELECT r.institution_id, r.year, r.energy_type, r.end_use, r.unit, r.quantity, r.source
            FROM reported_usage r JOIN institution i ON i.id = r.institution_id
            WHERE r.year = ANY(%(years)s) AND {scope}
            ORDER BY r.institution_id COLLATE "C", r.year, r.energy_type COLLATE "C", r.end_use COLLATE "C"
        """,
        params,
    ):
        key = (et, unit)
        if key not in conversions:
            want, problem = target_unit(et, unit, m)
            conversions[key] = (
                want,
                problem,
                None if problem or want == unit else conversion_factor(unit, want),
            )
        want, problem, f = conversions[key]
        if problem is not None:
            insts[iid].unconverted.append(f"reported {y} {et} ({unit}): {problem}")
            continue
        if want != unit:
            qty, unit = qty * f, want
        reported[iid][y].append(
            ReportedUse(energy_type=et, end_use=end_use, unit=unit, quantity=qty, source=source)
        )
    for iid, by_year in reported.items():
        insts[iid].reported = dict(by_year)

    tz = deployment_timezone(conn)
    # every meter whose use enters the totals: counted ones and excluded-area ones (deducted)
    counted_ids = sorted(mid for mid, mt in meters.items() if mt["counted"] or mt["deducted"])
    hourly = load_quality(conn, year, counted_ids, tz)
    coverage = year_coverage(conn, {mid: meters[mid] for mid in counted_ids}, years, tz)
    for mid in counted_ids:
        mt = meters[mid]
        inst = insts[mt["iid"]]
        for y in years:
            cov = coverage.get((mid, y))
            if mt["interval"] == EVENT_BASED:
                # event-based: no expected readings; the scored year shows the hourly figures for information
                if y == year and mid in hourly:
                    inst.quality[mid] = hourly[mid]
                continue
            if cov is None:
                continue  # not in service that year
            q = hourly.get(mid) if y == year else None
            q = replace(q, coverage=cov) if q is not None else MeterQuality(meter_id=mid, coverage=cov)
            if y == year:
                inst.quality[mid] = q
            inst.quality_by_year.setdefault(y, {})[mid] = q

    by_inst: dict[str, dict[str, AssessedEntry]] = defaultdict(dict)
    iso: dict[datetime, str] = {}  # items are entered in batches: few distinct timestamps
    for a in store_assessed.assessed_points_for_year(conn, year, list(insts) if region_code else None):
        if a["institution_id"] in insts:
            at = a["entered_at"]
            if at not in iso:
                iso[at] = at.astimezone(UTC).isoformat()
            by_inst[a["institution_id"]][a["item_code"]] = AssessedEntry(
                points=a["points"],
                evidence=a["evidence"],
                entered_by=a["entered_by"],
                entered_at=iso[at],
                out_of=a["out_of"],
            )
    for iid, entries in by_inst.items():
        insts[iid].assessed = entries
    return list(insts.values())
