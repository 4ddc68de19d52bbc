"""PDF reports with reportlab. Chinese renders with the built-in CID font STSong-Light (Adobe's
Asian font pack names it; PDF readers supply the glyphs), so no font file ships with us.

Any text may arrive here (names, addresses, veto reasons): every paragraph wraps anywhere (CJK word
wrap: a run of letters without spaces still breaks), and a table cell, which reportlab cannot split
across pages, is cut to what fits in a bounded height of its column (a LayoutError otherwise fails
the whole document)."""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from typing import Any

from reportlab.graphics.charts.barcharts import VerticalBarChart
from reportlab.graphics.charts.legends import Legend
from reportlab.graphics.shapes import Drawing, String
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

FONT = "STSong-Light"
pdfmetrics.registerFont(UnicodeCIDFont(FONT))

TITLE = ParagraphStyle("title", fontName=FONT, fontSize=16, leading=22, spaceAfter=6, wordWrap="CJK")
HEAD = ParagraphStyle(
    "head", fontName=FONT, fontSize=12, leading=16, spaceBefore=8, spaceAfter=4, wordWrap="CJK"
)
BODY = ParagraphStyle("body", fontName=FONT, fontSize=9, leading=13, wordWrap="CJK")
CELL = ParagraphStyle("cell", fontName=FONT, fontSize=8, leading=10, wordWrap="CJK")
CELL_PADDING_PT = 12  # reportlab's default left + right cell padding
CELL_MAX_LINES = 20  # 200 pt: a row stays well under a page, whatever its text
PARAGRAPH_MAX_CHARS = 2000
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
CURRENT_COLOUR = colors.HexColor("#2b6cb0")
PREVIOUS_COLOUR = colors.HexColor("#a0aec0")


def _cut(text: str, most: int) -> str:
    return text if len(text) <= most else text[: max(1, most - 1)] + "…"


def _esc(text: Any, most: int = PARAGRAPH_MAX_CHARS) -> str:
    """Paragraph markup for any text: control characters dropped, at most ``most`` characters, escaped."""
    s = _cut(_CONTROL.sub("", "" if text is None else str(text)), most)
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cell_chars(width_pt: float) -> int:
    """Most characters a cell of ``width_pt`` shows in CELL_MAX_LINES lines (a CJK glyph is one em wide,
    wider than any Latin letter, so this holds for any script)."""
    per_line = max(1, int((width_pt - CELL_PADDING_PT) / CELL.fontSize))
    return per_line * CELL_MAX_LINES


def fmt_num(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def _widths(total_pt: float, weights: Sequence[float]) -> list[float]:
    scale = total_pt / sum(weights)
    return [w * scale for w in weights]


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]], widths: Sequence[float]) -> Table:
    """A table with fixed column widths (points); each cell's text cut to what its width holds."""
    most = [_cell_chars(w) for w in widths]
    data = [[Paragraph(_esc(h, m), CELL) for h, m in zip(header, most, strict=True)]]
    data += [[Paragraph(_esc(c, m), CELL) for c, m in zip(row, most, strict=True)] for row in rows]
    t = Table(data, colWidths=list(widths), repeatRows=1)
    t.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 0), (-1, -1), FONT),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#edf2f7")),
                ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    return t


def monthly_chart(
    current: Sequence[float | None], previous: Sequence[float | None], *, year: int, width: float = 170 * mm
) -> Drawing:
    """Bars of monthly energy (kgce) for the year against the previous year."""
    height = 75 * mm
    d = Drawing(width, height)
    chart = VerticalBarChart()
    chart.x, chart.y = 40, 30
    chart.width, chart.height = width - 60, height - 60
    chart.data = [[v or 0 for v in current], [v or 0 for v in previous]]
    chart.bars[0].fillColor = CURRENT_COLOUR
    chart.bars[1].fillColor = PREVIOUS_COLOUR
    chart.categoryAxis.categoryNames = [f"{m}月" for m in range(1, 13)]
    chart.categoryAxis.labels.fontName = FONT
    chart.categoryAxis.labels.fontSize = 7
    chart.valueAxis.labels.fontSize = 7
    chart.valueAxis.valueMin = 0
    d.add(chart)
    legend = Legend()
    legend.x, legend.y = 45, height - 8
    legend.fontName = FONT
    legend.fontSize = 8
    legend.columnMaximum = 1
    legend.alignment = "right"
    legend.colorNamePairs = [(CURRENT_COLOUR, f"{year}年"), (PREVIOUS_COLOUR, f"{year - 1}年")]
    d.add(legend)
    d.add(String(width - 10, height - 10, "kgce", fontName=FONT, fontSize=7, textAnchor="end"))
    return d


REPORT_FRAME_PT = A4[0] - 36 * mm  # page width less the 18 mm margins


