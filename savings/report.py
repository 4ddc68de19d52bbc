"""The verified-savings section of an institution's yearly report, as data and as PDF flowables.

Meant for the institution report and its PDF (api/routers/reports.py, api/exports/pdf.py): the projects
whose reporting period overlaps the year, with their stored verified savings, and the city's HDD18/CDD26
of the year and the year before, so per-area energy and its change are read beside the weather.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import psycopg

from savings import methodology as meth
from store import savings as db
from store.weather import degree_days


@dataclass(frozen=True)
class YearWeather:
    year: int
    hdd: float
    cdd: float
    days_with_temperature: int


@dataclass
class SavingsSection:
    institution_id: str
    year: int
    hdd_base_c: float
    cdd_base_c: float
    degree_day_source: str
    weather: list[YearWeather] = field(default_factory=list)  # the year and the one before
    projects: list[dict] = field(default_factory=list)  # project fields and "savings": stored results


def institution_section(conn: psycopg.Connection, institution_id: str, year: int) -> SavingsSection:
    spec = meth.load().spec
    dd = spec.degree_days
    region = db.institution_region(conn, institution_id)
    out = SavingsSection(institution_id, year, dd.hdd_base_c, dd.cdd_base_c, dd.source)
    for y in (year, year - 1):
        h, c, n = degree_days(conn, region, dt.date(y, 1, 1), dt.date(y, 12, 31), dd.hdd_base_c, dd.cdd_base_c)
        out.weather.append(YearWeather(y, h, c, n))
    for p in db.list_projects(conn, [institution_id]):
        if p.reporting_from.year <= year <= p.reporting_to.year:
            out.projects.append({
                "id": p.id, "name": p.name, "kind": p.kind, "contract_ref": p.contract_ref,
                "baseline": f"{p.baseline_from}..{p.baseline_to}", "reporting": f"{p.reporting_from}..{p.reporting_to}",
                "savings": db.results(conn, p.id),
            })
    return out


def pdf_flowables(section: SavingsSection) -> list:
    """reportlab flowables: a heading, the degree days of both years, and one row per verified result."""
    from reportlab.lib import colors
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.platypus import Paragraph, Table, TableStyle

    font = "STSong-Light"
    pdfmetrics.registerFont(UnicodeCIDFont(font))
    head = ParagraphStyle("sav-head", fontName=font, fontSize=12, leading=16, spaceBefore=8, spaceAfter=4)
    cell = ParagraphStyle("sav-cell", fontName=font, fontSize=8, leading=10, wordWrap="CJK")

    def esc(v) -> str:
        return ("—" if v is None else str(v)).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    def num(v, d=0) -> str:
        return "—" if v is None else f"{v:,.{d}f}"

    def table(rows: list[list], widths_mm: list[float], header_markup: bool = False) -> Table:
        body = [[Paragraph(c if header_markup else esc(c), cell) for c in rows[0]]]
        body += [[Paragraph(esc(c), cell) for c in r] for r in rows[1:]]
        t = Table(body, colWidths=[w * mm for w in widths_mm], repeatRows=1)
        t.setStyle(TableStyle([("FONTNAME", (0, 0), (-1, -1), font),
                               ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#edf2f7")),
                               ("GRID", (0, 0), (-1, -1), 0.25, colors.grey)]))
        return t

    out: list = [Paragraph(esc(f"节能量核证 Verified savings ({section.year})"), head)]
    out.append(table([["年份 Year", f"HDD{section.hdd_base_c:g}", f"CDD{section.cdd_base_c:g}", "有气温日数 Days"]]
                     + [[w.year, num(w.hdd), num(w.cdd), w.days_with_temperature] for w in section.weather],
                     [25, 25, 25, 25]))
    rows = [["项目<br/>Project", "能源<br/>Energy", "报告期<br/>Reporting", "节约量<br/>Avoided", "±<br/>(90%)",
             "节能率<br/>Share", "kgce", "元<br/>Yuan", "同比<br/>YoY"]]
    refusals: list[str] = []
    for p in section.projects:
        for r in p["savings"]:
            name = f"{p['name']} ({p['contract_ref'] or p['id']})"
            if r["status"] != "ok":
                rows.append([name, r["energy_type"], f"{r['reporting_from']}..{r['reporting_to']}", "refused",
                             "", "", "", "", ""])
                refusals.append(f"{p['id']} {r['energy_type']}: " + "; ".join(r["reasons"] or ["insufficient data"]))
                continue
            share = r["avoided"] / r["predicted"] if r["predicted"] else None
            rows.append([name, r["energy_type"], f"{r['reporting_from']}..{r['reporting_to']}",
                         f"{num(r['avoided'])} {r['unit']}", num(r["avoided_uncertainty"]),
                         "—" if share is None else f"{share:.1%}", num(r["avoided_kgce"]), num(r["avoided_cost_yuan"]),
                         "—" if r["year_on_year_change"] is None else f"{r['year_on_year_change']:+.1%}"])
    if len(rows) > 1:  # fits A4 portrait between the usual margins (158 mm)
        out.append(table(rows, [35, 17, 22, 22, 13, 12, 13, 13, 11], header_markup=True))
    else:
        out.append(Paragraph(esc("No verified project for this year."), cell))
    for text in refusals:
        out.append(Paragraph(esc(f"Refused, data insufficient — {text}"), cell))
    return out

