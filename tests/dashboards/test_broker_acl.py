"""`jieneng broker acl` files loaded by the real mosquitto binary on a free port.

A gateway publishes under its own institution and is refused under another's: with MQTT 5 the
broker answers a QoS 1 PUBLISH with PUBACK reason code 135 (Not authorized); with MQTT 3.1.1 the
message is dropped silently, which a subscriber on the ingest account confirms.
"""

from __future__ import annotations

import base64
import hashlib
import shutil
import socket
import subprocess
import threading
import time
import uuid

import psycopg
import pytest
from paho.mqtt import client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode
from typer.testing import CliRunner

from jieneng.cli import app
from jieneng.cli_broker import mosquitto_hash, read_credentials, write_broker_files

MOSQUITTO = shutil.which("mosquitto")
pytestmark = pytest.mark.skipif(MOSQUITTO is None, reason="mosquitto binary not on PATH")


def test_python_hash_matches_mosquitto_format():
    """Same derivation as a line mosquitto_passwd 2.0.11 wrote for alice/secret (salt and key from it)."""
    line = (
        "$7$101$ul/bpaSCJtKLwRIA$5V30Ah1p46rxTUgItdaulWo8MSnuFsQR7BJyfdxsyn3SAsOpM/oeIZwz+c6O72g/"
        "tHFDwnLCiH76ZWBq9Cn4xg=="
    )
    salt = base64.b64decode(line.split("$")[3])
    assert mosquitto_hash("secret", salt=salt) == line
    assert hashlib.sha512(b"x").digest_size == 64


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def registry_db(db_url):
    with psycopg.connect(db_url) as conn:
        for iid, region in (("inst-a", "320100"), ("inst-b", "320200")):
            conn.execute(
                "INSERT INTO institution (id, name, category, admin_level, region_code, climate_zone) "
                "VALUES (%s, %s, 'government', 'city', %s, 'hot_summer_cold_winter')",
                (iid, iid.upper(), region),
            )
    return db_url


def _start_broker(auth_dir, tmp_path):
    port = _free_port()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\n"
        "allow_anonymous false\n"
        f"password_file {auth_dir / 'passwd'}\n"
        f"acl_file {auth_dir / 'acl'}\n"
        "persistence false\n"
        "log_dest stderr\n"
        # Running as root in CI: stay root so the 0600 files stay readable.
        "user root\n"
    )
    proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    for _ in range(100):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc, port
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(proc.stdout.read().decode()) from None
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("mosquitto did not start")


def _client(port, user, password, protocol):
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"t-{uuid.uuid4().hex[:8]}", protocol=protocol)
    c.username_pw_set(user, password)
    connected = threading.Event()
    result = {}

    def on_connect(client, userdata, flags, reason_code, properties):
        result["rc"] = reason_code
        connected.set()

    c.on_connect = on_connect
    c.connect("127.0.0.1", port)
    c.loop_start()
    assert connected.wait(5)
    return c, result["rc"]


def _publish_and_collect(port, creds, prefix, protocol):
    """Publish as gateway A to A's and B's subtrees; return (PUBACK reason codes, topics ingest received)."""
    ingest, rc = _client(port, "jieneng-ingest", creds["jieneng-ingest"].password, protocol)
    assert not rc.is_failure
    received: list[str] = []
    subscribed = threading.Event()
    ingest.on_message = lambda c, u, msg: received.append(msg.topic)
    ingest.on_subscribe = lambda c, u, mid, rcs, props: subscribed.set()
    ingest.subscribe(f"{prefix}/#", qos=1)
    assert subscribed.wait(5)

    gw, rc = _client(port, "gw-inst-a", creds["gw-inst-a"].password, protocol)
    assert not rc.is_failure
    acks: dict[int, ReasonCode | int] = {}
    done = threading.Event()

    def on_publish(client, userdata, mid, reason_code, properties):
        acks[mid] = reason_code
        if len(acks) == 2:
            done.set()

    gw.on_publish = on_publish
    own = gw.publish(f"{prefix}/inst-a/inst-a.e1", '{"ts": 1, "value": 2}', qos=1)
    other = gw.publish(f"{prefix}/inst-b/inst-b.e1", '{"ts": 1, "value": 666}', qos=1)
    assert done.wait(5)
    # The allowed message is on its way to ingest; wait for it, then a little for any stray.
    for _ in range(100):
        if received:
            break
        time.sleep(0.05)
    time.sleep(0.3)
    for c in (gw, ingest):
        c.loop_stop()
        c.disconnect()
    return acks[own.mid], acks[other.mid], received


