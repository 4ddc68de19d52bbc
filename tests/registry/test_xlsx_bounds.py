"""Hostile workbooks: a tiny XLSX that declares or holds a huge sheet is read in bounded memory and
refused with a row-level message (counts, not times: tracemalloc's peak, not a clock)."""

from __future__ import annotations

import io
import re
import tracemalloc
import zipfile

from openpyxl import Workbook

from store import registry_files as rf
from tests.registry.conftest import INST_HEADER

GOOD = ["n1", "新建单位", "government", "", "city", "320100", "hot_summer_cold_winter", 2020, ""]


def _book(rows: list[list], *, dimension: str | None = None, extra_xml: str = "") -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.title = "institutions"
    for r in rows:
        sheet.append(r)
    buf = io.BytesIO()
    book.save(buf)
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                text = data.decode()
                if dimension:
                    text = re.sub(r'<dimension ref="[^"]*" ?/>', f'<dimension ref="{dimension}"/>', text)
                if extra_xml:
                    text = text.replace("</sheetData>", extra_xml + "</sheetData>")
                data = text.encode()
            dst.writestr(info.filename, data)
    return out.getvalue()


def _peak_bytes(fn) -> tuple[object, int]:
    tracemalloc.start()
    try:
        result = fn()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_declared_width_does_not_pad_rows():
    # ~5 KB on disk; openpyxl would pad each of the 1,000 rows to 16,384 cells.
    rows = [INST_HEADER.split(",")] + [
        [f"n{i}", "某局", "government", "", "city", "320100", "hot_summer_cold_winter", 2020, ""]
        for i in range(1000)
    ]
    data = _book(rows, dimension="A1:XFD1001")
    (tables, errors), peak = _peak_bytes(lambda: rf.read_file("bomb.xlsx", data))
    assert errors == [] and len(tables[0].rows) == 1000
    assert peak < 32 * 2**20, f"peak {peak / 2**20:.0f} MiB"


def test_rows_past_the_bound_are_refused_with_the_row():
    far = rf.XLSX_MAX_ROWS + 5
    data = _book(
        [INST_HEADER.split(","), GOOD],
        dimension="A1:XFD1048576",
        extra_xml=f'<row r="{far}"><c r="A{far}" t="inlineStr"><is><t>x</t></is></c></row>',
    )
    (tables, errors), peak = _peak_bytes(lambda: rf.read_file("bomb.xlsx", data))
    assert tables == []
    assert [(e.file, e.line, e.column) for e in errors] == [("bomb.xlsx[institutions]", far, "-")]
    assert f"more than {rf.XLSX_MAX_ROWS} rows" in errors[0].message
    assert peak < 32 * 2**20, f"peak {peak / 2**20:.0f} MiB"


def test_cells_past_the_column_bound_are_refused_with_the_row():
    data = _book(
        [INST_HEADER.split(","), GOOD],
        extra_xml='<row r="3"><c r="XFD3" t="inlineStr"><is><t>far</t></is></c></row>',
    )
    tables, errors = rf.read_file("wide.xlsx", data)
    assert [(e.file, e.line, e.column) for e in errors] == [("wide.xlsx[institutions]", 3, "-")]
    assert "XFD3" in errors[0].message and f"{rf.XLSX_MAX_COLUMNS} columns" in errors[0].message


def test_oversized_cell_is_refused_with_the_row():
    data = _book([INST_HEADER.split(","), GOOD, ["n2", "x" * (rf.XLSX_MAX_CELL_CHARS + 1)]])
    tables, errors = rf.read_file("big.xlsx", data)
    assert [(e.file, e.line, e.column) for e in errors] == [("big.xlsx[institutions]", 3, "-")]
    assert "B3" in errors[0].message and str(rf.XLSX_MAX_CELL_CHARS) in errors[0].message


def test_zip_bomb_is_refused_before_parsing():
    # One sheet part that inflates to far more than a registry needs (a few hundred KB compressed).
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/worksheets/sheet1.xml", b" " * (rf.XLSX_MAX_UNCOMPRESSED_BYTES + 1))
    (tables, errors), peak = _peak_bytes(lambda: rf.read_file("zip.xlsx", out.getvalue()))
    assert tables == [] and [(e.file, e.line, e.column) for e in errors] == [("zip.xlsx", 1, "-")]
    assert "uncompressed" in errors[0].message
    assert peak < 32 * 2**20
