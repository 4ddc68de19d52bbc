"""A body that trickles in (slowloris) is cut off with 408, for a key that may send one: without a
bound on time, every key holder could hold the server's connections one byte at a time. Waits on the
server's answer with a generous deadline; nothing asserts how long the cut took."""

from __future__ import annotations

import socket
import time

import pytest

from tests.api.conftest import _live


@pytest.fixture
def quick_cut_api(pg_admin_url, seeded):
    yield from _live(
        pg_admin_url,
        seeded,
        {
            "JIENENG_API_JOB_WORKER": "false",
            "JIENENG_API_BODY_TIMEOUT_S": "1",
            "JIENENG_API_BODY_MIN_BYTES_PER_S": "1000",
        },
    )


def _drip(api, path: str, token: str, *, declared: int | None) -> bytes:
    """Send headers, then one body byte every 0.2 s until the server answers (or 120 s pass)."""
    head = f"POST {path} HTTP/1.1\r\nHost: {api.host}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\n"
    head += f"Content-Length: {declared}\r\n" if declared is not None else "Transfer-Encoding: chunked\r\n"
    with socket.create_connection((api.host, api.port), timeout=5) as s:
        s.sendall((head + "\r\n").encode())
        s.settimeout(0.2)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                s.sendall(b" " if declared is not None else b"1\r\n \r\n")
            except OSError:
                pass  # the server closed its side; its answer may be waiting
            try:
                answer = s.recv(4096)
            except TimeoutError:
                continue
            # The server closes after its answer; under load the body can come in a later segment.
            while answer:
                try:
                    more = s.recv(4096)
                except (TimeoutError, OSError):
                    break
                if not more:
                    break
                answer += more
            return answer
    return b""


@pytest.mark.parametrize("declared", [10_000, None], ids=["content-length", "chunked"])
def test_a_trickling_body_gets_408(quick_cut_api, declared):
    answer = _drip(quick_cut_api, "/v1/runs", quick_cut_api.tokens["admin"], declared=declared)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"too slow" in answer


def test_a_body_that_keeps_pace_is_read(quick_cut_api):
    import httpx

    r = httpx.post(
        f"{quick_cut_api.base}/v1/runs",
        json={"year": 2026},
        headers={"Authorization": f"Bearer {quick_cut_api.tokens['admin']}"},
        timeout=60,
    )
    assert r.status_code == 202, r.text
