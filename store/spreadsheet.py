"""Spreadsheet cells that can never turn into formulas (OWASP "CSV Injection").

Excel, LibreOffice and Google Sheets evaluate a cell whose text starts with ``=``, ``+``, ``-`` or
``@`` (and some treat a leading tab or carriage return the same way), so a registry name such as
``=HYPERLINK(...)`` would come back to an assessor as a live formula. Every CSV and XLSX writer in
the project goes through here:

- CSV: such text gets a leading apostrophe, which spreadsheets take as "this is text" and hide; a
  text that already starts with an apostrophe gets one more, so ``csv_text_back`` undoes exactly
  what ``csv_text`` did and a registry export imports back unchanged.
- XLSX: the cell is typed as a string with Excel's quote-prefix flag (what typing ``'`` does), so
  the value itself stays as it was and editing the cell keeps it text.

A formula start is judged after what spreadsheets skip or fold: leading blanks (spaces, no-break and
ideographic spaces, line breaks, zero-width and bidi marks, a byte-order mark; Excel and LibreOffice
evaluate `` =1+1``), and Unicode compatibility forms (NFKC: Excel with a CJK input method takes
fullwidth ``＝１＋１`` as ``=1+1``), plus the minus sign U+2212, which NFKC leaves alone.

Only text is touched: numbers are written as numbers (a negative number is not a formula).

References
----------
OWASP, "CSV Injection", https://owasp.org/www-community/attacks/CSV_Injection
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "\u2212")
# Characters a spreadsheet may skip before it looks for a formula: whitespace (str.isspace) and
# the invisible format characters (Unicode category Cf: zero-width, bidi marks, byte-order mark).
_LEAD_CHECK_CHARS = 16
# Characters the XLSX format cannot hold (openpyxl refuses them; writing one would fail the export).
_XLSX_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def starts_formula(text: str) -> bool:
    if text.startswith(FORMULA_START):
        return True
    i = 0
    while i < len(text) and (text[i].isspace() or unicodedata.category(text[i]) == "Cf"):
        i += 1
    # NFKC of a short head is enough: a formula start is a single character once folded.
    head = unicodedata.normalize("NFKC", text[i : i + _LEAD_CHECK_CHARS])
    return head.startswith(FORMULA_START)


def csv_text(text: str) -> str:
    """The text a CSV cell holds for ``text``: prefixed with ``'`` when a spreadsheet would evaluate it."""
    if starts_formula(text) or text.startswith("'"):
        return "'" + text
    return text


def csv_text_back(text: str) -> str:
    """The inverse of ``csv_text`` for text read from a CSV or XLSX cell: drops the one apostrophe that
    protects a formula-like or apostrophe-led text; any other text is returned as is."""
    if len(text) > 1 and text[0] == "'" and (text[1] == "'" or starts_formula(text[1:])):
        return text[1:]
    return text


def xlsx_append(ws: Any, values: list[Any]) -> None:
    """Append a row to the openpyxl worksheet ``ws``: text that looks like a formula is stored as a string
    with the quote prefix (openpyxl would store it as a formula); characters XLSX cannot hold are dropped."""
    ws.append([_XLSX_ILLEGAL.sub("", v) if isinstance(v, str) else v for v in values])
    for cell in ws[ws.max_row]:
        if isinstance(cell.value, str) and (cell.data_type == "f" or starts_formula(cell.value)):
            cell.data_type = "s"
            cell.quotePrefix = True