def report_pdf(report: Any, extra: Sequence[Any] = ()) -> bytes:
    """An institution's report: identity, points, vetoes, indicators, blocks, ranks and the monthly chart;
    ``extra``: flowables appended after the data quality table (degree days, verified savings)."""
    r = report.result
    frame = REPORT_FRAME_PT
    inst = report.institution
    story: list[Any] = [
        Paragraph(_esc(f"{inst.name} {r.year}年度公共机构能耗评价报告"), TITLE),
        Paragraph(
            _esc(
                f"机构编号 {inst.id} · 地区 {inst.region_name}({inst.region_code}) · 类别 {inst.category}"
                f" · 评价批次 {report.run.id} · 方法 {report.run.methodology_name} {report.run.methodology_version}"
            ),
            BODY,
        ),
        Spacer(1, 4 * mm),
        _table(
            [
                "总分",
                "基础分",
                "加分",
                "达标线",
                "是否达标",
                "能效领跑者",
                "同类排名",
                "市内排名",
                "全省排名",
            ],
            [
                [
                    fmt_num(r.total_points),
                    fmt_num(r.base_points),
                    fmt_num(r.bonus_points),
                    fmt_num(r.threshold),
                    "是" if r.eligible else "否",
                    "是" if r.leader else "否",
                    f"{r.ranks.peer or '—'}/{r.ranks.peer_size}",
                    f"{r.ranks.city or '—'}/{r.ranks.city_size}",
                    f"{r.ranks.province or '—'}/{r.ranks.province_size}",
                ]
            ],
            _widths(frame, [1] * 9),
        ),
    ]
    if r.vetoes or r.ineligible_reasons:
        story.append(Paragraph("否决项与未达标原因", HEAD))
        for v in r.vetoes:
            story.append(Paragraph(_esc(f"· {v.code}: {v.reason}"), BODY))
        for reason in r.ineligible_reasons:
            story.append(Paragraph(_esc(f"· {reason}"), BODY))
    story.append(Paragraph("指标", HEAD))
    story.append(
        _table(
            ["指标", "数值", "单位", "计算"],
            [[i.label, fmt_num(i.value, 3), i.unit, i.formula] for i in r.indicators],
            widths=[40 * mm, 25 * mm, 25 * mm, 80 * mm],
        )
    )
    story.append(Paragraph("得分明细", HEAD))
    story.append(
        _table(
            ["项目", "得分", "满分", "方法", "依据"],
            [[b.label, fmt_num(b.points), fmt_num(b.max_points), b.method, b.reason] for b in r.blocks],
            widths=[35 * mm, 15 * mm, 15 * mm, 20 * mm, 85 * mm],
        )
    )
    if report.previous_year is not None:
        p = report.previous_year
        story.append(
            Paragraph(
                _esc(
                    f"上一年度({p.year},批次 {p.run_id}):总分 {fmt_num(p.total_points)},全省排名 {p.rank_province or '—'}"
                ),
                BODY,
            )
        )
    story.append(Paragraph(_esc(f"逐月综合能耗(kgce):{r.year}年与{r.year - 1}年"), HEAD))
    current = [m.energy_kgce for m in report.monthly_energy]
    previous = [m.previous_kgce for m in report.monthly_energy]
    story.append(monthly_chart(current, previous, year=r.year))
    story.append(
        _table(
            ["月份"] + [f"{m}月" for m in range(1, 13)],
            [
                [f"{r.year}"] + [fmt_num(v, 0) for v in current],
                [f"{r.year - 1}"] + [fmt_num(v, 0) for v in previous],
            ],
            _widths(frame, [1.4] + [1] * 12),
        )
    )
    story.append(Paragraph(_esc(report.monthly_energy_note), BODY))
    story.append(Paragraph("数据质量", HEAD))
    story.append(
        _table(
            ["表计", "能源", "计入", "覆盖率", "最长缺测(h)", "复位", "隔离", "冲突", "拒收"],
            [
                [
                    m.meter_id,
                    m.energy_type,
                    "是" if m.counted else "否",
                    "—" if m.coverage is None else f"{m.coverage:.1%}",
                    fmt_num(m.longest_gap_hours, 1),
                    m.resets,
                    m.quarantined,
                    m.conflicts,
                    m.rejects,
                ]
                for m in r.inputs.meters
            ],
            _widths(frame, [24, 12, 8, 10, 12, 8, 8, 8, 8]),
        )
    )
    story.extend(extra)
    buf = io.BytesIO()
    doc = SimpleDocTemplate(
        buf, pagesize=A4, title=_cut(f"{inst.name} {r.year}", 200), leftMargin=18 * mm, rightMargin=18 * mm
    )
    doc.build(story)
    return buf.getvalue()


def table_pdf(
    title: str,
    subtitle: str,
    header: Sequence[str],
    rows: Sequence[Sequence[Any]],
    weights: Sequence[float] | None = None,
) -> bytes:
    """A titled table on landscape pages (rankings). ``weights``: relative column widths over the page's
    frame; without them the columns share it equally."""
    doc = SimpleDocTemplate(io.BytesIO(), pagesize=landscape(A4), title=_cut(title, 200))
    widths = _widths(doc.width, weights or [1] * len(header))
    story = [
        Paragraph(_esc(title), TITLE),
        Paragraph(_esc(subtitle), BODY),
        Spacer(1, 3 * mm),
        _table(header, rows, widths),
    ]
    doc.build(story)
    return doc.filename.getvalue()
