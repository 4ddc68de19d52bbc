"""Yearly figures and indicators of one institution (docs/design.md §5).

Definitions follow the public-institution energy statistics (公共机构能源资源消费统计制度):
- 单位建筑面积能耗 kgce/m² = (total energy − official-vehicle fuel) / floor area
- 人均综合能耗 kgce/person = total energy (vehicle fuel included) / occupants
- 人均用水量 m³/person = water / occupants
- 单位建筑面积碳排放 kgCO₂/m² = (carbon − official-vehicle fuel carbon) / floor area, matching per-area energy
- change against the baseline year and the previous year, in % of the earlier value
Only counted meters (main, vehicle and own-supply, never 分项 sub-meters) add to totals; excluded-area
sub-meters (dormitories, leased-out space) are deducted. A year whose meter data do not cover it (main
electricity and water metered, every counted clock-read meter at the coverage minimum of its expected readings)
takes the institution's reported statistics for that year instead (table reported_usage; e.g. a baseline year
before metering, or a meter installed in December); each YearInputs says which source it used and why.
Event-based meters (vehicle fuel: one reading per fill-up) are left out of the coverage figure
(`coverage_checked`).
"""

from __future__ import annotations

from collections.abc import Mapping

from scoring.coal import carbon_kgco2, energy_kgce, quantity_in_coef_unit
from scoring.inputs import InstitutionInput, MeterQuality, MeterUse
from scoring.methodology import CHANGE_SUFFIXES, LEVEL_INDICATORS, QUALITY_INDICATORS, Methodology
from scoring.numbers import fmt
from store import codes

# Results are plain dicts shaped like the scoring.model classes named in each docstring (EnergyLine,
# YearInputs, Indicator): building pydantic models in the hot path cost a second per 10,000 institutions.
# scoring.compute.score validates them into the models; scoring.canonical writes them out.


def interval_of(mu: MeterUse) -> int:
    """The meter's expected reading interval in seconds (0: event-based), its own or the registry default."""
    return codes.read_interval_s(mu.read_interval_s, mu.energy_type, mu.end_use)


def coverage_gaps(
    inst: InstitutionInput, year: int, quality: Mapping[str, MeterQuality], min_cov: float
) -> list[str]:
    """Counted, clock-read meters whose data do not cover `year`: coverage (share of the year's expected
    readings present, judged against each meter's interval) below `min_cov`, or unknown for a meter with
    usage that year. A meter with neither usage nor quality that year was not in service then."""
    out: list[str] = []
    for mu in sorted(inst.meters, key=lambda x: x.meter_id):
        if not coverage_checked(mu):
            continue
        q = quality.get(mu.meter_id)
        if q is None or q.coverage is None:
            if q is not None or year in mu.by_year:
                out.append(f"meter {mu.meter_id}: data quality unknown for {year}")
        elif q.coverage < min_cov:
            out.append(f"meter {mu.meter_id}: coverage {fmt(q.coverage)} below the minimum {fmt(min_cov)}")
    return out


def meter_year_gaps(
    inst: InstitutionInput, year: int, quality: Mapping[str, MeterQuality], min_cov: float
) -> list[str]:
    """Why meter data do not cover `year` as the methodology requires (empty: they do): the year needs
    main electricity and water from meters, and every counted clock-read meter at the coverage minimum."""
    counted = [mu for mu in inst.meters if mu.counted and year in mu.by_year]
    out: list[str] = []
    if not any(mu.end_use == "main" and mu.energy_type == "electricity" for mu in counted):
        out.append(f"no main electricity meter data in {year}")
    if not any(mu.energy_type == "water" for mu in counted):
        out.append(f"no water meter data in {year}")
    return out + coverage_gaps(inst, year, quality, min_cov)


def year_quality(inst: InstitutionInput, year: int, scored_year: int) -> Mapping[str, MeterQuality]:
    """Per-meter quality of `year`: the scored year's is `inst.quality` unless quality_by_year has it."""
    got = inst.quality_by_year.get(year)
    if got is not None:
        return got
    return inst.quality if year == scored_year else {}


