"""The savings workbook a contract party checks by hand: the figure, the model, and every reporting day.

Sheet "summary": the project, the avoided energy with its uncertainty, kgce and cost, the year-on-year change
and the degree days of both years. Sheet "model": each day type's coefficients and fit statistics. Sheet
"daily": date, working day, temperature, HDD, CDD, predicted, metered, avoided, cumulative avoided, and a
column that recomputes the prediction with a spreadsheet formula from the "model" sheet, so anyone can see
the prediction follow from the published coefficients.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from savings.caltrack import SEGMENTS, BaselineModel
from store.savings import Project
from store.spreadsheet import xlsx_append

_SEG_ROW = {"workday": 3, "non_workday": 4, "all": 5}  # model sheet rows


def workbook(
    p: Project,
    results: Sequence[dict],
    models: dict[str, BaselineModel],
    daily: dict[str, list[dict]],
    methodology_name: str,
    methodology_sha256: str,
) -> bytes:
    """XLSX bytes for one project: ``results`` per energy type (store.savings.results), ``models`` and
    ``daily`` rows keyed by energy type."""
    from openpyxl import Workbook

    book = Workbook()
    s = book.active
    s.title = "summary"
    for k, v in (
        ("project", p.id),
        ("name", p.name),
        ("institution", p.institution_id),
        ("kind", p.kind),
        ("contract reference", p.contract_ref or ""),
        ("baseline period", f"{p.baseline_from} .. {p.baseline_to}"),
        ("installation period", f"{p.install_from} .. {p.install_to}"),
        ("reporting period", f"{p.reporting_from} .. {p.reporting_to}"),
        (
            "method",
            f"{methodology_name} (sha256 {methodology_sha256[:12]}), CalTRACK 2.0 daily; uncertainty "
            "per ASHRAE Guideline 14 fractional savings uncertainty",
        ),
    ):
        xlsx_append(s, [k, v])
    xlsx_append(s, [])
    head = [
        "energy type",
        "unit",
        "status",
        "reporting days",
        "predicted",
        "metered",
        "avoided",
        "± (confidence)",
        "confidence level",
        "avoided kgce",
        "avoided cost (yuan)",
        "same days previous year, metered",
        "year-on-year change",
        "HDD",
        "CDD",
        "HDD previous year",
        "CDD previous year",
        "reasons",
    ]
    xlsx_append(s, head)
    for r in results:
        xlsx_append(
            s,
            [
                r["energy_type"],
                r["unit"],
                r["status"],
                r["reporting_days"],
                r["predicted"],
                r["metered"],
                r["avoided"],
                r["avoided_uncertainty"],
                r["confidence_level"],
                r["avoided_kgce"],
                r["avoided_cost_yuan"],
                r["previous_year_metered"],
                r["year_on_year_change"],
                r["hdd"],
                r["cdd"],
                r["previous_year_hdd"],
                r["previous_year_cdd"],
                "; ".join(r["reasons"] or []),
            ],
        )
    for et, model in models.items():
        ms = book.create_sheet(f"model {et}"[:31])
        xlsx_append(
            ms,
            [
                "segment",
                "model type",
                "intercept",
                "beta_hdd",
                "hdd_balance_point_c",
                "beta_cdd",
                "cdd_balance_point_c",
                "r2_adj",
                "days",
            ],
        )
        xlsx_append(ms, [])
        for name in (*SEGMENTS, "all"):
            seg = model.segments.get(name)
            if seg is None:
                xlsx_append(ms, [name])
                continue
            xlsx_append(
                ms,
                [
                    name,
                    seg.model_type,
                    seg.intercept,
                    seg.beta_hdd,
                    seg.hdd_bp_c or 0.0,
                    seg.beta_cdd,
                    seg.cdd_bp_c or 0.0,
                    seg.r2_adj,
                    seg.n_days,
                ],
            )
        st = model.stats
        xlsx_append(ms, [])
        for k, v in (
            ("days", st.n_days),
            ("parameters", st.n_parameters),
            ("adjusted R²", st.r2_adj),
            ("CV(RMSE)", st.cvrmse),
            ("NMBE", st.nmbe),
            ("lag-1 autocorrelation", st.autocorr_lag1),
        ):
            xlsx_append(ms, [k, v])
        ds = book.create_sheet(f"daily {et}"[:31])
        xlsx_append(
            ds,
            [
                "date",
                "working day",
                "mean temperature °C",
                "HDD",
                "CDD",
                "predicted",
                "metered",
                "avoided",
                "cumulative avoided",
                "predicted (formula from model sheet)",
            ],
        )
        cum = 0.0
        ref = f"'{ms.title}'!"
        for i, row in enumerate(daily.get(et, []), start=2):
            if row["avoided"] is not None:
                cum += row["avoided"]
            if "all" in model.segments:
                cells = {c: f"{ref}${c}${_SEG_ROW['all']}" for c in "CDEFG"}
            else:
                w, n = _SEG_ROW["workday"], _SEG_ROW["non_workday"]
                cells = {c: f"IF(B{i},{ref}${c}${w},{ref}${c}${n})" for c in "CDEFG"}
            formula = (
                f"={cells['C']}+{cells['D']}*MAX({cells['E']}-C{i},0)+{cells['F']}*MAX(C{i}-{cells['G']},0)"
            )
            xlsx_append(
                ds,
                [
                    row["day"],
                    bool(row["workday"]),
                    row["mean_temp_c"],
                    row["hdd"],
                    row["cdd"],
                    row["predicted"],
                    row["metered"],
                    row["avoided"],
                    cum,
                ],
            )
            ds.cell(row=i, column=10, value=formula)  # our own formula, set after the text-safe append
        ds.column_dimensions["A"].width = 12
        ds.column_dimensions["J"].width = 20
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()
