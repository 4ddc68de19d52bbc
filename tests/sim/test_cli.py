"""`jieneng simulate` as a subprocess: backfill to the broker, fault log, clear errors on bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.sim.test_publish import Subscriber

ROOT = Path(__file__).resolve().parents[2]


def simulate(args: list[str], **env: str) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("JIENENG_")}
    full_env.update(env)
    return subprocess.run(
        [sys.executable, "-m", "jieneng.cli", "simulate", *args],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_backfill_from_the_command_line(sim_db_url, mqtt_url, topic_prefix, tmp_path):
    sub = Subscriber(mqtt_url, f"{topic_prefix}/#")
    log = tmp_path / "faults.jsonl"
    try:
        p = simulate(
            [
                "--from",
                "2025-02-01",
                "--to",
                "2025-02-03",
                "--seed",
                "2",
                "--interval",
                "60",
                "--faults-log",
                str(log),
                "--malformed-rate",
                "0.5",
            ],
            JIENENG_DATABASE_URL=sim_db_url,
            JIENENG_MQTT_URL=mqtt_url,
            JIENENG_MQTT_TOPIC_PREFIX=topic_prefix,
        )
        assert p.returncode == 0, p.stderr
        assert "4 institution(s), 24 meter(s)" in p.stderr
        got = sub.wait_for(1, timeout=10)
    finally:
        sub.close()
    items = sum(
        len(b) if isinstance(b, list) else 1
        for b in (json.loads(m.payload) for m in got if m.payload.startswith(b"["))
    )
    assert items >= 4 * 5 * 48 - 100  # 4 institutions, 5 hourly meters (+ fill-ups), 2 days, minus gaps
    events = [json.loads(line) for line in log.read_text().splitlines()]
    assert any(e["kind"] == "malformed" for e in events)


def test_bad_input_gets_a_clear_error(sim_db_url, mqtt_url):
    p = simulate(["--from", "2025-02-01"], JIENENG_DATABASE_URL=sim_db_url)
    assert p.returncode == 2 and "JIENENG_MQTT_URL" in p.stderr
    p = simulate(["--from", "last tuesday"], JIENENG_DATABASE_URL=sim_db_url, JIENENG_MQTT_URL=mqtt_url)
    assert p.returncode == 2 and "ISO 8601" in p.stderr
    p = simulate(
        ["--from", "2025-02-01", "--interval", "7"],
        JIENENG_DATABASE_URL=sim_db_url,
        JIENENG_MQTT_URL=mqtt_url,
    )
    assert p.returncode == 2 and "multiple of 900" in p.stderr
    p = simulate(
        ["--from", "2023-02-01", "--to", "2023-02-02"],
        JIENENG_DATABASE_URL=sim_db_url,
        JIENENG_MQTT_URL=mqtt_url,
    )
    assert p.returncode == 2 and "2024-01-01" in p.stderr
    p = simulate(
        ["--from", "2025-02-01", "--gap-rate", "2"],
        JIENENG_DATABASE_URL=sim_db_url,
        JIENENG_MQTT_URL=mqtt_url,
    )
    assert p.returncode == 2 and "probability" in p.stderr


def test_empty_registry_is_explained(db_url, mqtt_url):
    p = simulate(["--from", "2025-02-01"], JIENENG_DATABASE_URL=db_url, JIENENG_MQTT_URL=mqtt_url)
    assert p.returncode == 2 and "registry import" in p.stderr
