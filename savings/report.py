"""The verified-savings section of an institution's yearly report, as data and as PDF flowables.

Meant for the institution report and its PDF (api/routers/reports.py, api/exports/pdf.py): the projects
whose reporting period overlaps the year, with their stored verified savings, and the city's HDD18/CDD26
of the year and the year before, so per-area energy and its change are read beside the weather.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

import psycopg

from savings import methodology as meth
from savings.degree_days import cooling_degree_days, heating_degree_days
from store import savings as db

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
CELL_PADDING_PT = 12  # reportlab's default left + right cell padding
CELL_MAX_LINES = 20


@dataclass(frozen=True)
class YearWeather:
    year: int
    hdd: float
    cdd: float
    days_with_temperature: int
    region_code: str = ""  # the region whose temperatures were read (the institution's, else its city)

    @property
    def days_in_year(self) -> int:
        return (dt.date(self.year + 1, 1, 1) - dt.date(self.year, 1, 1)).days

    @property
    def missing_reason(self) -> str | None:
        """Why this year's degree days are not shown: a partial year's sum would read as a mild year."""
        if self.days_with_temperature == 0:
            return (
                f"no daily temperature for region {self.region_code} in {self.year} "
                "(import it: `jieneng weather import`)"
            )
        if self.days_with_temperature < self.days_in_year:
            return (
                f"only {self.days_with_temperature} of {self.days_in_year} days of {self.year} have a "
                f"temperature for region {self.region_code}"
            )
        return None


@dataclass
class SavingsSection:
    institution_id: str
    year: int
    hdd_base_c: float
    cdd_base_c: float
    degree_day_source: str
    weather: list[YearWeather] = field(default_factory=list)  # the year and the one before
    projects: list[dict] = field(default_factory=list)  # project fields and "savings": stored results
    # per-area building energy of each year, kgce/m² (from the scoring run; filled in by the report)
    energy_per_area_kgce_m2: dict[int, float | None] = field(default_factory=dict)


def institution_section(
    conn: psycopg.Connection,
    institution_id: str,
    year: int,
    region_code: str | None = None,
    reads: db.SectionReads | None = None,
) -> SavingsSection:
    """``region_code``: the institution's, when the caller has read it already (one round trip less);
    ``reads``: the section's reads of ``year`` and the year before for that region, when the caller's own
    statement read them (the report's pull, store/api_pulls.py); else they are read here."""
    spec = meth.load().spec
    dd = spec.degree_days
    out = SavingsSection(institution_id, year, dd.hdd_base_c, dd.cdd_base_c, dd.source)
    if reads is None:
        region = region_code if region_code is not None else db.institution_region(conn, institution_id)
        # Both years in one read; each year's degree days by the one rule (savings/degree_days.py).
        reads = db.section_reads(conn, institution_id, region, year)
    city = reads.city
    for y in (year, year - 1):
        t = reads.temperatures[y]
        h = float(heating_degree_days(t, dd.hdd_base_c).sum()) if t else 0.0
        c = float(cooling_degree_days(t, dd.cdd_base_c).sum()) if t else 0.0
        out.weather.append(YearWeather(y, h, c, len(t), city))
    for p in db.list_projects(conn, [institution_id]) if reads.has_projects else ():
        if p.reporting_from.year <= year <= p.reporting_to.year:
            out.projects.append(
                {
                    "id": p.id,
                    "name": p.name,
                    "kind": p.kind,
                    "contract_ref": p.contract_ref,
                    "baseline": f"{p.baseline_from}..{p.baseline_to}",
                    "reporting": f"{p.reporting_from}..{p.reporting_to}",
                    "savings": db.results(conn, p.id),
                }
            )
    return out


def _change(now: float | None, before: float | None) -> float | None:
    return None if now is None or before is None or before == 0 else now / before - 1


def degree_day_summary(section: SavingsSection) -> dict:
    """Per-area energy of the year and the year before, and its change, beside the city's HDD/CDD of both
    years, so a rise in a cold winter is read with its weather. A year without a full year of temperatures
    has null degree days and a reason."""
    years = []
    for w in section.weather:
        reason = w.missing_reason
        years.append(
            {
                "year": w.year,
                "hdd": None if reason else w.hdd,
                "cdd": None if reason else w.cdd,
                "days_with_temperature": w.days_with_temperature,
                "days_in_year": w.days_in_year,
                "energy_per_area_kgce_m2": section.energy_per_area_kgce_m2.get(w.year),
                "missing_reason": reason,
            }
        )
    now, before = (years + [{}, {}])[:2]
    return {
        "region_code": section.weather[0].region_code if section.weather else None,
        "hdd_base_c": section.hdd_base_c,
        "cdd_base_c": section.cdd_base_c,
        "source": section.degree_day_source,
        "years": years,
        "energy_per_area_change": _change(
            now.get("energy_per_area_kgce_m2"), before.get("energy_per_area_kgce_m2")
        ),
        "hdd_change": _change(now.get("hdd"), before.get("hdd")),
        "cdd_change": _change(now.get("cdd"), before.get("cdd")),
    }


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

    def esc(v, most: int = 2000) -> str:
        text = _CONTROL.sub("", "—" if v is None else str(v))
        text = text if len(text) <= most else text[: most - 1] + "…"
        return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    def cell_chars(width_mm: float) -> int:
        # A table cell cannot split across pages: cut its text to CELL_MAX_LINES lines of its width (a CJK
        # glyph is one em wide, wider than any Latin letter), as api/exports/pdf.py does for the report.
        return max(1, int((width_mm * mm - CELL_PADDING_PT) / cell.fontSize)) * CELL_MAX_LINES

    def num(v, d=0) -> str:
        return "—" if v is None else f"{v:,.{d}f}"

    def table(rows: list[list], widths_mm: list[float], header_markup: bool = False) -> Table:
        most = [cell_chars(w) for w in widths_mm]
        body = [
            [Paragraph(c if header_markup else esc(c, m), cell) for c, m in zip(rows[0], most, strict=True)]
        ]
        body += [[Paragraph(esc(c, m), cell) for c, m in zip(r, most, strict=True)] for r in rows[1:]]
        t = Table(body, colWidths=[w * mm for w in widths_mm], repeatRows=1)
        t.setStyle(
            TableStyle(
                [
                    ("FONTNAME", (0, 0), (-1, -1), font),
                    ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#edf2f7")),
                    ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
                ]
            )
        )
        return t

    def pct(v) -> str:
        return "—" if v is None else f"{v:+.1%}"

    dd = degree_day_summary(section)
    out: list = [Paragraph(esc(f"度日数与单位面积能耗 Degree days ({section.year})"), head)]
    out.append(
        table(
            [
                [
                    "年份 Year",
                    f"HDD{section.hdd_base_c:g}",
                    f"CDD{section.cdd_base_c:g}",
                    "有气温日数 Days",
                    "单位面积能耗 kgce/m²",
                ]
            ]
            + [
                [
                    y["year"],
                    num(y["hdd"]),
                    num(y["cdd"]),
                    f"{y['days_with_temperature']}/{y['days_in_year']}",
                    num(y["energy_per_area_kgce_m2"], 2),
                ]
                for y in dd["years"]
            ]
            + [
                [
                    "变化 Change",
                    pct(dd["hdd_change"]),
                    pct(dd["cdd_change"]),
                    "",
                    pct(dd["energy_per_area_change"]),
                ]
            ],
            [25, 25, 25, 30, 35],
        )
    )
    for y in dd["years"]:
        if y["missing_reason"]:
            out.append(Paragraph(esc(f"{y['year']}: degree days not shown — {y['missing_reason']}"), cell))
    out.append(Paragraph(esc(f"Base temperatures: {dd['source']}"), cell))
    out.append(Paragraph(esc(f"节能量核证 Verified savings ({section.year})"), head))
    rows = [
        [
            "项目<br/>Project",
            "能源<br/>Energy",
            "报告期<br/>Reporting",
            "节约量<br/>Avoided",
            "±<br/>(90%)",
            "节能率<br/>Share",
            "kgce",
            "元<br/>Yuan",
            "同比<br/>YoY",
        ]
    ]
    refusals: list[str] = []
    for p in section.projects:
        for r in p["savings"]:
            name = f"{p['name']} ({p['contract_ref'] or p['id']})"
            if r["status"] != "ok":
                rows.append(
                    [
                        name,
                        r["energy_type"],
                        f"{r['reporting_from']}..{r['reporting_to']}",
                        "refused",
                        "",
                        "",
                        "",
                        "",
                        "",
                    ]
                )
                refusals.append(
                    f"{p['id']} {r['energy_type']}: " + "; ".join(r["reasons"] or ["insufficient data"])
                )
                continue
            share = r["avoided"] / r["predicted"] if r["predicted"] else None
            rows.append(
                [
                    name,
                    r["energy_type"],
                    f"{r['reporting_from']}..{r['reporting_to']}",
                    f"{num(r['avoided'])} {r['unit']}",
                    num(r["avoided_uncertainty"]),
                    "—" if share is None else f"{share:.1%}",
                    num(r["avoided_kgce"]),
                    num(r["avoided_cost_yuan"]),
                    "—" if r["year_on_year_change"] is None else f"{r['year_on_year_change']:+.1%}",
                ]
            )
    if len(rows) > 1:  # fits A4 portrait between the usual margins (158 mm)
        out.append(table(rows, [35, 17, 22, 22, 13, 12, 13, 13, 11], header_markup=True))
    else:
        out.append(Paragraph(esc("No verified project for this year."), cell))
    for text in refusals:
        out.append(Paragraph(esc(f"Refused, data insufficient — {text}"), cell))
    return out