@pytest.mark.parametrize("hasher", ["python", "mosquitto_passwd"])
def test_gateway_publishes_only_under_its_own_institution(registry_db, tmp_path, monkeypatch, hasher):
    prefix = f"jieneng-test-{uuid.uuid4().hex[:8]}/v1"
    auth = tmp_path / "auth"
    if hasher == "python":
        with psycopg.connect(registry_db) as conn:
            ids = [r[0] for r in conn.execute("SELECT id FROM institution ORDER BY id")]
        write_broker_files(
            auth,
            prefix=prefix,
            institution_ids=ids,
            ingest_user="jieneng-ingest",
            ingest_password="ingest-secret",
            use_binary=False,
        )
    else:
        if shutil.which("mosquitto_passwd") is None:
            pytest.skip("mosquitto_passwd not on PATH")
        monkeypatch.setenv("JIENENG_DATABASE_URL", registry_db)
        monkeypatch.setenv("JIENENG_MQTT_URL", "mqtt://jieneng-ingest:ingest-secret@127.0.0.1:1883")
        monkeypatch.setenv("JIENENG_MQTT_TOPIC_PREFIX", prefix)
        result = CliRunner().invoke(app, ["broker", "acl", "--out", str(auth)])
        assert result.exit_code == 0, result.output
    assert (auth / "passwd").stat().st_mode & 0o077 == 0
    assert (auth / "credentials.csv").stat().st_mode & 0o077 == 0
    creds = read_credentials(auth / "credentials.csv")
    assert creds["jieneng-ingest"].password == "ingest-secret"
    assert set(creds) == {"jieneng-ingest", "gw-inst-a", "gw-inst-b"}

    proc, port = _start_broker(auth, tmp_path)
    try:
        own, other, received = _publish_and_collect(port, creds, prefix, mqtt.MQTTv5)
        assert not own.is_failure
        assert other.value == 135  # Not authorized
        assert received == [f"{prefix}/inst-a/inst-a.e1"]

        own, other, received = _publish_and_collect(port, creds, prefix, mqtt.MQTTv311)
        assert received == [f"{prefix}/inst-a/inst-a.e1"]  # the refused one was dropped silently

        # A wrong password is refused at CONNECT; the ingest account cannot publish.
        _, rc = _client(port, "gw-inst-a", "wrong", mqtt.MQTTv5)
        assert rc.is_failure and rc.value in (134, 135)  # Bad user name or password / Not authorized
        ingest, rc = _client(port, "jieneng-ingest", "ingest-secret", mqtt.MQTTv5)
        acked = threading.Event()
        codes = []
        ingest.on_publish = lambda c, u, mid, reason_code, props: (codes.append(reason_code), acked.set())
        ingest.publish(f"{prefix}/inst-a/x", "1", qos=1)
        assert acked.wait(5) and codes[0].value == 135
        ingest.loop_stop()
        ingest.disconnect()
    finally:
        proc.terminate()
        proc.wait(5)


def test_rerun_keeps_passwords_and_adds_new_institutions(tmp_path):
    out = tmp_path / "auth"
    first = write_broker_files(
        out, prefix="p/v1", institution_ids=["a"], ingest_user="ing", ingest_password=None, use_binary=False
    )
    second = write_broker_files(
        out,
        prefix="p/v1",
        institution_ids=["a", "b"],
        ingest_user="ing",
        ingest_password=None,
        use_binary=False,
    )
    by_user = {a.username: a.password for a in second}
    assert by_user["gw-a"] == first[1].password and by_user["ing"] == first[0].password
    assert "gw-b" in by_user
    rotated = write_broker_files(
        out,
        prefix="p/v1",
        institution_ids=["a", "b"],
        ingest_user="ing",
        ingest_password=None,
        rotate=True,
        use_binary=False,
    )
    assert {a.username: a.password for a in rotated}["gw-a"] != by_user["gw-a"]
    acl = (out / "acl").read_text()
    assert "user gw-b\ntopic write p/v1/b/#" in acl and "user ing\ntopic read p/v1/#" in acl
