"""Formula starts a plain ``text.startswith("=")`` misses: a fullwidth ＝ (Excel with a CJK input method
takes ＝１＋１ as a formula, and so does NFKC), the small and fullwidth plus, minus and at, the unicode
minus sign, and any of them after leading spaces, an ideographic space, a zero-width or a bidi mark
(spreadsheets skip leading blanks before a formula). Each must be neutralised in CSV and typed as text
in XLSX, and come back unchanged through the registry's own export."""

from __future__ import annotations

import csv
import io
from zoneinfo import ZoneInfo

import openpyxl
import pytest

from api.exports.tables import to_csv, to_xlsx
from store import registry_files as rf
from store.spreadsheet import csv_text, csv_text_back

LOOKALIKES = [
    '\uff1dHYPERLINK("http://evil.example/","x")',  # ＝ fullwidth equals
    "\ufe66SUM(1,1)",  # ﹦ small equals
    "\uff0b1+cmd|' /C calc'!A0",  # ＋
    "\uff0d1+1",  # －
    "\u22121+1",  # − unicode minus
    "\uff20SUM(1+1)",  # ＠
    " =1+1",
    "   +1+1",
    "\u3000=1+1",  # ideographic space
    "\u00a0=1+1",  # no-break space
    "\u200b=1+1",  # zero-width space
    "\ufeff=1+1",  # byte-order mark
    "\u202e=1+1",  # right-to-left override
    "\n=1+1",
]
TZ = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize("text", LOOKALIKES)
def test_csv_cell_is_neutralised_and_comes_back(text):
    cell = csv_text(text)
    assert cell.startswith("'"), repr(cell)
    assert csv_text_back(cell) == text


@pytest.mark.parametrize("text", LOOKALIKES)
def test_api_csv_and_xlsx_never_start_a_formula(text):
    columns = [("name", "机构名称"), ("points", "总分")]
    data = to_csv(columns, [{"name": text, "points": -3.5}])
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert rows[1] == ["'" + text, "-3.5"]
    ws = openpyxl.load_workbook(
        io.BytesIO(to_xlsx(columns, [{"name": text, "points": -3.5}], title="t"))
    ).active
    assert ws["A2"].data_type == "s" and ws["A2"].quotePrefix and ws["A2"].value == text
    assert ws["B2"].value == -3.5 and ws["B2"].data_type == "n"


def test_registry_csv_export_neutralises_and_reimports_lookalikes():
    kind = rf.KINDS["institutions"]
    rows = [
        {c.name: None for c in kind.columns} | {"id": f"i{n}", "name": text}
        for n, text in enumerate(LOOKALIKES)
    ]
    data = rf.write_csv(kind, rows, TZ)
    cells = [r[kind.column_names.index("name")] for r in csv.reader(io.StringIO(data.decode(), newline=""))][
        1:
    ]
    assert all(c.startswith("'") for c in cells), cells
    tables, errors = rf.read_csv("institutions.csv", data)
    assert errors == []
    # The registry trims every cell it reads (so a stored name never has outer blanks to lose).
    assert [raw["name"] for _, raw in tables[0].rows] == [t.strip() for t in LOOKALIKES]


@pytest.mark.parametrize("sep", [";", "|", "\t"])
def test_api_csv_text_cannot_split_into_a_formula_cell(sep):
    # Excel splits a CSV on the locale's list separator (";" in much of Europe): quoting every text
    # cell keeps "x;=1+1" one cell whatever the separator.
    name = f"某局{sep}=1+1{sep}@SUM(1+1)"
    data = to_csv([("name", "机构名称"), ("points", "总分")], [{"name": name, "points": 12.5}]).decode(
        "utf-8-sig"
    )
    for line in csv.reader(io.StringIO(data, newline=""), delimiter=sep):
        assert not any(cell.lstrip().startswith(("=", "@")) for cell in line), line
    rows = list(csv.reader(io.StringIO(data, newline="")))
    assert rows[1] == [name, "12.5"]
    assert data.splitlines()[1].endswith(",12.5")  # numbers bare: a spreadsheet reads them as numbers