def year_inputs(
    inst: InstitutionInput,
    year: int,
    m: Methodology,
    problems: list[str] | None = None,
    *,
    quality: Mapping[str, MeterQuality] | None = None,
    scored: bool = False,
) -> dict:
    """Sum one year's counted use per energy type (vehicle fuel apart) and convert it to kgce and kgCO₂.

    Meter usage is taken only when it covers the year as the methodology requires (`meter_year_gaps`, with
    `quality` of that year); otherwise the institution's statistics return for the year, whole; with
    neither, the scored year (`scored`) keeps its partial meter data (missing inputs then say why it is not
    scored) and any other year has no figures. `source_reason` says which and why.

    Returns a dict shaped like scoring.model.YearInputs (energy: EnergyLine dicts)."""
    area, occupants = inst.years.get(year, (None, None))
    # (energy type, vehicle, unit) -> [(meter id or None for a reported figure, quantity, reported source)]
    groups: dict[tuple[str, bool, str], list[tuple[str | None, float, str | None]]] = {}
    water: float | None = None
    deductions: dict[tuple[str, bool, str], float] = {}
    deduction_ids: dict[tuple[str, bool, str], list[str]] = {}
    deducted_ids: list[str] = []
    metered = [mu for mu in inst.meters if mu.counted and year in mu.by_year]
    has_data = bool(metered)
    reported = inst.reported.get(year, [])
    gaps = meter_year_gaps(inst, year, quality or {}, m.spec.vetoes.min_coverage) if has_data else []
    use_meters = has_data and (not gaps or (scored and not reported))
    if use_meters:
        for mu in metered:
            q = mu.by_year[year]
            if mu.energy_type == "water":
                water = (water or 0.0) + q
                continue
            groups.setdefault((mu.energy_type, mu.end_use == "vehicle", mu.unit), []).append(
                (mu.meter_id, q, None)
            )
        # excluded floor area (dormitories, leased-out space): its sub-metered use leaves the totals, as its
        # area leaves 建筑面积
        for mu in inst.meters:
            if not mu.deducted or year not in mu.by_year:
                continue
            q = mu.by_year[year]
            deducted_ids.append(mu.meter_id)
            if mu.energy_type == "water":
                water = (water or 0.0) - q
                continue
            key = (mu.energy_type, False, mu.unit)
            deductions[key] = deductions.get(key, 0.0) + q
            deduction_ids.setdefault(key, []).append(mu.meter_id)
            groups.setdefault(key, [])
        source, source_detail = "meters", "meter usage (usage_monthly)"
        reason = (
            f"meter data cover {year}: main electricity and water metered, every counted meter at or above "
            f"the coverage minimum {fmt(m.spec.vetoes.min_coverage)} of its expected readings"
            if not gaps
            else f"meter data do not cover {year} ({'; '.join(gaps)}) and there is no statistics return for "
            f"{year}: the partial meter data are shown, and the year cannot be scored"
        )
    elif reported:
        # The institution's annual statistics return (公共机构能源资源消费统计) stands in for the whole year:
        # never mixed with meter usage within one year, so a year is wholly one source or the other.
        has_data = True
        srcs = sorted({r.source for r in reported if r.source})
        source = "reported"
        source_detail = "reported statistics (公共机构能源资源消费统计)" + (
            f": {'; '.join(srcs)}" if srcs else ""
        )
        reason = (
            f"no meter usage in {year}"
            if not metered
            else f"meter data do not cover {year} ({'; '.join(gaps)})"
        ) + ": the statistics return is used"
        for r in reported:
            if r.energy_type == "water":
                water = (water or 0.0) + r.quantity
                continue
            groups.setdefault((r.energy_type, r.end_use == "vehicle", r.unit), []).append(
                (None, r.quantity, r.source)
            )
    elif has_data:
        source, source_detail = "none", None
        reason = (
            f"meter data do not cover {year} ({'; '.join(gaps)}) and there is no statistics return for "
            f"{year}: no figures for this year"
        )
    else:
        source, source_detail = "none", None
        reason = f"no meter usage and no statistics return for {year}"
    lines: list[dict] = []
    total = vehicle = building_carbon = 0.0
    complete = True
    for (et, is_vehicle, unit), rows in sorted(groups.items()):
        coef = m.spec.coefficients.get(et)
        deducted = deductions.get((et, is_vehicle, unit))
        metered = sum(r[1] for r in rows)
        quantity = metered - (deducted or 0.0)
        mids = sorted(r[0] for r in rows if r[0] is not None)
        if quantity < 0:
            # more deducted than metered (a wrong CT ratio, a sub-meter on the wrong parent): a negative total
            # would rank the institution best of its peers
            complete = False
            if problems is not None:
                problems.append(
                    f"{year}: {et}: excluded floor area (meters "
                    f"{', '.join(sorted(deduction_ids.get((et, is_vehicle, unit), [])))}) "
                    f"{fmt(deducted or 0.0)} {unit} exceeds the metered {fmt(metered)} {unit}"
                )
            continue
        if coef is None:
            complete = False
            if problems is not None:
                what = f"meters {', '.join(mids)}" if mids else "reported statistics"
                problems.append(f"{year}: {et} use has no coefficient in {m.name} ({what})")
            continue
        try:
            qc, density = quantity_in_coef_unit(quantity, unit, coef)
        except ValueError as exc:
            complete = False
            if problems is not None:
                problems.append(f"{year}: {et}: {exc}")
            continue
        kgce = energy_kgce(qc, coef)
        co2 = carbon_kgco2(qc, coef)
        lines.append(
            dict(
                energy_type=et,
                vehicle=is_vehicle,
                quantity=quantity,
                unit=unit,
                quantity_in_coef_unit=qc,
                coef_unit=coef.unit,
                density_kg_per_l=density,
                kgce_per_unit=coef.kgce_per_unit,
                coef_basis=coef.basis,
                coef_source=coef.source,
                energy_kgce=kgce,
                kgco2_per_unit=coef.kgco2_per_unit,
                carbon_source=coef.carbon_source,
                carbon_kgco2=co2,
                meter_ids=mids,
                reported_sources=sorted({r[2] for r in rows if r[2]}),
                deducted_quantity=deducted,
                deducted_meter_ids=sorted(deduction_ids.get((et, is_vehicle, unit), [])),
            )
        )
        total += kgce
        if is_vehicle:
            vehicle += kgce
        else:
            building_carbon += co2
    ok = (use_meters or source == "reported") and complete
    return dict(
        year=year,
        floor_area_m2=area,
        occupants=occupants,
        students_counted=inst.students_counted.get(year),
        energy=lines,
        water_m3=water,
        total_energy_kgce=total if ok else None,
        vehicle_energy_kgce=vehicle if ok else None,
        building_energy_kgce=total - vehicle if ok else None,
        building_carbon_kgco2=building_carbon if ok else None,
        has_data=has_data,
        source=source,
        source_detail=source_detail,
        source_reason=reason,
        deducted_meter_ids=sorted(deducted_ids),
    )


