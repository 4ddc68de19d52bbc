"""Yearly figures and indicators of one institution (DESIGN §5).

Definitions follow the public-institution energy statistics (公共机构能源资源消费统计制度):
- 单位建筑面积能耗 kgce/m² = (total energy − official-vehicle fuel) / floor area
- 人均综合能耗 kgce/person = total energy (vehicle fuel included) / occupants
- 人均用水量 m³/person = water / occupants
- 单位建筑面积碳排放 kgCO₂/m² = (carbon − official-vehicle fuel carbon) / floor area, matching per-area energy
- change against the baseline year and the previous year, in % of the earlier value
Only counted meters (main and vehicle, never 分项 sub-meters) add to totals. A year with no meter usage at
all takes the institution's reported statistics for that year instead (table reported_usage; e.g. a baseline
year before metering); each YearInputs says which source it used. Vehicle-fuel meters are event-based (one
reading per fill-up) and are left out of the coverage figure (`coverage_checked`).
"""

from __future__ import annotations

from scoring.coal import carbon_kgco2, energy_kgce, quantity_in_coef_unit
from scoring.inputs import InstitutionInput
from scoring.methodology import CHANGE_SUFFIXES, LEVEL_INDICATORS, QUALITY_INDICATORS, Methodology

# Results are plain dicts shaped like the scoring.model classes named in each docstring (EnergyLine,
# YearInputs, Indicator): building pydantic models in the hot path cost a second per 10,000 institutions.
# scoring.compute.score validates them into the models; scoring.canonical writes them out.


