"""Compute and store a scoring run: load inputs, score with the pure core, write the run and every result.

The run row keeps the methodology's name, version, hash and full text, and `results_hash` (sha256 over
each institution's canonical JSON), so the same data and methodology are seen to give byte-identical
results and a run can be recomputed years later.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import psycopg

from scoring.canonical import DETAIL_FORMAT, StoredWriter, canonical_value
from scoring.compute import ResultsHasher, score, score_dicts
from scoring.inputs import InstitutionInput
from scoring.loader import load_inputs
from scoring.methodology import Methodology, load_methodology
from scoring.model import InstitutionResult
from store import codes
from store import scoring as store_scoring


def labels() -> dict[str, str]:
    """Chinese labels for peer-group keys (categories, levels, kinds, climate zones)."""
    out = {"all": "全部"}
    out.update(codes.CATEGORIES)
    out.update(codes.ADMIN_LEVELS)
    out.update(codes.CLIMATE_ZONES)
    for kinds in codes.SUB_KINDS.values():
        out.update(kinds)
    return out


def compute_results(
    conn: psycopg.Connection, m: Methodology, *, year: int, region_code: str | None = None
) -> list[InstitutionResult]:
    """Score without storing (what a run would store)."""
    return score(load_inputs(conn, m, year, region_code), m, year, labels=labels())


def result_rows(
    insts: Sequence[InstitutionInput],
    m: Methodology,
    year: int,
    digest: ResultsHasher,
    writer: StoredWriter,
) -> Iterator[dict[str, Any]]:
    """The scoring_result rows of a run (store.scoring.insert_run's `results`), each `detail` the stored form
    of the canonical JSON (UTF-8 bytes, the run's shared strings as references into `writer.strings`), the
    canonical JSON added to `digest` as it is produced.

    Streamed: each result is written and dropped, so memory holds one result's JSON at a time. Plain dicts go
    straight to canonical JSON, the same bytes InstitutionResult would give (tests/scoring/test_canonical.py),
    without building its ~50 models per institution.
    """
    for r in score_dicts(insts, m, year, labels=labels()):
        text, stored = writer.write(r)
        digest.add(r["institution_id"], text)
        ranks = r["ranks"]
        yield dict(
            institution_id=r["institution_id"],
            region_code=r["region_code"],
            category=r["category"],
            peer_group=r["peer_group"]["key"],
            total_points=r["total_points"],
            eligible=r["eligible"],
            leader=r["leader"],
            rank_peer=ranks["peer"],
            rank_city=ranks["city"],
            rank_province=ranks["province"],
            vetoes=r["vetoes"],
            detail=stored,
            **stored_figures(r),
        )


def stored_figures(r: dict[str, Any]) -> dict[str, Any]:
    """The figures of a result (shaped like InstitutionResult) that scoring_result holds as columns beside its
    detail, as the canonical text rounds them: the baseline year's building energy and floor area (the
    province dashboard's target line, migration 0025) and the scored year's figures (inputs.current: the
    institution dashboard's peer medians, migration 0027)."""
    baseline = r["inputs"]["baseline"] or {}
    current = r["inputs"]["current"] or {}
    return dict(
        baseline_building_energy_kgce=canonical_value(baseline.get("building_energy_kgce")),
        baseline_floor_area_m2=canonical_value(baseline.get("floor_area_m2")),
        current_building_energy_kgce=canonical_value(current.get("building_energy_kgce")),
        current_total_energy_kgce=canonical_value(current.get("total_energy_kgce")),
        current_water_m3=canonical_value(current.get("water_m3")),
        current_floor_area_m2=canonical_value(current.get("floor_area_m2")),
        current_occupants=current.get("occupants"),
    )


def run_scoring(
    conn: psycopg.Connection,
    *,
    year: int,
    methodology_path: str | Path | None = None,
    region_code: str | None = None,
    created_by: str,
) -> int:
    """Score `year` (all institutions, or those in `region_code` and below) and store the run; returns its id.

    `methodology_path` None: the shipped Jiangsu methodology whose plan period holds `year`
    (scoring.methodology.default_for_year). A year outside the methodology's plan period is a ValueError.

    Raises scoring.methodology.MethodologyError for a bad methodology file and ValueError for an unknown
    region. Institutions with missing inputs are stored as not scored, with the reasons; they never stop
    the run. Runs in one transaction (a savepoint if the caller has one open).
    """
    m = load_methodology(methodology_path, year=year)
    if (
        region_code is not None
        and conn.execute("SELECT 1 FROM region WHERE code = %s", (region_code,)).fetchone() is None
    ):
        raise ValueError(f"unknown region code {region_code!r}")
    with conn.transaction():
        # A run builds ~100 acyclic objects per institution; the cyclic collector's passes over that growing heap
        # took half the scoring time on a 10,000-institution province (bench/scoring.py), so it waits until the end.
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            insts = load_inputs(conn, m, year, region_code)
            digest = ResultsHasher()
            writer = StoredWriter()
            return store_scoring.insert_run(
                conn,
                year=year,
                region_code=region_code,
                methodology_name=m.name,
                methodology_version=m.version,
                methodology_hash=m.hash,
                methodology_text=m.text,
                results_hash=digest.hexdigest,
                created_by=created_by,
                results=result_rows(insts, m, year, digest, writer),
                strings=lambda: writer.strings,
                detail_format=DETAIL_FORMAT,
            )
        finally:
            if was_enabled:
                gc.enable()
