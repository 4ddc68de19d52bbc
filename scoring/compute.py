"""The pure scoring core: institutions' inputs and a methodology in, one result each out.

No database, no clock, no environment: the same inputs give the same results, byte for byte once written as
canonical JSON (scoring.canonical: sorted keys, floats rounded to 6 decimals) — that text is what
`results_hash` covers.

Results are built as plain dicts shaped like scoring.model.InstitutionResult (`score_dicts`), which a run
serialises straight to canonical JSON; `score` validates them into the pydantic models. Building ~50
models per institution and re-parsing their JSON was about 40% of a 10,000-institution run (bench/README.md).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator, Mapping, Sequence

import pandas as pd

from scoring import blocks as B
from scoring import peers
from scoring.canonical import ROUND_DIGITS, canonical_json
from scoring.indicators import coverage_checked, coverage_gaps, indicators, year_inputs, year_quality
from scoring.inputs import InstitutionInput
from scoring.methodology import LEVEL_INDICATORS, Methodology, Quota
from scoring.model import InstitutionResult
from scoring.numbers import fmt
from scoring.ranking import rank
from scoring.vetoes import vetoes


def _missing_inputs(
    inst: InstitutionInput, year: int, current: dict, problems: list[str], m: Methodology
) -> list[str]:
    """Why the current year cannot be scored (empty: it can). Public-institution statistics need area,
    occupants, a main electricity meter, a water meter, and data for the whole year (the coverage minimum, over
    counted clock-read meters, each against its expected reading interval: event-based vehicle-fuel meters are
    not checked). A year taken from reported statistics needs electricity and water figures instead, and has no
    meter coverage to check."""
    out: list[str] = list(inst.registry_problems)
    if year not in inst.years:
        out.append(f"no floor area / occupants for {year} (institution_year)")
    basis = _occupants_basis(inst, year, m)
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


def _baseline_year(inst: InstitutionInput, m: Methodology) -> tuple[int, str, str | None]:
    """(baseline year, where it came from, note). institution.baseline_year overrides the methodology's default
    only inside the plan period: a year before the plan's baseline is another plan's (a 2020 registry value
    under the 15th plan, baseline 2025), and the plan's baseline is used instead, with the reason."""
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


def _occupants_basis(inst: InstitutionInput, year: int, m: Methodology) -> str | None:
    """Why a school's occupants of `year` are on another basis than the methodology's rule (None: they are not,
    or the registry does not say). 用能人数 of a school: the methodology says whether students count; a row
    saying otherwise gives per-capita figures on another basis than its peers' and than its other years'."""
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


def _plan_share(m: Methodology, year: int, baseline_year: int) -> float:
    """Share of a cumulative (plan-end) target due by `year`: 1 unless the plan pro-rates its targets."""
    p = m.spec.plan
    if p is None or not p.prorate_targets or p.last_year <= baseline_year:
        return 1.0
    return min(1.0, max(0.0, (year - baseline_year) / (p.last_year - baseline_year)))


def _annual_changes(
    inds: Mapping[str, dict], targets: Sequence, year: int, years: int
) -> list[tuple[int, int, str, float | None]]:
    """(year, against year, indicator, change %) for each annual target over the last `years` years: the scored
    year against the previous one, then the previous against the one before (indicators `_change_previous_pct`
    and `_change_prior_pct`)."""
    suffixes = ("_change_previous_pct", "_change_prior_pct")[:years]
    out = []
    for k, suffix in enumerate(suffixes):
        for t in targets:
            out.append((year - k, year - k - 1, t.indicator, inds[t.indicator + suffix]["value"]))
    return out


def _quota_for(chain: Sequence[str], indicator: str, m: Methodology) -> Quota | None:
    """Quotas are standard values, not peer statistics: the narrowest key of the institution's chain that has
    one applies, whatever the size of its peer group."""
    for key in chain:
        q = m.quota_index.get((key, indicator))
        if q is not None:
            return q
    return None


def score(
    insts: Sequence[InstitutionInput],
    m: Methodology,
    year: int,
    *,
    labels: Mapping[str, str] | None = None,
) -> list[InstitutionResult]:
    """Score every institution for `year`; results in institution id order."""
    return list(score_iter(insts, m, year, labels=labels))


def score_iter(
    insts: Sequence[InstitutionInput],
    m: Methodology,
    year: int,
    *,
    labels: Mapping[str, str] | None = None,
) -> Iterator[InstitutionResult]:
    """Like `score`, one validated model at a time."""
    for d in score_dicts(insts, m, year, labels=labels):
        yield InstitutionResult.model_validate(d)