def _div(num: float | None, den: float | None) -> float | None:
    return None if num is None or den is None or den == 0 else num / den


def level_values(y: dict | None) -> dict[str, float | None]:
    """The four level indicators of one year (`y` from year_inputs; None where an input is missing)."""
    if y is None:
        return dict.fromkeys(LEVEL_INDICATORS)
    return {
        "area_energy_kgce_m2": _div(y["building_energy_kgce"], y["floor_area_m2"]),
        "capita_energy_kgce": _div(y["total_energy_kgce"], y["occupants"]),
        "capita_water_m3": _div(y["water_m3"], y["occupants"]),
        "area_carbon_kgco2_m2": _div(y["building_carbon_kgco2"], y["floor_area_m2"]),
    }


def _formula(code: str, y: dict) -> str:
    if code == "area_energy_kgce_m2":
        return f"({fmt(y['total_energy_kgce'])} − vehicle {fmt(y['vehicle_energy_kgce'])}) kgce / {fmt(y['floor_area_m2'])} m²"
    if code == "capita_energy_kgce":
        return f"{fmt(y['total_energy_kgce'])} kgce / {fmt(y['occupants'])} persons"
    if code == "capita_water_m3":
        return f"{fmt(y['water_m3'])} m³ / {fmt(y['occupants'])} persons"
    return f"{fmt(y['building_carbon_kgco2'])} kgCO₂ (vehicle excluded) / {fmt(y['floor_area_m2'])} m²"