def year_inputs(inst: InstitutionInput, year: int, m: Methodology, problems: list[str] | None = None) -> dict:
    """Sum one year's counted use per energy type (vehicle fuel apart) and convert it to kgce and kgCO₂.

    Returns a dict shaped like scoring.model.YearInputs (energy: EnergyLine dicts)."""
    area, occupants = inst.years.get(year, (None, None))
    # (energy type, vehicle, unit) -> [(meter id or None for a reported figure, quantity, reported source)]
    groups: dict[tuple[str, bool, str], list[tuple[str | None, float, str | None]]] = {}
    water: float | None = None
    has_data = False
    for mu in inst.meters:
        if not mu.counted or year not in mu.by_year:
            continue
        has_data = True
        q = mu.by_year[year]
        if mu.energy_type == "water":
            water = (water or 0.0) + q
            continue
        groups.setdefault((mu.energy_type, mu.end_use == "vehicle", mu.unit), []).append((mu.meter_id, q, None))
    source, source_detail = ("meters", "meter usage (usage_monthly)") if has_data else ("none", None)
    reported = inst.reported.get(year, []) if not has_data else []
    if reported:
        # No meter recorded anything this year (before metering, or meters installed later): the institution's
        # annual statistics return (公共机构能源资源消费统计) stands in for the whole year. Never mixed with
        # meter usage within one year, so a year is wholly one source or the other.
        has_data = True
        srcs = sorted({r.source for r in reported if r.source})
        source = "reported"
        source_detail = "reported statistics (公共机构能源资源消费统计)" + (f": {'; '.join(srcs)}" if srcs else "")
        for r in reported:
            if r.energy_type == "water":
                water = (water or 0.0) + r.quantity
                continue
            groups.setdefault((r.energy_type, r.end_use == "vehicle", r.unit), []).append((None, r.quantity, r.source))
    lines: list[dict] = []
    total = vehicle = building_carbon = 0.0
    complete = True
    for (et, is_vehicle, unit), rows in sorted(groups.items()):
        coef = m.spec.coefficients.get(et)
        quantity = sum(r[1] for r in rows)
        mids = sorted(r[0] for r in rows if r[0] is not None)
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
        lines.append(dict(
            energy_type=et, vehicle=is_vehicle, quantity=quantity, unit=unit, quantity_in_coef_unit=qc,
            coef_unit=coef.unit, density_kg_per_l=density, kgce_per_unit=coef.kgce_per_unit, coef_basis=coef.basis,
            coef_source=coef.source, energy_kgce=kgce, kgco2_per_unit=coef.kgco2_per_unit,
            carbon_source=coef.carbon_source, carbon_kgco2=co2, meter_ids=mids,
            reported_sources=sorted({r[2] for r in rows if r[2]}),
        ))
        total += kgce
        if is_vehicle:
            vehicle += kgce
        else:
            building_carbon += co2
    ok = has_data and complete
    return dict(
        year=year, floor_area_m2=area, occupants=occupants, energy=lines, water_m3=water,
        total_energy_kgce=total if ok else None, vehicle_energy_kgce=vehicle if ok else None,
        building_energy_kgce=total - vehicle if ok else None,
        building_carbon_kgco2=building_carbon if ok else None, has_data=has_data, source=source,
        source_detail=source_detail,
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


def _f(x: float | None) -> str:
    return "?" if x is None else f"{x:.4f}".rstrip("0").rstrip(".")


def _formula(code: str, y: dict) -> str:
    if code == "area_energy_kgce_m2":
        return f"({_f(y['total_energy_kgce'])} − vehicle {_f(y['vehicle_energy_kgce'])}) kgce / {_f(y['floor_area_m2'])} m²"
    if code == "capita_energy_kgce":
        return f"{_f(y['total_energy_kgce'])} kgce / {_f(y['occupants'])} persons"
    if code == "capita_water_m3":
        return f"{_f(y['water_m3'])} m³ / {_f(y['occupants'])} persons"
    return f"{_f(y['building_carbon_kgco2'])} kgCO₂ (vehicle excluded) / {_f(y['floor_area_m2'])} m²"


def change_pct(now: float | None, before: float | None) -> float | None:
    """(now − before) / before × 100; negative is a reduction."""
    if now is None or before is None or before == 0:
        return None
    return (now - before) / before * 100.0


def coverage_checked(end_use: str, counted: bool) -> bool:
    """Whether a meter's hourly coverage counts towards the coverage minimum and the data-quality block.

    Counted building meters only. Official-vehicle fuel meters (end_use vehicle) are event-based interval
    registers, one reading per fill-up, so their share of hours with data is a few tenths of a percent by
    design and says nothing about missing data; their use still counts in the totals and their figures are
    shown in the explanation."""
    return counted and end_use != "vehicle"


def coverage_min(inst: InstitutionInput) -> float | None:
    """Lowest coverage among counted building meters, vehicle-fuel meters excluded (None when any is unknown
    or there is none)."""
    covs = []
    for mu in inst.meters:
        if coverage_checked(mu.end_use, mu.counted):
            q = inst.quality.get(mu.meter_id)
            if q is None or q.coverage is None:
                return None
            covs.append(q.coverage)
    return min(covs) if covs else None


def indicators(inst: InstitutionInput, current: dict, baseline: dict | None, previous: dict | None) -> list[dict]:
    """Every indicator of the scored year (dicts shaped like scoring.model.Indicator), from year_inputs dicts."""
    now = level_values(current)
    base = level_values(baseline)
    prev = level_values(previous)
    out: list[dict] = []
    for code, (label, unit) in LEVEL_INDICATORS.items():
        v = now[code]
        out.append(dict(code=code, label=label, value=v, unit=unit, lower_is_better=True,
                        formula=_formula(code, current) if v is not None else "missing input"))
    for code, (label, _unit) in LEVEL_INDICATORS.items():
        for suffix, what in CHANGE_SUFFIXES.items():
            other = base if suffix == "_change_baseline_pct" else prev
            other_y = baseline if suffix == "_change_baseline_pct" else previous
            v = change_pct(now[code], other[code])
            if v is not None:
                before = _f(other[code])
                formula = f"({_f(now[code])} − {before}) / {before} × 100 (year {other_y['year']})"
            else:
                formula = "missing input: no figure for " + (
                    f"year {other_y['year']}" if other_y is not None else "that year") if now[code] is not None else "missing input"
            out.append(dict(code=code + suffix, label=label + what, value=v, unit="%", formula=formula,
                            lower_is_better=True))
    cov = coverage_min(inst)
    label, unit = QUALITY_INDICATORS["coverage_min"]
    out.append(dict(
        code="coverage_min", label=label, value=cov, unit=unit, lower_is_better=False,
        formula=("min over counted meters (vehicle-fuel meters excluded) of hours with data / expected hours"
                 if cov is not None else "quality unknown for a counted meter, or no counted meter"),
    ))
    return out
