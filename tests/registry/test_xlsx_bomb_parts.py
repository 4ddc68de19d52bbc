"""Workbooks whose XML parts are the attack: entity declarations in the shared strings, one enormous
cell, one enormous row, millions of shared strings, a zip entry that lies about its size. Each is a
few hundred KB on disk; each is refused with a message (never an exception out of the reader) in
bounded memory (tracemalloc's peak: counts, not times)."""

from __future__ import annotations

import io
import struct
import tracemalloc
import zipfile

import pytest

from store import registry_files as rf

NS = b'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
CT = (
    b'<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    b'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    b'<Default Extension="xml" ContentType="application/xml"/>'
    b'<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    b'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
    b"</Types>"
)
RELS = (
    b'<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    b'<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
    b"</Relationships>"
)
WB = (
    b'<?xml version="1.0"?><workbook '
    + NS
    + b' xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    b'<sheets><sheet name="institutions" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
WB_RELS = (
    b'<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    b'<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
    b'<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/>'
    b"</Relationships>"
)
EMPTY_SST = b'<?xml version="1.0"?><sst ' + NS + b' count="0" uniqueCount="0"></sst>'
ONE_SHARED_CELL = b'<row r="1"><c r="A1" t="s"><v>0</v></c></row>'
PEAK_LIMIT = 32 * 2**20


def _book(rows: bytes, shared: bytes = EMPTY_SST) -> bytes:
    sheet = b'<?xml version="1.0"?><worksheet ' + NS + b"><sheetData>" + rows + b"</sheetData></worksheet>"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for name, data in [
            ("[Content_Types].xml", CT),
            ("_rels/.rels", RELS),
            ("xl/workbook.xml", WB),
            ("xl/_rels/workbook.xml.rels", WB_RELS),
            ("xl/worksheets/sheet1.xml", sheet),
            ("xl/sharedStrings.xml", shared),
        ]:
            z.writestr(name, data)
    return buf.getvalue()


def _read(data: bytes):
    tracemalloc.start()
    try:
        tables, errors = rf.read_file("bomb.xlsx", data)
        return tables, errors, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _laughs() -> bytes:
    ents = b'<!ENTITY a0 "lol">' + b"".join(
        b'<!ENTITY a%d "%s">' % (i, b"".join(b"&a%d;" % (i - 1) for _ in range(10))) for i in range(1, 10)
    )
    return (
        b'<?xml version="1.0"?><!DOCTYPE sst [' + ents + b"]><sst " + NS + b' count="1" uniqueCount="1">'
        b"<si><t>&a9;</t></si></sst>"
    )


def _external_entity() -> bytes:
    return (
        b'<?xml version="1.0"?><!DOCTYPE sst [<!ENTITY x SYSTEM "file:///etc/passwd">]><sst '
        + NS
        + b' count="1" uniqueCount="1"><si><t>&x;</t></si></sst>'
    )


@pytest.mark.parametrize("shared", [_laughs(), _external_entity()], ids=["billion-laughs", "external-entity"])
def test_entity_declarations_in_shared_strings_are_refused_with_a_message(shared):
    tables, errors, peak = _read(_book(ONE_SHARED_CELL, shared))
    assert tables == [] and len(errors) == 1, errors
    assert "sharedStrings.xml" in errors[0].message and "DTD" in errors[0].message, errors[0].message
    assert peak < PEAK_LIMIT, f"peak {peak / 2**20:.0f} MiB"


def test_one_enormous_inline_cell_is_refused_before_it_is_built():
    # 200 KB on disk, one 64 MiB cell: openpyxl would hold it whole (and more) before the bound saw it.
    data = _book(b'<row r="7"><c r="B7" t="inlineStr"><is><t>' + b"A" * (64 * 2**20) + b"</t></is></c></row>")
    assert len(data) < 1_000_000
    tables, errors, peak = _read(data)
    assert tables == [] and len(errors) == 1 and errors[0].line == 7, errors
    assert "row 7" in errors[0].message
    assert peak < PEAK_LIMIT, f"peak {peak / 2**20:.0f} MiB"


def test_a_cell_split_into_rich_text_runs_counts_as_one():
    runs = b"".join(b"<r><t>" + b"A" * 10_000 + b"</t></r>" for _ in range(4_000))  # 40 M characters
    tables, errors, peak = _read(
        _book(ONE_SHARED_CELL, b'<?xml version="1.0"?><sst ' + NS + b"><si>" + runs + b"</si></sst>")
    )
    assert tables == [] and len(errors) == 1 and "sharedStrings.xml" in errors[0].message, errors
    assert peak < PEAK_LIMIT, f"peak {peak / 2**20:.0f} MiB"


def test_one_enormous_row_of_cells_each_under_the_bound_is_refused():
    cell = b'<c t="inlineStr"><is><t>' + b"B" * 10_000 + b"</t></is></c>"
    tables, errors, peak = _read(_book(b'<row r="1">' + cell * 5_000 + b"</row>"))  # 50 M characters
    assert tables == [] and len(errors) == 1 and "row 1" in errors[0].message, errors
    assert peak < PEAK_LIMIT, f"peak {peak / 2**20:.0f} MiB"


def test_millions_of_tiny_shared_strings_are_refused():
    n = rf.XLSX_MAX_SHARED_STRINGS + 1
    shared = b'<?xml version="1.0"?><sst ' + NS + b">" + b"<si><t>ab</t></si>" * n + b"</sst>"
    assert len(shared) < rf.XLSX_MAX_SHARED_STRINGS_BYTES  # within the byte bound: only the count stops it
    tables, errors, peak = _read(_book(ONE_SHARED_CELL, shared))
    assert tables == [] and len(errors) == 1 and "shared strings" in errors[0].message, errors
    assert peak < PEAK_LIMIT, f"peak {peak / 2**20:.0f} MiB"


def _lie_about_size(data: bytes, member: str, size: int) -> bytes:
    """The zip with ``member``'s uncompressed size set to ``size`` in its local and central headers."""
    out = bytearray(data)
    name = member.encode()
    for sig, size_at, name_len_at, name_at in ((b"PK\x03\x04", 22, 26, 30), (b"PK\x01\x02", 24, 28, 46)):
        at = 0
        while (at := out.find(sig, at)) >= 0:
            (name_len,) = struct.unpack_from("<H", out, at + name_len_at)
            if bytes(out[at + name_at : at + name_at + name_len]) == name:
                struct.pack_into("<I", out, at + size_at, size)
            at += 4
    return bytes(out)


def test_a_zip_entry_larger_than_it_declares_is_refused():
    rows = b"".join(
        b'<row r="%d"><c t="inlineStr"><is><t>x</t></is></c></row>' % i for i in range(1, 150_001)
    )
    data = _lie_about_size(_book(rows), "xl/worksheets/sheet1.xml", 1000)
    tables, errors, peak = _read(data)
    assert tables == [] and len(errors) == 1, errors
    assert peak < PEAK_LIMIT, f"peak {peak / 2**20:.0f} MiB"


def test_a_zip_of_very_many_parts_is_refused_before_zipfile_lists_them():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for i in range(100_000):
            z.writestr(f"x{i}.xml", b"")
    tables, errors, peak = _read(buf.getvalue())
    assert peak < PEAK_LIMIT, f"peak {peak / 2**20:.0f} MiB"
    assert tables == [] and len(errors) == 1 and "parts" in errors[0].message, errors
