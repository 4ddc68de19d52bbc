"""Step 1 of a run (docs/design.md §6): one institution's years, indicators, peer chain and what it lacks.

The scored year, the baseline year, the previous year (and the one before it, for two-year annual targets) as
YearInputs-shaped dicts (scoring/indicators.py: year_inputs), the indicators over them, the institution's
peer-group keys narrowest first, and why the scored year cannot be scored (empty: it can). Nothing here looks
at another institution: the peer steps come after.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from scoring import peers
from scoring.indicators import coverage_gaps, indicators, year_inputs, year_quality
from scoring.inputs import InstitutionInput
from scoring.methodology import Methodology


@dataclass(frozen=True, slots=True)
class Prepared:
    """What step 1 knows of one institution. Year figures and indicators are the dicts results are written
    from (shaped like scoring.model.YearInputs and Indicator)."""

    institution: InstitutionInput
    baseline_year: int
    baseline_year_source: str  # institution | methodology
    baseline_year_note: str | None
    current: dict
    baseline: dict | None
    previous: dict | None
    prior: dict | None  # read only when the methodology has annual targets
    missing: list[str]  # why the scored year cannot be scored; empty: it is scored
    basis_gaps: list[str]  # comparison years on another occupants basis (missing statistics)
    indicators: list[dict]  # in the order results list them
    by_code: Mapping[str, dict]  # the same indicators by code
    chain: list[str]  # peer-group keys, narrowest first
    scored: bool  # no input missing: the institution gets points and ranks


def prepare(inst: InstitutionInput, m: Methodology, year: int) -> Prepared:
    """Read one institution's years and indicators for scoring `year`.

    Parameters
    ----------
    inst : InstitutionInput
        Registry rows, yearly metered use (each meter in its coefficient's unit), reported statistics, data
        quality and assessed items of one institution.
    m : Methodology
        Coefficients (kgce and kgCO₂ per unit), coverage minimum (0..1), occupants rule, plan and targets.
    year : int
        The calendar year scored.

    Returns
    -------
    Prepared
        Years in kgce, kgCO₂, m³, m² and persons; indicators in kgce/m², kgce/person, m³/person, kgCO₂/m² and
        % change; the peer chain; the missing inputs.

    References
    ----------
    GB/T 2589-2020 综合能耗计算通则 (standard coal); 公共机构能源资源消费统计制度 (indicator definitions,
    reported statistics); the national 公共机构节能示范单位评价 (missing statistics are a veto);
    DB32/T 4001 (the quota groups the chain's keys name).
    """
    by, by_source, by_note = baseline_year(inst, m)
    problems: list[str] = []
    current = year_inputs(inst, year, m, problems, quality=year_quality(inst, year, year), scored=True)
    baseline = year_inputs(inst, by, m, quality=year_quality(inst, by, year)) if by < year else None
    previous = year_inputs(inst, year - 1, m, quality=year_quality(inst, year - 1, year))
    if not previous["has_data"] and (year - 1) not in inst.years and not inst.reported.get(year - 1):
        previous = None
    prior = None
    if m.spec.annual_targets:
        prior = year_inputs(inst, year - 2, m, quality=year_quality(inst, year - 2, year))
    missing = missing_inputs(inst, year, current, problems, m)
    # a comparison year whose occupants are on the other basis: its per-capita figures are set aside (a change
    # of definition is no reduction), and the missing figure is a missing-statistics veto saying why
    basis_gaps: list[str] = []
    for y_in in (baseline, previous, prior):
        why = occupants_basis(inst, y_in["year"], m) if y_in is not None else None
        if why is not None:
            y_in["occupants"] = None
            y_in["source_reason"] += f"; {why}: its per-capita figures are set aside"
            if why not in basis_gaps:
                basis_gaps.append(why)
    inds = indicators(inst, current, baseline, previous, year_quality(inst, year, year), prior)
    return Prepared(
        institution=inst,
        baseline_year=by,
        baseline_year_source=by_source,
        baseline_year_note=by_note,
        current=current,
        baseline=baseline,
        previous=previous,
        prior=prior,
        missing=missing,
        basis_gaps=basis_gaps,
        indicators=inds,
        by_code={i["code"]: i for i in inds},
        chain=peers.chain(inst, m),
        scored=not missing,
    )


def missing_inputs(
    inst: InstitutionInput, year: int, current: dict, problems: list[str], m: Methodology
) -> list[str]:
    """Why the current year cannot be scored (empty: it can).

    Public-institution statistics need area, occupants, a main electricity meter, a water meter, and data for
    the whole year (the coverage minimum, over counted clock-read meters, each against its expected reading
    interval: event-based vehicle-fuel meters are not checked). A year taken from reported statistics needs
    electricity and water figures instead, and has no meter coverage to check.

    Parameters
    ----------
    inst : InstitutionInput
        The institution.
    year : int
        The scored year.
    current : dict
        Its YearInputs-shaped figures (`source` says meters, reported or none).
    problems : list of str
        What year_inputs found while converting (units, coefficients).
    m : Methodology
        The coverage minimum (0..1) and the occupants rule.

    Returns
    -------
    list of str
        One sentence per missing input, registry problems first.

    References
    ----------
    公共机构能源资源消费统计制度 (what a year's statistics hold); the national 公共机构节能示范单位评价
    (incomplete statistics are a veto).
    """
    out: list[str] = list(inst.registry_problems)
    if year not in inst.years:
        out.append(f"no floor area / occupants for {year} (institution_year)")
    basis = occupants_basis(inst, year, m)
    if basis is not None:
        out.append(basis)
    counted = [mu for mu in inst.meters if mu.counted]
    if current["source"] == "reported":
        # the statistics return must cover what a main electricity meter and a water meter would
        rep = inst.reported.get(year, [])
        if not any(r.end_use == "main" and r.energy_type == "electricity" for r in rep):
            out.append(f"no electricity figure in the reported statistics for {year}")
        if not any(r.energy_type == "water" for r in rep):
            out.append(f"no water figure in the reported statistics for {year}")
        out.extend(problems)
        out.extend(inst.unconverted)
        return out
    # every public building uses electricity: without a main electricity meter the total cannot be complete
    if not any(mu.end_use == "main" and mu.energy_type == "electricity" for mu in counted):
        out.append("no main electricity meter")
    if not any(mu.energy_type == "water" for mu in counted):
        out.append("no water meter")
    if counted and not current["has_data"]:
        out.append(f"no usage recorded in {year}")
    if current["source"] == "meters":
        out.extend(coverage_gaps(inst, year, year_quality(inst, year, year), m.spec.vetoes.min_coverage))
    out.extend(problems)
    out.extend(inst.unconverted)
    return out


def baseline_year(inst: InstitutionInput, m: Methodology) -> tuple[int, str, str | None]:
    """(baseline year, where it came from, note).

    institution.baseline_year overrides the methodology's default only inside the plan period: a year before
    the plan's baseline is another plan's (a 2020 registry value under the 15th plan, baseline 2025), and the
    plan's baseline is used instead, with the reason.

    Parameters
    ----------
    inst : InstitutionInput
        The institution (`baseline_year`: its registry value, or None).
    m : Methodology
        `default_baseline_year` and the plan period.

    Returns
    -------
    tuple of (int, str, str or None)
        The calendar year, ``institution`` or ``methodology``, and why the registry value was set aside.

    References
    ----------
    The national 公共机构节能示范单位评价 and the five-year plans' baseline years (十四五 2020, 十五五 2025).
    """
    default = m.spec.methodology.default_baseline_year
    p = m.spec.plan
    own = inst.baseline_year
    if own is None:
        return default, "methodology", None
    if p is not None and own < p.baseline_year:
        return (
            p.baseline_year,
            "methodology",
            (
                f"institution.baseline_year {own} is before the baseline year {p.baseline_year} of the plan period "
                f"this methodology scores ({p.name}): the plan's baseline is used"
            ),
        )
    return own, "institution", None


def occupants_basis(inst: InstitutionInput, year: int, m: Methodology) -> str | None:
    """Why a school's occupants of `year` are on another basis than the methodology's rule (None: they are
    not, or the registry does not say).

    用能人数 of a school: the methodology says whether students count; a row saying otherwise gives per-capita
    figures on another basis than its peers' and than its other years'.

    Parameters
    ----------
    inst : InstitutionInput
        The institution (`students_counted` per year: yes / no).
    year : int
        The calendar year whose occupants are checked.
    m : Methodology
        The `[occupants]` rule (school students included or excluded) and its source.

    Returns
    -------
    str or None
        The sentence a veto or a set-aside figure gives.

    References
    ----------
    公共机构能源资源消费统计制度 (用能人数); the methodology's `[occupants]` source.
    """
    occ = m.spec.occupants
    if occ is None or inst.category != "school" or year not in inst.years:
        return None
    stated = inst.students_counted.get(year)
    wanted = "yes" if occ.school_students == "included" else "no"
    if stated is None or stated == wanted:
        return None
    return (
        f"occupants for {year} {'include' if stated == 'yes' else 'exclude'} the students "
        f"(institution_year.students_counted = {stated}); {m.name} counts schools' occupants "
        f"{occ.school_students.replace('included', 'with').replace('excluded', 'without')} "
        f"students ({occ.source})"
    )