def score_dicts(
    insts: Sequence[InstitutionInput],
    m: Methodology,
    year: int,
    *,
    labels: Mapping[str, str] | None = None,
) -> Iterator[dict]:
    """Like `score`, yielding dicts shaped like InstitutionResult (unrounded floats; not validated) one at a
    time (institution id order) and dropping each one's working figures as it goes, so a caller that writes
    results out as they come never holds them all. tests/scoring/test_canonical.py checks that these
    dicts validate and write the same canonical JSON as the models."""
    labels = labels or {}
    m.check_year(year)
    spec = m.spec
    insts = sorted(insts, key=lambda i: i.id)
    ref = dict(name=m.name, version=m.version, hash=m.hash)

    pre: dict[str, dict] = {}
    for inst in insts:
        by, by_source, by_note = _baseline_year(inst, m)
        problems: list[str] = []
        current = year_inputs(inst, year, m, problems, quality=year_quality(inst, year, year), scored=True)
        baseline = year_inputs(inst, by, m, quality=year_quality(inst, by, year)) if by < year else None
        previous = year_inputs(inst, year - 1, m, quality=year_quality(inst, year - 1, year))
        if not previous["has_data"] and (year - 1) not in inst.years and not inst.reported.get(year - 1):
            previous = None
        prior = None
        if spec.annual_targets:
            prior = year_inputs(inst, year - 2, m, quality=year_quality(inst, year - 2, year))
        missing = _missing_inputs(inst, year, current, problems, m)
        # a comparison year whose occupants are on the other basis: its per-capita figures are set aside (a change
        # of definition is no reduction), and the missing figure is a missing-statistics veto saying why
        basis_gaps: list[str] = []
        for y_in in (baseline, previous, prior):
            why = _occupants_basis(inst, y_in["year"], m) if y_in is not None else None
            if why is not None:
                y_in["occupants"] = None
                y_in["source_reason"] += f"; {why}: its per-capita figures are set aside"
                if why not in basis_gaps:
                    basis_gaps.append(why)
        inds = indicators(inst, current, baseline, previous, year_quality(inst, year, year), prior)
        pre[inst.id] = dict(
            by=by,
            by_source=by_source,
            by_note=by_note,
            basis_gaps=basis_gaps,
            current=current,
            baseline=baseline,
            previous=previous,
            prior=prior,
            missing=missing,
            inds={i["code"]: i for i in inds},
            ind_list=inds,
            chain=peers.chain(inst, m),
        )
    scored = {i.id for i in insts if not pre[i.id]["missing"]}
    groups = peers.assign(insts, scored, m, labels)

    # Peer percentiles: one average rank per indicator within each used peer group (pandas does the ties).
    # A group's members are every scored institution whose chain holds its key, so an institution that fell
    # back to a wider group is compared with all of that group, not only with the others that fell back.
    members = peers.members(insts, scored, groups, pre)
    pct: dict[str, dict[str, tuple[float, int]]] = {}
    for blk in spec.blocks:
        if blk.method != "indicator" or blk.indicator in pct:
            continue
        ind = blk.indicator
        pct[ind] = {}
        for ids, users in members.values():
            recs = [(iid, pre[iid]["inds"][ind]["value"]) for iid in ids]
            recs = [r for r in recs if r[1] is not None]
            if not recs:
                continue
            asc = pre[recs[0][0]]["inds"][ind]["lower_is_better"]
            ranks_ = pd.Series([r[1] for r in recs]).rank(method="average", ascending=asc).tolist()
            n = len(recs)
            for (iid, _v), r in zip(recs, ranks_, strict=True):
                if iid in users:
                    pct[ind][iid] = (r, n)

    partial: dict[str, dict] = {}
    rank_rows: list[dict] = []
    for inst in insts:
        p = pre[inst.id]
        is_scored = inst.id in scored
        blocks: list[dict] = []
        failed_targets: list[str] = []
        failed_plan: list[str] = []
        annual_gaps: list[str] = []
        quotas_hit: dict[str, tuple[float, Quota]] = {}
        for ind in LEVEL_INDICATORS:
            q = _quota_for(p["chain"], ind, m)
            v = p["inds"][ind]["value"]
            if q is not None and v is not None and is_scored:
                quotas_hit[ind] = (v, q)
        for blk in spec.blocks:
            if blk.method == "assessed":
                blocks.append(B.assessed_block(blk, inst.assessed))
                continue
            common = dict(code=blk.code, label=blk.label, kind=blk.kind, max_points=blk.points, items=[])
            if not is_scored:
                blocks.append(
                    dict(
                        common,
                        points=0.0,
                        method="missing",
                        indicator=blk.indicator,
                        reason="not scored: " + "; ".join(p["missing"]),
                    )
                )
                continue
            if blk.method == "indicator":
                ind = p["inds"][blk.indicator]
                q = _quota_for(p["chain"], blk.indicator, m)
                if ind["value"] is None:
                    blocks.append(
                        dict(
                            common,
                            points=0.0,
                            method="missing",
                            indicator=ind["code"],
                            reason=f"{ind['code']} missing: {ind['formula']}",
                        )
                    )
                elif q is not None:
                    pts, why = B.quota_points(ind["value"], q, blk.points, ind["lower_is_better"])
                    blocks.append(dict(common, points=pts, method="quota", indicator=ind["code"], reason=why))
                else:
                    r, n = pct[blk.indicator][inst.id]
                    pts, why = B.percentile_points(ind["value"], r, n, groups[inst.id]["key"], blk.points)
                    blocks.append(
                        dict(common, points=pts, method="peer_percentile", indicator=ind["code"], reason=why)
                    )
            elif blk.method == "target":
                changes = {
                    t.indicator: p["inds"][t.indicator + "_change_baseline_pct"]["value"]
                    for t in spec.targets
                }
                pts, why, failed = B.target_points(
                    changes, spec.targets, blk.points, share=_plan_share(m, year, p["by"])
                )
                if spec.annual_targets:
                    failed_plan = failed
                else:
                    failed_targets = failed
                blocks.append(dict(common, points=pts, method="target", indicator=None, reason=why))
            elif blk.method == "annual_target":
                pairs = _annual_changes(p["inds"], spec.annual_targets, year, spec.annual.years)
                pts, why, failed, gaps = B.annual_target_points(
                    pairs, spec.annual_targets, blk.points, spec.annual.source
                )
                failed_targets = failed
                annual_gaps = gaps
                blocks.append(dict(common, points=pts, method="annual_target", indicator=None, reason=why))
            else:  # coverage
                pts, why = B.coverage_points(
                    p["inds"]["coverage_min"]["value"], spec.vetoes.min_coverage, blk.points
                )
                blocks.append(
                    dict(common, points=pts, method="coverage", indicator="coverage_min", reason=why)
                )

        missing_baseline: list[str] = []
        if is_scored and spec.targets:
            base = p["baseline"]
            if base is None:
                missing_baseline.append(
                    f"baseline year {p['by']} is not before {year}: reduction cannot be verified"
                )
            else:
                gaps = [
                    t.indicator
                    for t in spec.targets
                    if p["inds"][t.indicator + "_change_baseline_pct"]["value"] is None
                ]
                if gaps:
                    missing_baseline.append(
                        f"baseline year {p['by']}: no figure for {', '.join(gaps)} "
                        "(registry, meter usage or reported statistics missing)"
                    )
        if is_scored:
            missing_baseline += p["basis_gaps"] + annual_gaps
        else:
            failed_targets, failed_plan = [], []
        vs = vetoes(
            m,
            blocks=blocks,
            missing_inputs=p["missing"],
            missing_baseline=missing_baseline,
            failed_targets=failed_targets,
            quotas=quotas_hit,
            failed_plan=failed_plan,
        )
        base_pts = (
            round(sum(b["points"] for b in blocks if b["kind"] != "bonus"), ROUND_DIGITS)
            if is_scored
            else None
        )
        bonus_pts = (
            round(sum(b["points"] for b in blocks if b["kind"] == "bonus"), ROUND_DIGITS)
            if is_scored
            else None
        )
        total = round(base_pts + bonus_pts, ROUND_DIGITS) if is_scored else None
        partial[inst.id] = dict(blocks=blocks, vetoes=vs, base=base_pts, bonus=bonus_pts, total=total)
        if is_scored:
            row = dict(
                institution_id=inst.id,
                peer_group=groups[inst.id]["key"],
                chain=p["chain"],
                city_code=inst.city_code,
                total_points=total,
            )
            for ind in LEVEL_INDICATORS:
                row[ind] = p["inds"][ind]["value"]
            rank_rows.append(row)

    ranks = rank(rank_rows, spec.ranking.tie_break)[["rank_peer", "rank_city", "rank_province"]].to_dict(
        "index"
    )
    peer_sizes = {g["key"]: g["size"] for g in groups.values()}
    city_sizes: dict[str, int] = {}
    for i in insts:
        if i.id in scored:
            city_sizes[i.city_code] = city_sizes.get(i.city_code, 0) + 1
    tie_text = ", then ".join(spec.ranking.tie_break)
    lead = spec.leader
    threshold = spec.eligibility.threshold

    for inst in insts:
        p, q = pre.pop(inst.id), partial.pop(inst.id)
        g = groups[inst.id]
        if inst.id in scored:
            r = ranks[inst.id]
            rk = dict(
                peer=int(r["rank_peer"]),
                peer_size=peer_sizes[g["key"]],
                city=int(r["rank_city"]),
                city_size=city_sizes[inst.city_code],
                province=int(r["rank_province"]),
                province_size=len(scored),
                tie_break=tie_text,
            )
        else:
            rk = dict(
                peer=None,
                peer_size=peer_sizes.get(g["key"], 0),
                city=None,
                city_size=city_sizes.get(inst.city_code, 0),
                province=None,
                province_size=len(scored),
                tie_break=tie_text,
            )
        reasons: list[str] = []
        if inst.id not in scored:
            reasons.append("not scored: inputs incomplete")
        reasons += [f"veto {v['code']}: {v['reason']}" for v in q["vetoes"]]
        if q["total"] is not None and q["total"] < threshold:
            reasons.append(f"total {fmt(q['total'])} below the threshold {fmt(threshold)}")
        eligible = not reasons
        if not lead.enabled:
            leader, leader_reason = False, "no leader rule in this methodology"
        elif not eligible:
            leader, leader_reason = False, "not a qualifying unit"
        else:
            cutoff = math.ceil(lead.top_share_of_peer_group * rk["peer_size"])
            leader = q["total"] >= lead.min_total and rk["peer"] is not None and rk["peer"] <= cutoff
            leader_reason = (
                f"total {fmt(q['total'])} vs minimum {fmt(lead.min_total)}; peer rank {rk['peer']} vs "
                f"top {fmt(lead.top_share_of_peer_group * 100)}% of {rk['peer_size']} = rank ≤ {cutoff}"
                + (" → leader" if leader else " → not a leader")
            )
        meters = [
            dict(
                meter_id=mu.meter_id,
                energy_type=mu.energy_type,
                end_use=mu.end_use,
                counted=mu.counted,
                deducted=mu.deducted,
                coverage_checked=coverage_checked(mu),
                **_quality_fields(inst, mu.meter_id),
            )
            for mu in sorted(inst.meters, key=lambda x: x.meter_id)
        ]
        yield dict(
            institution_id=inst.id,
            name=inst.name,
            region_code=inst.region_code,
            city_code=inst.city_code,
            category=inst.category,
            sub_kind=inst.sub_kind,
            admin_level=inst.admin_level,
            climate_zone=inst.climate_zone,
            year=year,
            baseline_year=p["by"],
            baseline_year_source=p["by_source"],
            baseline_year_note=p["by_note"],
            methodology=ref,
            inputs=dict(
                current=p["current"],
                baseline=p["baseline"],
                previous=p["previous"],
                prior=p["prior"],
                meters=meters,
                unconverted=list(inst.unconverted),
            ),
            indicators=p["ind_list"],
            peer_group=g,
            blocks=q["blocks"],
            base_points=q["base"],
            bonus_points=q["bonus"],
            total_points=q["total"],
            scored=inst.id in scored,
            missing_inputs=p["missing"],
            vetoes=q["vetoes"],
            threshold=threshold,
            eligible=eligible,
            ineligible_reasons=reasons,
            leader=leader,
            leader_reason=leader_reason,
            ranks=rk,
        )


