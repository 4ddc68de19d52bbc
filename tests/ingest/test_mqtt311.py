"""MQTT 3.1.1 (for brokers without MQTT 5, like the demo's in-process amqtt): same pipeline, acks after commit."""

from __future__ import annotations

import dataclasses
import json
import uuid
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
import pytest

from jieneng.embedded import start_embedded_broker

from .conftest import make_config, running_ingest, wait_for


@pytest.fixture
def amqtt_url(tmp_path):
    broker = start_embedded_broker(tmp_path, prefer_mosquitto=False)
    assert broker.kind == "amqtt"
    yield broker.url
    broker.stop()


def test_ingest_over_mqtt_311_on_amqtt(reg_db, amqtt_url, topic_prefix):
    cfg = make_config(reg_db, amqtt_url, topic_prefix)
    cfg = dataclasses.replace(cfg, broker=dataclasses.replace(cfg.broker, protocol="3.1.1"))
    parts = urlsplit(amqtt_url)
    host, port = parts.hostname, parts.port
    pub = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv311
    )
    pub.connect(host, int(port))
    pub.loop_start()
    try:
        with running_ingest(cfg) as svc:
            assert not svc.transport.v5
            infos = [
                pub.publish(
                    f"{topic_prefix}/INST1/E1",
                    json.dumps({"ts": f"2026-03-01T08:{i:02d}:00+08:00", "value": i}),
                    qos=1,
                )
                for i in range(50)
            ]
            infos.append(pub.publish(f"{topic_prefix}/INST1/E1", b"{not json", qos=1))
            for info in infos:
                info.wait_for_publish(30)
            assert wait_for(reg_db, "SELECT count(*) FROM reading", 50) == 50
            assert wait_for(reg_db, "SELECT count(*) FROM ingest_reject", 1) == 1
    finally:
        pub.disconnect()
        pub.loop_stop()


def test_unknown_protocol_is_refused(reg_db, mqtt_url, topic_prefix):
    from ingest.transport import Transport

    cfg = make_config(reg_db, mqtt_url, topic_prefix)
    with pytest.raises(ValueError, match="5 or 3.1.1"):
        Transport(dataclasses.replace(cfg.broker, protocol="4"))
