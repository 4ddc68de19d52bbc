"""Share groups: each worker its own client id, and a member's session expires.

On Mosquitto an offline member of a share group keeps its round-robin share queued in its session
(Mosquitto does not re-dispatch it to the members still online), so a member that left for good
must not keep a session forever.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from ingest.transport import DEFAULT_CLIENT_ID, BrokerConfig, BrokerConfigInvalid
from jieneng.embedded import free_port

from .conftest import ROOT_DIR, make_config, running_ingest, wait_for

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def test_share_group_refuses_the_default_client_id():
    with pytest.raises(BrokerConfigInvalid, match="JIENENG_MQTT_CLIENT_ID"):
        BrokerConfig(
            url="mqtt://127.0.0.1:1883", client_id=DEFAULT_CLIENT_ID, topic_prefix="x", share_group="g"
        )
    BrokerConfig(url="mqtt://127.0.0.1:1883", client_id="jieneng-ingest-2", topic_prefix="x", share_group="g")


def test_cli_refuses_a_share_group_without_a_client_id_of_its_own(reg_db, mqtt_url):
    env = {
        **os.environ,
        "JIENENG_DATABASE_URL": reg_db,
        "JIENENG_MQTT_URL": mqtt_url,
        "JIENENG_MQTT_SHARE_GROUP": "workers",
        "JIENENG_METRICS_PORT": str(free_port()),
    }
    env.pop("JIENENG_MQTT_CLIENT_ID", None)
    out = subprocess.run(
        [sys.executable, "-m", "jieneng.cli", "ingest"],
        env=env,
        cwd=ROOT_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2 and "JIENENG_MQTT_CLIENT_ID" in out.stderr


def test_a_departed_members_session_expires_on_mosquitto(reg_db, mqtt_url, topic_prefix, publisher):
    group = f"g{uuid.uuid4().hex[:6]}"
    expiry_s = 2

    def member(name: str):
        cfg = make_config(reg_db, mqtt_url, topic_prefix, share_group=group, client_id=f"{group}-{name}")
        return replace(cfg, broker=replace(cfg.broker, share_session_expiry_s=expiry_s))

    sent = 0

    def send(k: int) -> int:
        nonlocal sent
        for i in range(sent, sent + k):
            publisher.send(
                f"{topic_prefix}/INST1/E1", {"ts": (T0 + timedelta(minutes=i)).isoformat(), "value": i}
            )
        publisher.flush()
        sent += k
        return sent

    with running_ingest(member("b")):
        with running_ingest(member("a")):
            assert wait_for(reg_db, "SELECT count(*) FROM reading", send(20)) == 20
        # "a" left. While its session lives, Mosquitto queues a's share into it; once it expired, "b"
        # gets every message. Rounds until one arrives whole (each round waits a little for its messages).
        deadline = time.monotonic() + 120
        while True:
            total = send(10)
            if (
                wait_for(
                    reg_db,
                    "SELECT count(*) FROM reading WHERE ts >= %s",
                    10,
                    timeout=3,
                    params=(T0 + timedelta(minutes=total - 10),),
                )
                == 10
            ):
                break
            assert time.monotonic() < deadline, "the departed member's session never expired"
        total = send(100)
        assert (
            wait_for(
                reg_db,
                "SELECT count(*) FROM reading WHERE ts >= %s",
                100,
                timeout=60,
                params=(T0 + timedelta(minutes=total - 100),),
            )
            == 100
        )
    with psycopg.connect(reg_db) as conn:
        stuck = total - conn.execute("SELECT count(*) FROM reading").fetchone()[0]
    # What was queued to "a" while its session lived went with the session: the documented cost.
    print(f"messages lost with the departed member's session: {stuck}")
