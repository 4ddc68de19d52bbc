"""`jieneng api` serves the app with uvicorn on the configured address."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_jieneng_api_serves(api_rw):
    port = _free_port()
    env = {
        **os.environ,
        "JIENENG_DATABASE_URL": api_rw.url,
        "JIENENG_API_PORT": str(port),
        "JIENENG_API_HOST": "127.0.0.1",
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", "from jieneng.cli import main; main()", "api"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        health = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                health = httpx.get(f"{base}/v1/health", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        assert health is not None and health.status_code == 200, (
            proc.stdout.read1(4096) if proc.poll() else ""
        )
        me = httpx.get(f"{base}/v1/me", headers={"Authorization": f"Bearer {api_rw.tokens['inst_sz']}"})
        assert me.json()["institution_id"] == "SZ-HOS-001"
        assert httpx.get(f"{base}/openapi.json").json()["info"]["title"] == "jieneng assessor API"
        assert httpx.get(f"{base}/metrics").status_code == 401
        metrics = httpx.get(f"{base}/metrics", headers={"Authorization": f"Bearer {api_rw.tokens['admin']}"})
        assert "jieneng_api_requests_total" in metrics.text
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
