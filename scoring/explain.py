"""One institution's whole derivation as plain text lines: what `jieneng score --explain` prints."""

from __future__ import annotations

from scoring.model import InstitutionResult, YearInputs
from scoring.numbers import fmt_report


def _year(y: YearInputs | None, title: str) -> list[str]:
    if y is None:
        return [f"{title}: none (no registry row, no meter usage and no statistics return for that year)"]
    students = {"yes": " (students included)", "no": " (staff only)"}.get(y.students_counted or "", "")
    out = [
        f"{title} {y.year}: floor area {fmt_report(y.floor_area_m2)} m², occupants {fmt_report(y.occupants)}{students}, "
        f"water {fmt_report(y.water_m3)} m³"
    ]
    out.append(f"  source: {y.source_detail or 'no figures'}")
    if y.source_reason:
        out.append(f"  why: {y.source_reason}")
    if y.deducted_meter_ids:
        out.append(
            f"  deducted (excluded floor area: dormitories, leased-out space): meters {', '.join(y.deducted_meter_ids)}"
        )
    for e in y.energy:
        dens = f" × {e.density_kg_per_l} kg/L" if e.density_kg_per_l else ""
        out.append(
            f"  {e.energy_type}{' (official vehicles)' if e.vehicle else ''}: {fmt_report(e.quantity)} {e.unit}{dens}"
            f" = {fmt_report(e.quantity_in_coef_unit)} {e.coef_unit} × {e.kgce_per_unit} kgce/{e.coef_unit} ({e.coef_basis})"
            f" = {fmt_report(e.energy_kgce)} kgce; × {e.kgco2_per_unit} kgCO₂ = {fmt_report(e.carbon_kgco2)} kgCO₂"
            + (
                f"  [meters {', '.join(e.meter_ids)}]"
                if e.meter_ids
                else f"  [reported: {'; '.join(e.reported_sources) or '—'}]"
            )
        )
        if e.deducted_quantity:
            out.append(
                f"      after deducting {fmt_report(e.deducted_quantity)} {e.unit} of excluded floor area "
                f"[meters {', '.join(e.deducted_meter_ids)}]"
            )
        out.append(f"      coefficient: {e.coef_source}; carbon: {e.carbon_source}")
    out.append(
        f"  total {fmt_report(y.total_energy_kgce)} kgce, official vehicles {fmt_report(y.vehicle_energy_kgce)} kgce, "
        f"buildings {fmt_report(y.building_energy_kgce)} kgce, building carbon {fmt_report(y.building_carbon_kgco2)} kgCO₂"
    )
    return out


def explain_lines(r: InstitutionResult) -> list[str]:
    out = [
        f"{r.institution_id} {r.name}  ({r.category}{'/' + r.sub_kind if r.sub_kind else ''}, {r.admin_level}, "
        f"{r.climate_zone}, region {r.region_code}, city {r.city_code})",
        f"year {r.year}, baseline {r.baseline_year} (from {r.baseline_year_source}); methodology "
        f"{r.methodology.name} {r.methodology.version} sha256 {r.methodology.hash[:16]}…",
        *([f"  {r.baseline_year_note}"] if r.baseline_year_note else []),
        "",
        "INPUTS",
        *_year(r.inputs.current, "scored year"),
        *_year(r.inputs.baseline, "baseline"),
        *_year(r.inputs.previous, "previous year"),
        *(
            _year(r.inputs.prior, "year before the previous (two-year annual targets)")
            if r.inputs.prior
            else []
        ),
        "meters:",
    ]
    for mq in r.inputs.meters:
        cov_note = (
            "" if mq.coverage_checked or not mq.counted else " (event-based: not in the coverage minimum)"
        )
        role = (
            "counted"
            if mq.counted
            else "excluded area (deducted)"
            if mq.deducted
            else "sub-meter (not added)"
        )
        out.append(
            f"  {mq.meter_id} {mq.energy_type}/{mq.end_use} {role}"
            f" coverage {fmt_report(mq.coverage)} longest gap {fmt_report(mq.longest_gap_hours)} h resets {fmt_report(mq.resets)}"
            f" rollovers {fmt_report(mq.rollovers)} quarantined {fmt_report(mq.quarantined)} conflicts {fmt_report(mq.conflicts)}"
            f" rejects {fmt_report(mq.rejects)}{cov_note}"
        )
    for u in r.inputs.unconverted:
        out.append(f"  not converted: {u}")
    out += ["", "INDICATORS"]
    for i in r.indicators:
        out.append(f"  {i.code} ({i.label}) = {fmt_report(i.value)} {i.unit}    [{i.formula}]")
    g = r.peer_group
    out += ["", f"PEER GROUP {g.key} ({g.label}), {g.size} scored; narrowest {g.wanted}"]
    out += [f"  fallback: {s}" for s in g.fallback]
    out += ["", "BLOCKS"]
    for b in r.blocks:
        out.append(
            f"  {b.code} ({b.label}, {b.kind}) {fmt_report(b.points)} / {fmt_report(b.max_points)} by {b.method}: {b.reason}"
        )
        for it in b.items:
            state = (
                f"{fmt_report(it.points)} / {fmt_report(it.max_points)}"
                if it.assessed
                else f"not assessed (0 / {fmt_report(it.max_points)})"
            )
            who = f" — {it.evidence}, by {it.entered_by} at {it.entered_at}" if it.assessed else ""
            out.append(f"      {'★ ' if it.star else ''}{it.code} {it.label}: {state}{who}")
    out += [
        "",
        f"POINTS base {fmt_report(r.base_points)} + bonus {fmt_report(r.bonus_points)} = total {fmt_report(r.total_points)}"
        f" (threshold {fmt_report(r.threshold)})",
    ]
    if r.missing_inputs:
        out.append("MISSING INPUTS: " + "; ".join(r.missing_inputs))
    out.append("VETOES:" + (" none" if not r.vetoes else ""))
    out += [f"  {v.code}: {v.reason}" for v in r.vetoes]
    k = r.ranks
    out += [
        f"RANKS peer {k.peer or '—'}/{k.peer_size}, city {k.city or '—'}/{k.city_size}, "
        f"province {k.province or '—'}/{k.province_size} (order: {k.tie_break})",
        "ELIGIBLE 示范单位: " + ("yes" if r.eligible else "no — " + "; ".join(r.ineligible_reasons)),
        f"LEADER 能效领跑者: {'yes' if r.leader else 'no'} ({r.leader_reason})",
    ]
    return out
