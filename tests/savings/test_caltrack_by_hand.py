"""Small cases computed by hand: noise-free use of a known temperature response gives exactly that model."""

from __future__ import annotations

import numpy as np
import pytest

from savings import methodology
from savings.caltrack import fit_baseline, fit_segment, savings_uncertainty

RULES = methodology.load().spec.model
DAYS = np.arange(365)
TEMP_C = 16.0 - 12.0 * np.cos(2 * np.pi * DAYS / 365)  # 4 °C in January to 28 °C in July


def test_noise_free_hdd_response_gives_exact_hdd_only_model():
    use = 100.0 + 5.0 * np.maximum(15.0 - TEMP_C, 0.0)
    seg = fit_segment(TEMP_C, use, RULES)
    assert seg.model_type == "hdd_only"
    assert (seg.intercept, seg.beta_hdd, seg.hdd_bp_c) == (pytest.approx(100.0), pytest.approx(5.0), 15.0)
    assert seg.beta_cdd == 0.0 and seg.cdd_bp_c is None


def test_noise_free_hdd_cdd_response_gives_exact_coefficients():
    use = 80.0 + 4.0 * np.maximum(14.0 - TEMP_C, 0.0) + 7.0 * np.maximum(TEMP_C - 22.5, 0.0)
    seg = fit_segment(TEMP_C, use, RULES)
    assert seg.model_type == "hdd_cdd"
    assert (seg.intercept, seg.beta_hdd, seg.hdd_bp_c, seg.beta_cdd, seg.cdd_bp_c) == (
        pytest.approx(80.0),
        pytest.approx(4.0),
        14.0,
        pytest.approx(7.0),
        22.5,
    )


def test_flat_use_is_intercept_only():
    seg = fit_segment(TEMP_C, np.full(365, 42.0), RULES)
    assert seg.model_type == "intercept_only" and seg.intercept == pytest.approx(42.0)


def test_fit_statistics_and_uncertainty_by_hand():
    # Residuals alternate +1, -1 around an intercept of 10: rmse_adj = sqrt(364/363), CV = rmse/10,
    # NMBE = 0, lag-1 autocorrelation -1 (not credited: n' = n).
    use = 10.0 + np.where(DAYS % 2 == 0, 1.0, -1.0)
    use[-1] = 10.0  # keeps the mean exactly 10 with 365 days: sum of the alternating ±1 over 364 days is 0
    m = fit_baseline(TEMP_C, use, np.ones(365, dtype=bool), RULES)
    st = m.stats
    assert m.segments["all"].model_type == "intercept_only"
    assert st.mean_use == pytest.approx(10.0) and st.nmbe == pytest.approx(0.0, abs=1e-12)
    assert st.rmse_adj == pytest.approx(np.sqrt(364 / 364))
    assert st.cvrmse == pytest.approx(st.rmse_adj / 10.0)
    assert st.autocorr_lag1 < -0.99
    # U = E · t(0.95, 364) · (a M² + b M + c) · CV · sqrt((n/n)(1 + 2/n)/m), m = 30 days, M = 1 month
    from scipy import stats

    t = stats.t.ppf(0.95, 364)
    poly = -0.00024 + 0.03535 + 1.00286
    expect = 300.0 * t * poly * st.cvrmse * np.sqrt((1 + 2 / 365) / 30)
    assert savings_uncertainty(st, 300.0, 30, 0.9) == pytest.approx(expect)
