"""Request bodies: the key is checked before a byte of the body is read, and every body has a bound,
applied while it streams in (a real uvicorn process: the in-process client sends bodies whole)."""

from __future__ import annotations

import socket

import psutil
import pytest

DEADLINE_S = 60


def _send_head(live, method: str, path: str, headers: dict[str, str]) -> socket.socket:
    s = socket.create_connection((live.host, live.port), timeout=DEADLINE_S)
    head = f"{method} {path} HTTP/1.1\r\nHost: {live.host}\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in headers.items()
    )
    s.sendall((head + "\r\n").encode())
    return s


def _status(s: socket.socket) -> tuple[int, bytes]:
    """The response's status and head, read within the deadline (the socket's timeout)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    return int(data.split(b" ", 2)[1]), data


@pytest.mark.parametrize(
    "path,auth",
    [
        ("/v1/runs", None),
        ("/v1/registry/import", None),
        ("/v1/institutions/NJ-GOV-001/assessed-items/2026/M1", "bogus"),
    ],
)
def test_refused_before_the_body_is_read(live_api, path, auth):
    """A declared 1 GB body that never comes: without a valid key the answer is 401 at once."""
    headers = {"Content-Type": "application/json", "Content-Length": str(10**9)}
    if auth:
        headers["Authorization"] = f"Bearer {auth}"
    method = "PUT" if "assessed" in path else "POST"
    with _send_head(live_api, method, path, headers) as s:
        status, _ = _status(s)
    assert status == 401


@pytest.mark.parametrize("path,who", [("/v1/runs", "assessor"), ("/v1/registry/import", "admin")])
def test_declared_oversized_body_is_413_at_once(live_api, path, who):
    headers = {
        "Content-Type": "application/json",
        "Content-Length": str(10**9),
        "Authorization": f"Bearer {live_api.tokens[who]}",
    }
    with _send_head(live_api, "POST", path, headers) as s:
        status, _ = _status(s)
    assert status == 413


MULTIPART = "multipart/form-data; boundary=xyz"
# A well-formed start of a file part: the parser accepts it and keeps reading the file's bytes.
PART_HEAD = (
    b'--xyz\r\nContent-Disposition: form-data; name="files"; filename="big.csv"\r\n'
    b"Content-Type: text/csv\r\n\r\n"
)


def _stream(live, path: str, total_bytes: int, token: str | None, content_type: str) -> int:
    """Send ``total_bytes`` of body in chunked encoding (no declared length) until the server answers."""
    headers = {"Content-Type": content_type, "Transfer-Encoding": "chunked"}
    first = PART_HEAD if content_type == MULTIPART else b""
    if token:
        headers["Authorization"] = f"Bearer {token}"
    chunk = b"x" * 65536
    sent = 0
    with _send_head(live, "POST", path, headers) as s:
        s.settimeout(DEADLINE_S)
        try:
            if first:
                s.sendall(b"%x\r\n%s\r\n" % (len(first), first))
            while sent < total_bytes:
                s.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
            s.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed: what we want
        status, _ = _status(s)
    return status


def test_streamed_bodies_are_cut_off_at_their_limit(live_api):
    assert _stream(live_api, "/v1/runs", 8 * 2**20, live_api.tokens["assessor"], "application/json") == 413
    assert _stream(live_api, "/v1/registry/import", 80 * 2**20, live_api.tokens["admin"], MULTIPART) == 413


def test_memory_stays_bounded_under_oversized_bodies(live_api):
    """Counts, not times: the API's resident memory after three rounds of 100 MB bodies (without a key,
    with a key over the JSON limit, and a registry upload over its limit) grows by far less than one body."""
    proc = psutil.Process(live_api.pid)
    before = proc.memory_info().rss
    for _ in range(3):
        assert _stream(live_api, "/v1/runs", 100 * 2**20, None, "application/json") == 401
        assert (
            _stream(live_api, "/v1/runs", 100 * 2**20, live_api.tokens["assessor"], "application/json") == 413
        )
        assert (
            _stream(live_api, "/v1/registry/import", 100 * 2**20, live_api.tokens["admin"], MULTIPART) == 413
        )
    grown = proc.memory_info().rss - before
    assert grown < 60 * 2**20, f"API memory grew by {grown / 2**20:.0f} MiB"


def _bombs() -> list[tuple[str, bytes]]:
    import io
    import zipfile

    from store import registry_files as rf
    from tests.registry.conftest import INST_HEADER
    from tests.registry.test_xlsx_bounds import _book

    rows = [INST_HEADER.split(",")] + [
        [f"b{i}", "某局", "government", "", "city", "320100", "hot_summer_cold_winter", 2020, ""]
        for i in range(4000)
    ]
    wide = _book(rows, dimension="A1:XFD4000")
    far = rf.XLSX_MAX_ROWS + 1
    tall = _book(
        rows[:2],
        dimension="A1:XFD1048576",
        extra_xml=f'<row r="{far}"><c r="A{far}" t="inlineStr"><is><t>x</t></is></c></row>',
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/worksheets/sheet1.xml", b" " * (rf.XLSX_MAX_UNCOMPRESSED_BYTES + 1))
    return [("wide.xlsx", wide), ("tall.xlsx", tall), ("zip.xlsx", out.getvalue())]


def test_memory_stays_bounded_under_bomb_uploads(live_api):
    """Small workbooks that declare or inflate to huge sheets, uploaded with and without a key: refused,
    and the API's resident memory grows by far less than what openpyxl would have built from them."""
    import httpx

    proc = psutil.Process(live_api.pid)
    bombs = _bombs()
    before = proc.memory_info().rss
    with httpx.Client(base_url=live_api.base, timeout=DEADLINE_S * 2) as client:
        for _ in range(2):
            for name, data in bombs:
                files = [("files", (name, data, "application/octet-stream"))]
                r = client.post("/v1/registry/import", files=files)
                assert r.status_code == 401
                r = client.post(
                    "/v1/registry/import",
                    files=files,
                    headers={"Authorization": f"Bearer {live_api.tokens['admin']}"},
                )
                assert r.status_code in (200, 422), (name, r.status_code, r.text[:300])
    grown = proc.memory_info().rss - before
    assert grown < 100 * 2**20, f"API memory grew by {grown / 2**20:.0f} MiB"


def test_database_down_while_authenticating_a_body_is_503(api_rw):
    """The body guard runs outside the app's error handlers: a database it cannot reach is a 503 there too."""

    pools = api_rw.client.app.state.pools
    pools.write.close()
    r = api_rw.request("POST", "assessor", "/v1/runs", json={"year": 2026})
    assert r.status_code == 503 and r.headers["retry-after"]
