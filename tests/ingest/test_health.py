"""/health on ingest's metrics server: 503 while messages wait with no commit, 200 again once it commits."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from jieneng.embedded import free_port

from .conftest import make_config, running_ingest, wait_for
from .test_transport_bounds import StalledDatabase

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def poll_status(url: str, status: int, timeout: float = 90.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        code, body = get(url)
        if code == status:
            return body
        assert time.monotonic() < deadline, f"{url} stayed {code}: {body}"
        time.sleep(0.1)


def test_health_shows_a_stall(reg_db, mqtt_url, topic_prefix, publisher):
    port = free_port()
    cfg = replace(make_config(reg_db, mqtt_url, topic_prefix, metrics_port=port), stall_after_s=1.0)
    health = f"http://127.0.0.1:{port}/health"
    with running_ingest(cfg):
        assert json.loads(poll_status(health, 200))["status"] == "ok"  # idle is healthy
        with StalledDatabase(reg_db):
            for i in range(5):
                publisher.send(
                    f"{topic_prefix}/INST1/E1", {"ts": (T0 + timedelta(minutes=i)).isoformat(), "value": i}
                )
            publisher.flush()
            body = json.loads(poll_status(health, 503))
            assert body["status"] == "stalled" and body["undelivered_messages"] == 5
            assert body["oldest_unacked_age_s"] > 1.0 and body["last_commit_age_s"] > 1.0
            code, text = get(f"http://127.0.0.1:{port}/metrics")
            assert code == 200
            values = {
                line.split()[0]: float(line.split()[1])
                for line in text.splitlines()
                if line.startswith("jieneng_ingest_") and " " in line and "{" not in line
            }
            assert values["jieneng_ingest_undelivered_messages"] == 5
            assert values["jieneng_ingest_oldest_unacked_age_seconds"] > 1.0
            assert values["jieneng_ingest_last_commit_age_seconds"] > 1.0
        assert wait_for(reg_db, "SELECT count(*) FROM reading", 5) == 5
        assert json.loads(poll_status(health, 200))["undelivered_messages"] == 0
        assert get(f"http://127.0.0.1:{port}/nope")[0] == 404