def _quality_fields(inst: InstitutionInput, meter_id: str) -> dict:
    q = inst.quality.get(meter_id)
    if q is None:
        return dict(
            coverage=None,
            longest_gap_hours=None,
            resets=None,
            rollovers=None,
            quarantined=None,
            conflicts=None,
            rejects=None,
        )
    return dict(
        coverage=q.coverage,
        longest_gap_hours=q.longest_gap_hours,
        resets=q.resets,
        rollovers=q.rollovers,
        quarantined=q.quarantined,
        conflicts=q.conflicts,
        rejects=q.rejects,
    )


class ResultsHasher:
    """sha256 over "institution_id TAB canonical JSON NEWLINE" lines, fed in institution id order."""

    def __init__(self) -> None:
        self._h = hashlib.sha256()
        self._last: str | None = None

    def add(self, institution_id: str, text: str | bytes) -> None:
        """`text`: the canonical JSON, as str or as its UTF-8 bytes (the same hash)."""
        if self._last is not None and institution_id <= self._last:
            raise ValueError("results must be hashed in institution id order")
        self._last = institution_id
        h = self._h
        h.update(institution_id.encode("utf-8") + b"\t")
        h.update(text if isinstance(text, bytes) else text.encode("utf-8"))
        h.update(b"\n")

    def hexdigest(self) -> str:
        return self._h.hexdigest()


def results_hash(canonical: Sequence[tuple[str, str]]) -> str:
    """The results hash of (institution_id, canonical JSON) pairs, in any order."""
    h = ResultsHasher()
    for iid, text in sorted(canonical):
        h.add(iid, text)
    return h.hexdigest()


__all__ = [
    "ROUND_DIGITS",
    "ResultsHasher",
    "canonical_json",
    "results_hash",
    "score",
    "score_dicts",
    "score_iter",
]
