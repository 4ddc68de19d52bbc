"""Done-when: synthetic data of known truth recovers the savings within the method's stated uncertainty."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from savings import methodology
from savings.caltrack import InsufficientData, fit_baseline
from savings.compute import daily_rows, totals
from savings.sufficiency import baseline_problems, days_between, reporting_problems

from .synthetic import building

M = methodology.load().spec
BASE = (dt.date(2025, 1, 1), dt.date(2025, 12, 31))
INSTALL_TO = dt.date(2026, 1, 31)
REPORT = (dt.date(2026, 2, 1), dt.date(2026, 11, 30))
CUT = 0.15


def _run(seed: int, cut: float = CUT, noise: float = 0.06):
    temp, metered, work, cf = building(seed, BASE[0], REPORT[1], dt.date(2026, 2, 1), cut, noise)
    bdays = [d for d in days_between(*BASE) if d in metered and d in temp]
    assert not baseline_problems(*BASE, set(bdays), M.sufficiency)
    model = fit_baseline(
        np.array([temp[d] for d in bdays]),
        np.array([metered[d] for d in bdays]),
        np.array([work[d] for d in bdays]),
        M.model,
    )
    rdays = days_between(*REPORT)
    assert not reporting_problems(*REPORT, set(metered), M.sufficiency)
    rows = daily_rows(
        model,
        rdays,
        temp,
        {d: metered[d] for d in rdays if d in metered},
        work,
        M.degree_days.hdd_base_c,
        M.degree_days.cdd_base_c,
    )
    tot = totals(model, rows, M.uncertainty.confidence_level)
    true_avoided = sum(cf[d] * cut for d in rdays if d in metered)
    return model, tot, true_avoided


def test_recovers_known_savings_within_stated_uncertainty():
    model, tot, truth = _run(seed=16)
    # The day types have the temperature responses the building was made with.
    work = model.segments["workday"]
    assert work.model_type == "hdd_cdd"
    assert abs(work.hdd_bp_c - 15.0) <= 1.5 and abs(work.cdd_bp_c - 22.0) <= 1.5
    assert model.stats.cvrmse < 0.15 and abs(model.stats.nmbe) < 0.005
    assert tot.avoided_uncertainty > 0
    assert abs(tot.avoided - truth) <= tot.avoided_uncertainty, (tot, truth)
    assert abs(tot.avoided_share - CUT) < 0.03


@pytest.mark.parametrize("cut", [CUT, 0.0])
def test_interval_covers_truth_at_about_its_confidence_level(cut):
    """Over many buildings, with and without a retrofit, the stated 90 % interval holds the true savings
    in most of them and twice the interval in all of them."""
    hits, seeds = 0, range(100, 112)
    for s in seeds:
        _model, tot, truth = _run(seed=s, cut=cut)
        hits += abs(tot.avoided - truth) <= tot.avoided_uncertainty
        assert abs(tot.avoided - truth) <= 2 * tot.avoided_uncertainty, (s, tot, truth)
    assert hits / len(seeds) >= 0.75


def test_short_baseline_refused_with_reason():
    problems = baseline_problems(
        dt.date(2025, 3, 1), dt.date(2025, 12, 31), set(days_between(*BASE)), M.sufficiency
    )
    assert problems == ["baseline period 2025-03-01..2025-12-31 spans 306 days; the method needs 365"]


def test_gappy_baseline_refused_per_month():
    days = set(days_between(*BASE)) - set(days_between(dt.date(2025, 7, 1), dt.date(2025, 7, 10)))
    problems = baseline_problems(*BASE, days, M.sufficiency)
    assert problems == [
        "baseline month 2025-07 has use and temperature on 21 of 31 days (68%); the method needs 90% in every month"
    ]


def test_sparse_baseline_refused_overall():
    days = {d for d in days_between(*BASE) if d.day % 4}
    problems = baseline_problems(*BASE, days, M.sufficiency)
    assert problems[0].startswith(
        "baseline has use and temperature on 281 of 365 days (77%); the method needs 90%"
    )


def test_too_few_days_to_fit():
    with pytest.raises(InsufficientData, match="only 2 baseline day"):
        fit_baseline(np.array([1.0, 2.0]), np.array([3.0, 4.0]), np.array([True, False]), M.model)
