"""Verify a project's savings from its meters: fit the baseline model on the named baseline period, predict
the reporting period under its weather, subtract metered use; store the model, the result and the daily rows.

One entry for the CLI and the API: ``verify_project``. A period the data cannot support gives a result with
status "insufficient" and the reasons, and no figure.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from dataclasses import dataclass

import numpy as np
import psycopg

from savings import methodology as meth
from savings.caltrack import InsufficientData, fit_baseline
from savings.compute import daily_rows, totals
from savings.sufficiency import baseline_problems, days_between, reporting_problems, usable_use
from store import codes
from store import savings as db
from store.calendar import is_workday
from store.registry_projects import parse_prices
from store.weather import daily_temperatures


class UnknownProject(LookupError):
    pass


@dataclass(frozen=True)
class Outcome:
    energy_type: str
    status: str  # ok | insufficient
    reasons: list[str]
    result: dict


def _previous_year(d: dt.date) -> dt.date | None:
    try:
        return d.replace(year=d.year - 1)
    except ValueError:  # 29 February
        return None


def _kgce(quantity: float, energy_type: str, unit: str) -> float | None:
    """Standard coal of a quantity per the default scoring methodology's GB/T 2589 coefficients."""
    from scoring.coal import energy_kgce
    from scoring.methodology import load_methodology

    coef = load_methodology(None).spec.coefficients.get(energy_type)
    if coef is None:
        return None
    try:
        q = codes.convert(quantity, unit, coef.unit)
    except codes.UnitError:
        return None
    return energy_kgce(q, coef)


def verify_project(
    conn: psycopg.Connection,
    project_id: str,
    *,
    as_of: dt.date,
    methodology: meth.SavingsMethodology | None = None,
) -> list[Outcome]:
    """Fit, predict and store the savings of every energy type of a project, up to the day before ``as_of``.

    Raises UnknownProject when there is no such project. Commits nothing itself: the caller's transaction
    holds the new model, result and daily rows.
    """
    m = methodology or meth.load()
    spec = m.spec
    p = db.get_project(conn, project_id)
    if p is None:
        raise UnknownProject(project_id)
    region = db.institution_region(conn, p.institution_id)
    prices = parse_prices(p.prices)
    out = []
    for et in p.types:
        out.append(_verify_type(conn, p, et, region, prices, as_of, m, spec))
    return out


