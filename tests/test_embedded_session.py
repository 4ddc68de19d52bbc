"""The session's embedded PostgreSQL (test URLs unset) stops when the session ends, also when its tests
fail and when the session is ended by SIGTERM (a CI job's timeout), and its folder goes with it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parent.parent

INNER = """
import os, time
import psycopg

def test_inner(pg_admin_url):
    with psycopg.connect(pg_admin_url) as conn:
        print("PGDATA=" + conn.execute("SHOW data_directory").fetchone()[0], flush=True)
    release = os.environ["INNER_RELEASE"]
    while not os.path.exists(release):  # the outer test releases it, or ends it by SIGTERM
        time.sleep(0.1)
    assert False, "this session fails"
"""


def _postmasters(data_dir: str) -> list[psutil.Process]:
    out = []
    for p in psutil.process_iter(["cmdline"]):
        cmd = p.info["cmdline"] or []
        if cmd and "postgres" in cmd[0] and data_dir in " ".join(cmd):
            out.append(p)
    return out


def _until(cond, what: str, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


@pytest.mark.parametrize("mode", ["fail", "sigterm"])
def test_embedded_postgresql_stops_with_the_session(tmp_path, mode):
    (tmp_path / "test_inner.py").write_text(INNER)
    env = {k: v for k, v in os.environ.items() if not k.startswith("JIENENG_TEST_")}
    env["INNER_RELEASE"] = str(tmp_path / "release")
    log = tmp_path / "inner.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pytest",
                "-p",
                "tests.conftest",
                "-p",
                "no:cacheprovider",
                "-p",
                "no:randomly",
                "-s",
                "-q",
                "--rootdir",
                str(tmp_path),
                str(tmp_path / "test_inner.py"),
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _until(
            lambda: "PGDATA=" in log.read_text(errors="replace") or proc.poll() is not None,
            "the inner session",
        )
        text = log.read_text(errors="replace")
        assert "PGDATA=" in text, text[-4000:]
        data_dir = text.split("PGDATA=", 1)[1].split()[0]
        assert _postmasters(data_dir), "the embedded PostgreSQL is not running: this test tests nothing"
        if mode == "sigterm":
            proc.send_signal(signal.SIGTERM)
        else:
            (tmp_path / "release").touch()
        rc = proc.wait(180)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(60)
    try:
        assert rc != 0, log.read_text(errors="replace")[-4000:]
        _until(lambda: not _postmasters(data_dir), "the embedded PostgreSQL to stop")
        session_dir = Path(data_dir).parent  # the session's own folder; the server's data is its pg/
        _until(lambda: not session_dir.exists(), "the session's PostgreSQL folder to go", timeout_s=10)
    finally:
        for p in _postmasters(data_dir):  # a failed run: do not leave the server behind on a shared machine
            p.send_signal(signal.SIGINT)
