"""CalTRACK daily baseline models: change-point regression of daily use on temperature (pure).

Implemented against the CalTRACK 2.0 daily methods specification (docs/savings.md says why not the
``opendsm``/``eemeter`` packages). Each day type (working, non-working) gets its own model, chosen among
four candidates by adjusted R²:

- intercept only:  use = β₀
- HDD only:        use = β₀ + β_H · max(T_H − T, 0)
- CDD only:        use = β₀ + β_C · max(T − T_C, 0)
- HDD and CDD:     use = β₀ + β_H · max(T_H − T, 0) + β_C · max(T − T_C, 0),  T_H ≤ T_C

with the balance points T_H, T_C searched over a grid. A temperature candidate qualifies only when each of
its temperature coefficients is positive with a p-value at most the limit and its degree days are non-zero
on enough days and add up to enough (CalTRACK daily methods). Fit statistics (adjusted R², CV(RMSE), NMBE) follow
ASHRAE Guideline 14; the savings uncertainty is Guideline 14's fractional savings uncertainty as CalTRACK
uses it (``savings_uncertainty``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy import stats

from savings.degree_days import cooling_degree_days, heating_degree_days
from savings.methodology import ModelRules

METHOD = "caltrack-daily-2.0"
SEGMENTS = ("workday", "non_workday")


@dataclass(frozen=True)
class SegmentModel:
    """The selected candidate of one day type (or of all days), in the meter's unit per day."""

    segment: str  # workday | non_workday | all
    model_type: str  # intercept_only | hdd_only | cdd_only | hdd_cdd
    intercept: float
    beta_hdd: float = 0.0
    beta_cdd: float = 0.0
    hdd_bp_c: float | None = None
    cdd_bp_c: float | None = None
    r2_adj: float = 0.0
    n_days: int = 0
    p_hdd: float | None = None
    p_cdd: float | None = None
    candidates_tried: int = 0
    candidates_qualified: int = 0

    @property
    def n_parameters(self) -> int:
        return 1 + (self.hdd_bp_c is not None) + (self.cdd_bp_c is not None)

    def predict(self, temp_c: np.ndarray) -> np.ndarray:
        y = np.full(len(temp_c), self.intercept, dtype=float)
        if self.hdd_bp_c is not None:
            y = y + self.beta_hdd * heating_degree_days(temp_c, self.hdd_bp_c)
        if self.cdd_bp_c is not None:
            y = y + self.beta_cdd * cooling_degree_days(temp_c, self.cdd_bp_c)
        return y


@dataclass(frozen=True)
class FitStats:
    n_days: int
    n_parameters: int
    r2_adj: float
    rmse_adj: float  # sqrt(SSE / (n − p)), unit per day
    cvrmse: float  # rmse_adj / mean use (ASHRAE Guideline 14)
    nmbe: float  # Σ(y − ŷ) / ((n − p) · mean use) (ASHRAE Guideline 14)
    autocorr_lag1: float  # of residuals in day order
    mean_use: float


@dataclass(frozen=True)
class BaselineModel:
    segments: dict[str, SegmentModel]
    stats: FitStats
    method: str = METHOD

    def predict(self, temp_c: np.ndarray, workday: np.ndarray) -> np.ndarray:
        temp_c = np.asarray(temp_c, dtype=float)
        workday = np.asarray(workday, dtype=bool)
        if "all" in self.segments:
            return self.segments["all"].predict(temp_c)
        out = np.empty(len(temp_c))
        for name, mask in (("workday", workday), ("non_workday", ~workday)):
            if mask.any():
                out[mask] = self.segments[name].predict(temp_c[mask])
        return out

    def to_params(self) -> dict:
        return {
            "method": self.method,
            "segments": {k: asdict(v) for k, v in self.segments.items()},
            "stats": asdict(self.stats),
        }

    @classmethod
    def from_params(cls, params: dict) -> BaselineModel:
        return cls(
            segments={k: SegmentModel(**v) for k, v in params["segments"].items()},
            stats=FitStats(**params["stats"]),
            method=params.get("method", METHOD),
        )


@dataclass
class InsufficientData(Exception):
    """The data cannot support a baseline model (or a savings figure); ``reasons`` says each way why."""

    reasons: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return "; ".join(self.reasons)


# --- fitting ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Fit:
    coef: np.ndarray
    pvalues: np.ndarray
    r2_adj: float