def _verify_type(
    conn,
    p: db.Project,
    et: str,
    region: str,
    prices: dict[str, float],
    as_of: dt.date,
    m: meth.SavingsMethodology,
    spec: meth.Spec,
) -> Outcome:
    unit = codes.CANONICAL_UNITS.get(et) or "unit"
    meters = db.project_meters(conn, p, et)
    last = min(p.reporting_to, as_of - dt.timedelta(days=1))
    base = {
        "project_id": p.id,
        "energy_type": et,
        "unit": unit,
        "reporting_from": p.reporting_from,
        "reporting_to": last if last >= p.reporting_from else p.reporting_to,
    }

    def refuse(reasons: list[str]) -> Outcome:
        r = {**base, "status": "insufficient", "reasons": reasons}
        db.replace_result(conn, r, [])
        return Outcome(et, "insufficient", reasons, r)

    if not meters:
        return refuse(
            [
                f"institution {p.institution_id} has no {et} meter for this project "
                "(list meter_ids, or register a main meter)"
            ]
        )
    prev_first = _previous_year(p.reporting_from) or p.reporting_from - dt.timedelta(days=365)
    first_needed = min(p.baseline_from, prev_first)
    use, missing = usable_use(db.daily_use(conn, meters, et, first_needed, max(last, p.baseline_to)), et)

    def missing_note(first: dt.date, to: dt.date) -> list[str]:
        n = sum(1 for d in missing if first <= d <= to)
        what = "zero or negative" if et == "electricity" else "negative"
        return [f"{n} day(s) of {what} metered use in {first}..{to} count as missing"] if n else []

    temps = daily_temperatures(conn, region, first_needed, max(last, p.baseline_to))
    bdays = [d for d in days_between(p.baseline_from, p.baseline_to) if d in use and d in temps]
    problems = baseline_problems(
        p.baseline_from, p.baseline_to, set(bdays), spec.sufficiency, install_from=p.install_from
    )
    if not temps:
        problems.insert(0, f"no weather for region {region} (import it: `jieneng weather import`)")
    if problems:
        return refuse(problems + missing_note(p.baseline_from, p.baseline_to))
    t = np.array([temps[d] for d in bdays])
    y = np.array([use[d] for d in bdays])
    if not y.mean() > 0:
        return refuse(
            [f"baseline use is {y.mean():g} {unit} a day on average; there is nothing to save against"]
        )
    w = np.array([is_workday(d) for d in bdays])
    try:
        model = fit_baseline(t, y, w, spec.model)
    except InsufficientData as exc:
        return refuse(exc.reasons)
    data_sha = hashlib.sha256(
        db.canonical_json(
            [[d.isoformat(), repr(float(a)), repr(float(b))] for d, a, b in zip(bdays, t, y, strict=True)]
        ).encode()
    ).hexdigest()
    params = model.to_params()
    model_id = db.insert_model(
        conn, p.id, et, unit, p.baseline_from, p.baseline_to, model.method, m.sha256, data_sha, params
    )
    if last < p.reporting_from:
        return refuse([f"reporting period starts {p.reporting_from}; no reporting day before {as_of} yet"])
    rdays = days_between(p.reporting_from, last)
    rproblems = reporting_problems(
        p.reporting_from, last, {d for d in rdays if d in use and d in temps}, spec.sufficiency
    )
    if rproblems:
        return refuse(rproblems + missing_note(p.reporting_from, last))
    work = {d: is_workday(d) for d in rdays}
    dd = spec.degree_days
    rows = daily_rows(
        model, rdays, temps, {d: use[d] for d in rdays if d in use}, work, dd.hdd_base_c, dd.cdd_base_c
    )
    tot = totals(model, rows, spec.uncertainty.confidence_level)

    # Year on year: the same calendar days a year earlier, where both years were metered.
    pairs = [(r, _previous_year(r.day)) for r in rows if r.metered is not None]
    pairs = [(r, q) for r, q in pairs if q is not None and q in use]
    prev = sum(use[q] for _, q in pairs)
    cur = sum(r.metered for r, _ in pairs)
    prev_t = [temps[q] for _, q in pairs if q in temps]
    from savings.degree_days import cooling_degree_days, heating_degree_days

    price = prices.get(et, spec.price(et))
    kgce = _kgce(tot.avoided, et, unit)
    result = {
        **base,
        "model_id": model_id,
        "reporting_days": tot.reporting_days,
        "predicted": tot.predicted,
        "metered": tot.metered,
        "avoided": tot.avoided,
        "avoided_uncertainty": tot.avoided_uncertainty,
        "confidence_level": tot.confidence_level,
        "avoided_kgce": kgce,
        "avoided_cost_yuan": tot.avoided * price if price is not None else None,
        "previous_year_metered": prev if pairs else None,
        "year_on_year_change": (cur / prev - 1.0) if pairs and prev else None,
        "hdd": float(sum(r.hdd for r in rows if r.metered is not None)),
        "cdd": float(sum(r.cdd for r in rows if r.metered is not None)),
        "previous_year_hdd": float(heating_degree_days(prev_t, dd.hdd_base_c).sum()) if prev_t else None,
        "previous_year_cdd": float(cooling_degree_days(prev_t, dd.cdd_base_c).sum()) if prev_t else None,
        "status": "ok",
        "reasons": [],
    }
    db.replace_result(
        conn,
        result,
        [(r.day, r.mean_temp_c, r.hdd, r.cdd, r.workday, r.predicted, r.metered, r.avoided) for r in rows],
    )
    return Outcome(et, "ok", [], result)


def uncertainty_in(result: dict, value_key: str) -> float | None:
    """The ± of a derived figure (kgce, yuan): the avoided energy's relative uncertainty applied to it."""
    v, a, u = result.get(value_key), result.get("avoided"), result.get("avoided_uncertainty")
    if v is None or a is None or u is None or not a or math.isnan(u):
        return None
    return abs(v * u / a)


def project_workbook(conn: psycopg.Connection, project_id: str) -> bytes:
    """The stored results of a project as the hand-checkable workbook (savings.xlsx)."""
    from savings.caltrack import BaselineModel
    from savings.xlsx import workbook

    p = db.get_project(conn, project_id)
    if p is None:
        raise UnknownProject(project_id)
    res = db.results(conn, project_id)
    models, daily = {}, {}
    method_sha = ""
    for r in res:
        if r["model_id"] is not None and r["status"] == "ok":
            row = db.get_model(conn, r["model_id"])
            models[r["energy_type"]] = BaselineModel.from_params(row["params"])
            method_sha = row["methodology_sha256"]
            daily[r["energy_type"]] = db.daily_rows(conn, project_id, r["energy_type"])
    m = meth.load()
    return workbook(p, res, models, daily, f"{m.spec.name} {m.spec.version}", method_sha or m.sha256)