def change_pct(now: float | None, before: float | None) -> float | None:
    """(now − before) / before × 100; negative is a reduction."""
    if now is None or before is None or before == 0:
        return None
    return (now - before) / before * 100.0


def coverage_checked(mu: MeterUse) -> bool:
    """Whether a meter's coverage counts towards the coverage minimum and the data-quality block.

    Meters whose use enters the totals, read on a clock: counted meters, and excluded-area sub-meters, whose
    use is deducted (a dormitory meter read for half the year would deduct half the dormitory's use from a
    total whose floor area leaves the dormitory out all year). Event-based meters (expected interval 0:
    official-vehicle fuel, one reading per fill-up; delivered fuels) have no expected readings to miss; their
    use still counts in the totals and their figures are shown in the explanation."""
    return (mu.counted or mu.deducted) and interval_of(mu) != codes.EVENT_BASED


def coverage_min(inst: InstitutionInput, quality: Mapping[str, MeterQuality] | None = None) -> float | None:
    """Lowest coverage of the scored year among counted clock-read meters in service, event-based meters
    excluded (None when any is unknown or there is none)."""
    quality = inst.quality if quality is None else quality
    covs = []
    for mu in inst.meters:
        if coverage_checked(mu):
            if mu.meter_id not in quality and not mu.by_year:
                continue
            q = quality.get(mu.meter_id)
            if q is None or q.coverage is None:
                return None
            covs.append(q.coverage)
    return min(covs) if covs else None


def indicators(
    inst: InstitutionInput,
    current: dict,
    baseline: dict | None,
    previous: dict | None,
    quality: Mapping[str, MeterQuality] | None = None,
    prior: dict | None = None,
) -> list[dict]:
    """Every indicator of the scored year (dicts shaped like scoring.model.Indicator), from year_inputs dicts.
    `prior` is the year before the previous one: `_change_prior_pct` is the previous year against it, the
    second year of the two-year annual target check."""
    now = level_values(current)
    base = level_values(baseline)
    prev = level_values(previous)
    pri = level_values(prior)
    out: list[dict] = []
    for code, (label, unit) in LEVEL_INDICATORS.items():
        v = now[code]
        out.append(
            dict(
                code=code,
                label=label,
                value=v,
                unit=unit,
                lower_is_better=True,
                formula=_formula(code, current) if v is not None else "missing input",
            )
        )
    for code, (label, _unit) in LEVEL_INDICATORS.items():
        for suffix, what in CHANGE_SUFFIXES.items():
            this, this_y = (prev, previous) if suffix == "_change_prior_pct" else (now, current)
            other, other_y = {
                "_change_baseline_pct": (base, baseline),
                "_change_previous_pct": (prev, previous),
                "_change_prior_pct": (pri, prior),
            }[suffix]
            v = change_pct(this[code], other[code])
            if v is not None:
                before = fmt(other[code])
                formula = f"({fmt(this[code])} − {before}) / {before} × 100 (year {this_y['year']} against {other_y['year']})"
            else:
                formula = (
                    "missing input: no figure for "
                    + (f"year {other_y['year']}" if other_y is not None else "that year")
                    if this[code] is not None
                    else (
                        "missing input"
                        if this_y is None
                        else f"missing input: no figure for year {this_y['year']}"
                    )
                )
            out.append(
                dict(
                    code=code + suffix,
                    label=label + what,
                    value=v,
                    unit="%",
                    formula=formula,
                    lower_is_better=True,
                )
            )
    cov = coverage_min(inst, quality)
    label, unit = QUALITY_INDICATORS["coverage_min"]
    out.append(
        dict(
            code="coverage_min",
            label=label,
            value=cov,
            unit=unit,
            lower_is_better=False,
            formula=(
                "min over counted and deducted meters (event-based vehicle-fuel meters excluded) of expected readings "
                "present / expected readings (each meter's interval)"
                if cov is not None
                else "quality unknown for a counted or deducted meter, or no counted meter"
            ),
        )
    )
    return out
