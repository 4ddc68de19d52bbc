"""The pure scoring core: institutions' inputs and a methodology in, one result each out (docs/design.md §6).

No database, no clock, no environment: the same inputs give the same results, byte for byte once written as
canonical JSON (scoring.canonical: sorted keys, floats rounded to 6 decimals) — that text is what
`results_hash` covers.

A run is seven named steps, each a pure function over typed records (frozen dataclasses):

1. prepare (scoring/prepare.py: `prepare` → `Prepared`): each institution's years, indicators, peer chain and
   missing inputs;
2. peer distributions (scoring/peers.py: `assign`, then `distributions` → `PeerDistributions`): the group each
   scored institution is compared in, and where its values stand there;
3. blocks (scoring/blocks.py: `score_blocks` → `BlockScores`): points of every block, failed targets, quotas;
4. vetoes (scoring/vetoes.py: `institution_vetoes`);
5. ranks (scoring/ranking.py: `places`);
6. eligibility and 7. leader (scoring/eligibility.py: `eligibility` → `Eligibility`, `leader` → `Leadership`).

Results are built as plain dicts shaped like scoring.model.InstitutionResult (`score_dicts`), which a run
serialises straight to canonical JSON; `score` validates them into the pydantic models. Building ~50
models per institution and re-parsing their JSON was about 40% of a 10,000-institution run (bench/README.md).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence

from scoring import peers
from scoring.blocks import BlockScores, score_blocks
from scoring.canonical import ROUND_DIGITS, canonical_json
from scoring.eligibility import Eligibility, Leadership, eligibility, leader
from scoring.indicators import coverage_checked
from scoring.inputs import InstitutionInput
from scoring.methodology import Methodology
from scoring.model import InstitutionResult
from scoring.prepare import Prepared, prepare
from scoring.ranking import places
from scoring.vetoes import institution_vetoes


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
    insts = sorted(insts, key=lambda i: i.id)
    prepared = {inst.id: prepare(inst, m, year) for inst in insts}
    scored = {iid for iid, p in prepared.items() if p.scored}
    groups = peers.assign(insts, scored, m, labels)
    dist = peers.distributions(insts, prepared, scored, groups, m)
    scores: dict[str, tuple[BlockScores, list[dict]]] = {}
    for inst in insts:
        p = prepared[inst.id]
        b = score_blocks(p, groups[inst.id]["key"], dist, m, year)
        scores[inst.id] = (b, institution_vetoes(p, b, m, year))
    ranks = places(insts, prepared, groups, {iid: b.total_points for iid, (b, _v) in scores.items()}, m)
    ref = dict(name=m.name, version=m.version, hash=m.hash)
    for inst in insts:
        p = prepared.pop(inst.id)
        b, vs = scores.pop(inst.id)
        rk = ranks[inst.id]
        e = eligibility(p.scored, vs, b.total_points, m)
        lead = leader(e, b.total_points, rk["peer"], rk["peer_size"], m)
        yield result_dict(p, groups[inst.id], b, vs, rk, e, lead, m, year, ref)


def result_dict(
    p: Prepared,
    group: dict,
    b: BlockScores,
    vetoes: list[dict],
    ranks: dict,
    e: Eligibility,
    lead: Leadership,
    m: Methodology,
    year: int,
    ref: dict,
) -> dict:
    """One institution's result, shaped like scoring.model.InstitutionResult, from its steps' records."""
    inst = p.institution
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
    return dict(
        institution_id=inst.id,
        name=inst.name,
        region_code=inst.region_code,
        city_code=inst.city_code,
        category=inst.category,
        sub_kind=inst.sub_kind,
        admin_level=inst.admin_level,
        climate_zone=inst.climate_zone,
        year=year,
        baseline_year=p.baseline_year,
        baseline_year_source=p.baseline_year_source,
        baseline_year_note=p.baseline_year_note,
        methodology=ref,
        inputs=dict(
            current=p.current,
            baseline=p.baseline,
            previous=p.previous,
            prior=p.prior,
            meters=meters,
            unconverted=list(inst.unconverted),
        ),
        indicators=p.indicators,
        peer_group=group,
        blocks=b.blocks,
        base_points=b.base_points,
        bonus_points=b.bonus_points,
        total_points=b.total_points,
        scored=p.scored,
        missing_inputs=p.missing,
        vetoes=vetoes,
        threshold=m.spec.eligibility.threshold,
        eligible=e.eligible,
        ineligible_reasons=e.reasons,
        leader=lead.leader,
        leader_reason=lead.reason,
        ranks=ranks,
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
