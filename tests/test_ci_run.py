""".ci/run: both runs happen, both summaries are shown at the end, and any pytest failure (also exit 5,
no tests collected) fails CI with pytest's code. The README's command is replaced by a stub here."""

from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _mqtt_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 1883), timeout=5):
            return True
    except OSError:
        return False


def _exe(path: Path, body: str) -> None:
    path.write_text("#!/usr/bin/env bash\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def _ci(tmp_path: Path, rc_run1: int, rc_run2: int) -> subprocess.CompletedProcess:
    if not _mqtt_up():
        pytest.skip(".ci/run checks for Mosquitto on 127.0.0.1:1883; nothing listens there")
    (tmp_path / ".ci").mkdir()
    shutil.copy(ROOT / ".ci" / "run", tmp_path / ".ci" / "run")
    (tmp_path / "scripts").mkdir()
    # The stub tells the runs apart as .ci/run sets them apart: by whether the test URLs are set.
    _exe(
        tmp_path / "scripts" / "test",
        'if [ -n "${JIENENG_TEST_DATABASE_URL:-}" ]; then n=1 rc='
        + str(rc_run1)
        + "; else n=2 rc="
        + str(rc_run2)
        + '; fi\necho "=========== $n$n$n passed in 0.${n}s ==========="\nexit "$rc"\n',
    )
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("pg_isready", "docker-compose"):
        _exe(bin_dir / tool, "exit 0\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("JIENENG_")}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    return subprocess.run(
        ["bash", str(tmp_path / ".ci" / "run")], env=env, capture_output=True, text=True, timeout=300
    )


def test_ci_runs_both_ways_and_prints_both_summaries_at_the_end(tmp_path):
    r = _ci(tmp_path, 0, 0)
    assert r.returncode == 0, r.stdout + r.stderr
    # Each run's name, then pytest's closing line unchanged: CI's last line is the last run's own.
    tail = r.stdout.rstrip().splitlines()[-4:]
    assert tail[0] == "run-1:" and "111 passed in 0.1s" in tail[1], r.stdout
    assert tail[2] == "run-2:" and "222 passed in 0.2s" in tail[3] and tail[3].startswith("="), r.stdout


@pytest.mark.parametrize(("rc1", "rc2"), [(1, 0), (5, 0), (0, 1), (0, 5)])
def test_ci_fails_with_pytests_code_when_a_run_fails(tmp_path, rc1, rc2):
    r = _ci(tmp_path, rc1, rc2)
    assert r.returncode == (rc1 or rc2), r.stdout + r.stderr
    assert "run-1:" in r.stdout, r.stdout  # the summary of what ran is still printed
    assert ("run-2:" in r.stdout) == (rc1 == 0), r.stdout
