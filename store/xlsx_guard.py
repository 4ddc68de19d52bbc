"""A streaming check of every XML part of an uploaded workbook, before openpyxl parses any of it.

openpyxl builds each cell's text, each row and the whole shared-strings table in memory, and a
zip inflates about a thousandfold: a 200 KB upload can hold one 200 MB cell, one row of 16,000 such
cells, or four million shared strings, and openpyxl then needs 300-600 MB to refuse it. This pass
reads each part through expat in small chunks (memory does not grow with the part) and refuses:

- any DTD: no workbook Excel writes has one, and a DTD is how entity expansion ("billion laughs")
  and external entities get in (expat resolves neither, but its refusal is a parse error mid-read);
- a cell (``<c>``) or a shared string (``<si>``) whose text, summed over its rich-text runs, is longer
  than ``max_cell_chars``, and any other text node longer than that;
- a row of more cells than Excel's 16,384 columns or more text than ``max_row_chars``, and more shared
  strings than ``max_shared_strings``;
- a part that is not well-formed XML.

References
----------
OWASP, "XML External Entity Prevention Cheat Sheet".
ECMA-376 Part 1, 18.3.1.4 (c), 18.3.1.73 (row), 18.4.8 (si).
"""

from __future__ import annotations

import zipfile
from xml.parsers import expat

EXCEL_MAX_COLUMNS = 16_384  # XFD
CHUNK_BYTES = 64 * 1024


class WorkbookRefused(Exception):
    """The reason a workbook is not read; ``row`` is the sheet row it was found in (0: none)."""

    def __init__(self, message: str, row: int = 0):
        super().__init__(message)
        self.row = row


def _local(name: str) -> str:
    # expat with namespace processing reports "uri name"; without, "prefix:name".
    return name.rsplit(" ", 1)[-1].rsplit(":", 1)[-1]


def check_part(stream, *, max_cell_chars: int, max_row_chars: int, max_shared_strings: int) -> None:
    """Raise WorkbookRefused when the XML read from ``stream`` (a binary file object) breaks a bound."""
    parser = expat.ParserCreate(namespace_separator=" ")
    state = {
        "chars": 0,
        "in_text_unit": 0,
        "cells": 0,
        "strings": 0,
        "row": 0,
        "row_chars": 0,
        "in_row": False,
    }

    def refuse(msg: str):
        row = state["row"]
        where = f"row {row}" if row else f"XML line {parser.CurrentLineNumber}"
        raise WorkbookRefused(f"{where}: {msg}", row)

    def doctype(*_):
        refuse("declares a DTD; workbooks with entity declarations are refused")

    def start(name, attrs):
        local = _local(name)
        if local in ("c", "si"):
            state["in_text_unit"] += 1
            state["chars"] = 0
            if local == "c":
                state["cells"] += 1
                if state["cells"] > EXCEL_MAX_COLUMNS:
                    refuse(f"a row holds more than {EXCEL_MAX_COLUMNS} cells")
            else:
                state["strings"] += 1
                if state["strings"] > max_shared_strings:
                    refuse(f"more than {max_shared_strings} shared strings")
        elif local == "row":
            state["cells"] = 0
            state["row_chars"] = 0
            state["in_row"] = True
            r = attrs.get("r", "")
            state["row"] = int(r) if r.isdigit() else state["row"] + 1
        elif not state["in_text_unit"]:
            state["chars"] = 0

    def end(name):
        local = _local(name)
        if local in ("c", "si"):
            state["in_text_unit"] -= 1
        elif local == "row":
            state["in_row"] = False
        if not state["in_text_unit"]:
            state["chars"] = 0

    def text(data):
        state["chars"] += len(data)
        if state["in_row"]:
            state["row_chars"] += len(data)
        if state["chars"] > max_cell_chars:
            refuse(f"a cell or text holds more than {max_cell_chars} characters")
        if state["row_chars"] > max_row_chars:
            refuse(f"the row holds more than {max_row_chars} characters")

    parser.StartDoctypeDeclHandler = doctype
    parser.EntityDeclHandler = doctype
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    # Character data arrives in pieces as it is parsed, never buffered whole.
    parser.buffer_text = False
    try:
        while chunk := stream.read(CHUNK_BYTES):
            parser.Parse(chunk, False)
        parser.Parse(b"", True)
    except expat.ExpatError as exc:
        raise WorkbookRefused(f"not well-formed XML: {exc}", state["row"]) from exc


def check_workbook(
    book_zip: zipfile.ZipFile, *, max_cell_chars: int, max_row_chars: int, max_shared_strings: int
) -> None:
    """Check every XML part of the workbook (sheets, shared strings, and any other part openpyxl reads)."""
    for info in book_zip.infolist():
        if not info.filename.lower().endswith((".xml", ".rels", ".vml")):
            continue
        with book_zip.open(info) as stream:
            try:
                check_part(
                    stream,
                    max_cell_chars=max_cell_chars,
                    max_row_chars=max_row_chars,
                    max_shared_strings=max_shared_strings,
                )
            except WorkbookRefused as exc:
                raise WorkbookRefused(f"{info.filename}, {exc}", exc.row) from None