def _ols(X: np.ndarray, y: np.ndarray) -> _Fit | None:
    n, p = X.shape
    if n <= p:
        return None
    xtx = X.T @ X
    try:
        inv = np.linalg.inv(xtx)
    except np.linalg.LinAlgError:
        return None
    coef = inv @ (X.T @ y)
    resid = y - X @ coef
    sse = float(resid @ resid)
    sst = float(((y - y.mean()) ** 2).sum())
    dof = n - p
    sigma2 = sse / dof
    se = np.sqrt(np.maximum(np.diag(inv) * sigma2, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        tval = np.where(se > 0, coef / se, np.inf)
    pvalues = 2.0 * stats.t.sf(np.abs(tval), dof)
    if sst <= 0:
        r2_adj = 0.0
    else:
        r2_adj = 1.0 - (sse / dof) / (sst / (n - 1))
    return _Fit(coef, pvalues, r2_adj)


def _grid(rules: ModelRules) -> np.ndarray:
    n = int(
        math.floor(
            (rules.balance_point_max_c - rules.balance_point_min_c) / rules.balance_point_step_c + 1e-9
        )
    )
    return np.round(rules.balance_point_min_c + rules.balance_point_step_c * np.arange(n + 1), 6)


def _enough_degree_days(dd: np.ndarray, rules: ModelRules) -> bool:
    return (
        int((dd > 0).sum()) >= rules.min_nonzero_degree_days
        and float(dd.sum()) >= rules.min_total_degree_days_c
    )


def fit_segment(temp_c: np.ndarray, use: np.ndarray, rules: ModelRules, segment: str = "all") -> SegmentModel:
    """The CalTRACK daily model of one day type: every candidate fitted, the qualifying one with the highest
    adjusted R² kept.

    Parameters
    ----------
    temp_c : numpy.ndarray
        Daily mean outdoor air temperature of each baseline day [°C].
    use : numpy.ndarray
        Metered use of the same days [meter unit per day].
    rules : ModelRules
        Balance-point grid, p-value limit and degree-day sufficiency (savings/methodology.toml).

    Returns
    -------
    SegmentModel

    References
    ----------
    CalTRACK Methods 2.0, daily and billing methods: balance points, candidate models,
    qualification, selection by adjusted R².
    """
    temp_c = np.asarray(temp_c, dtype=float)
    use = np.asarray(use, dtype=float)
    n = len(use)
    ones = np.ones(n)
    base = _ols(ones[:, None], use)
    best = SegmentModel(
        segment, "intercept_only", float(use.mean()), r2_adj=base.r2_adj if base else 0.0, n_days=n
    )
    best_r2 = best.r2_adj
    tried = qualified = 1
    grid = _grid(rules)
    hdds = {bp: heating_degree_days(temp_c, bp) for bp in grid}
    cdds = {bp: cooling_degree_days(temp_c, bp) for bp in grid}
    ok_h = {bp: _enough_degree_days(d, rules) for bp, d in hdds.items()}
    ok_c = {bp: _enough_degree_days(d, rules) for bp, d in cdds.items()}
    limit = rules.max_p_value

    def consider(model_type: str, hbp: float | None, cbp: float | None) -> None:
        nonlocal best, best_r2, tried, qualified
        cols = [ones] + ([hdds[hbp]] if hbp is not None else []) + ([cdds[cbp]] if cbp is not None else [])
        tried += 1
        f = _ols(np.column_stack(cols), use)
        if f is None:
            return
        betas, ps = f.coef[1:], f.pvalues[1:]
        if not (np.all(betas > 0) and np.all(ps <= limit)):
            return
        qualified += 1
        if f.r2_adj > best_r2:
            i = 1
            kw: dict = {}
            if hbp is not None:
                kw.update(beta_hdd=float(f.coef[i]), hdd_bp_c=float(hbp), p_hdd=float(f.pvalues[i]))
                i += 1
            if cbp is not None:
                kw.update(beta_cdd=float(f.coef[i]), cdd_bp_c=float(cbp), p_cdd=float(f.pvalues[i]))
            best = SegmentModel(segment, model_type, float(f.coef[0]), r2_adj=float(f.r2_adj), n_days=n, **kw)
            best_r2 = f.r2_adj

    for bp in grid:
        if ok_h[bp]:
            consider("hdd_only", bp, None)
        if ok_c[bp]:
            consider("cdd_only", None, bp)
    for hbp in grid:
        if not ok_h[hbp]:
            continue
        for cbp in grid:
            if cbp >= hbp and ok_c[cbp]:
                consider("hdd_cdd", hbp, cbp)
    return SegmentModel(**{**asdict(best), "candidates_tried": tried, "candidates_qualified": qualified})


def fit_baseline(
    temp_c: np.ndarray, use: np.ndarray, workday: np.ndarray, rules: ModelRules
) -> BaselineModel:
    """A baseline model on the baseline days that have both use and temperature (sufficiency checked before).

    Parameters
    ----------
    temp_c, use, workday : numpy.ndarray
        Per baseline day in date order: mean temperature [°C], metered use [unit/day], working day or not.
    rules : ModelRules

    Returns
    -------
    BaselineModel
        One segment per day type when ``rules.day_types`` (each with at least ``min_days_per_day_type``
        days; otherwise a single "all" segment), and the fit statistics over all days.

    Raises
    ------
    InsufficientData
        When there are no days to fit.

    References
    ----------
    ASHRAE Guideline 14-2014 (CV(RMSE), NMBE with n − p degrees of freedom).
    """
    temp_c = np.asarray(temp_c, dtype=float)
    use = np.asarray(use, dtype=float)
    workday = np.asarray(workday, dtype=bool)
    if len(use) < 3:
        raise InsufficientData([f"only {len(use)} baseline day(s) with use and temperature"])
    split = (
        rules.day_types
        and int(workday.sum()) >= rules.min_days_per_day_type
        and int((~workday).sum()) >= rules.min_days_per_day_type
    )
    if split:
        segs = {
            "workday": fit_segment(temp_c[workday], use[workday], rules, "workday"),
            "non_workday": fit_segment(temp_c[~workday], use[~workday], rules, "non_workday"),
        }
    else:
        segs = {"all": fit_segment(temp_c, use, rules, "all")}
    partial = BaselineModel(segs, FitStats(0, 0, 0, 0, 0, 0, 0, 0))
    resid = use - partial.predict(temp_c, workday)
    return BaselineModel(segs, fit_statistics(use, resid, sum(s.n_parameters for s in segs.values())))


def fit_statistics(use: np.ndarray, resid: np.ndarray, n_parameters: int) -> FitStats:
    """ASHRAE Guideline 14 goodness of fit of a baseline model.

    Parameters
    ----------
    use : numpy.ndarray
        Metered use of each baseline day [unit/day].
    resid : numpy.ndarray
        use − prediction, same days in date order [unit/day].
    n_parameters : int
        Parameters of the model (all segments).

    Returns
    -------
    FitStats

    References
    ----------
    ASHRAE Guideline 14-2014 (CV(RMSE) and NMBE with n − p).
    """
    n, p = len(use), n_parameters
    dof = max(n - p, 1)
    mean = float(use.mean())
    sse = float(resid @ resid)
    sst = float(((use - mean) ** 2).sum())
    rmse_adj = math.sqrt(sse / dof)
    r2_adj = 1.0 - (sse / dof) / (sst / (n - 1)) if sst > 0 and n > 1 else 0.0
    if n > 2 and resid.std() > 0:
        rho = float(np.corrcoef(resid[:-1], resid[1:])[0, 1])
    else:
        rho = 0.0
    return FitStats(
        n_days=n,
        n_parameters=p,
        r2_adj=float(r2_adj),
        rmse_adj=rmse_adj,
        cvrmse=rmse_adj / mean if mean else math.inf,
        nmbe=float(resid.sum()) / (dof * mean) if mean else math.inf,
        autocorr_lag1=rho,
        mean_use=mean,
    )


# --- savings ----------------------------------------------------------------------------------------

# Sun & Baltazar (2013) correction of ASHRAE Guideline 14's 1.26 factor for daily data, as a quadratic in
# the reporting period's length in months (the coefficients OpenEEmeter uses for CalTRACK).
_FSU_DAILY = (-0.00024, 0.03535, 1.00286)


def savings_uncertainty(
    stats_: FitStats, predicted_total: float, reporting_days: int, confidence_level: float
) -> float:
    """Half-width of the avoided-energy interval over a reporting period (fractional savings uncertainty).

    Parameters
    ----------
    stats_ : FitStats
        The baseline model's fit: n, p, rmse_adj, mean use, lag-1 autocorrelation of residuals.
    predicted_total : float
        The model's prediction summed over the reporting days [unit].
    reporting_days : int
        Reporting days with metered use (m).
    confidence_level : float
        Two-sided confidence level, e.g. 0.9.

    Returns
    -------
    float
        U [unit]: avoided energy lies within ±U at ``confidence_level``:
        U = E · t · (a·M² + b·M + c) · CV · sqrt((n/n′)·(1 + 2/n′)·(1/m)),
        with n′ = n·(1 − ρ)/(1 + ρ), M = m/30 months and t at n − p degrees of freedom.

    References
    ----------
    ASHRAE Guideline 14-2014, Annex B, the fractional savings uncertainty; Sun, Y. and Baltazar, J.C. (2013), Analysis and improvement
    on the estimation of building energy savings uncertainty, ASHRAE Transactions 119(1); CalTRACK Methods 2.0
    (as implemented by OpenEEmeter's metered-savings error bands).
    """
    n, p, m = stats_.n_days, stats_.n_parameters, reporting_days
    if m <= 0 or n <= p:
        return math.nan
    rho = min(max(stats_.autocorr_lag1, 0.0), 0.99)  # negative autocorrelation is not credited
    n_eff = n * (1 - rho) / (1 + rho)
    t_stat = float(stats.t.ppf(1 - (1 - confidence_level) / 2, n - p))
    months = m / 30.0
    a, b, c = _FSU_DAILY
    poly = a * months**2 + b * months + c
    cv = stats_.rmse_adj / stats_.mean_use
    return abs(predicted_total) * t_stat * poly * cv * math.sqrt((n / n_eff) * (1 + 2 / n_eff) / m)
