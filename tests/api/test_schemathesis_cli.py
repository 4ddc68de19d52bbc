"""The dev extra's schemathesis command line runs against the app (`jieneng api` in its own process).

Installing jieneng must leave `urllib3` as it is: a dependency that swaps in `urllib3-future` (as
grafana-client 5 does through niquests) makes this command fail every request."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from pathlib import Path


def test_urllib3_is_urllib3():
    installed = {d.metadata["Name"].lower() for d in metadata.distributions()}
    assert "urllib3-future" not in installed and "niquests" not in installed


def test_schemathesis_cli_runs_against_the_app(live_api, tmp_path):
    exe = Path(sys.executable).with_name("schemathesis")
    proc = subprocess.run(
        [
            str(exe),
            "run",
            f"{live_api.base}/openapi.json",
            "--url",
            live_api.base,
            "-H",
            f"Authorization: Bearer {live_api.tokens['admin']}",
            "--checks",
            "not_a_server_error",
            "--max-examples",
            "3",
            "--phases",
            "examples,fuzzing",
            "--include-method",
            "GET",
            "--include-path-regex",
            "^/v1/(me|health|institutions)$",
            "--generation-deterministic",
            "--workers",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,  # it keeps a .schemathesis/ cache in cwd
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "TrafficPolice" not in out
