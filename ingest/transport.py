"""The MQTT side: a paho-mqtt 2.x v5 client with a persistent session and manual acks.

The broker keeps our session (fixed client id, ``clean_start=False``, a session expiry), so
messages published while we are down wait for us, and anything we received but did not ack is
redelivered after a reconnect. We ack a message only after the transaction holding its rows
commits; acks for messages received on an earlier connection are dropped (their packet ids belong
to that connection), and the broker redelivers them as duplicates, which the writer counts.
"""

from __future__ import annotations

import logging
import queue
import ssl
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import unquote, urlparse

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from ingest import metrics

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BrokerConfig:
    url: str
    client_id: str
    topic_prefix: str
    share_group: str | None = None
    keepalive_s: int = 30
    session_expiry_s: int = 0xFFFFFFFF  # never: meters keep pushing while ingest is down
    receive_maximum: int = 10_000
    # "5", or "3.1.1" for brokers without MQTT 5 (amqtt): the session then persists through
    # clean_session=False, with no expiry or receive-maximum properties to send.
    protocol: str = "5"


@dataclass(frozen=True)
class InMessage:
    generation: int
    mid: int
    qos: int
    topic: str
    payload: bytes
    received_at: datetime


def subscription(cfg: BrokerConfig) -> str:
    base = f"{cfg.topic_prefix.rstrip('/')}/#"
    return f"$share/{cfg.share_group}/{base}" if cfg.share_group else base


class Transport:
    """Receives into ``self.inbox``; ``ack`` sends PUBACKs from any thread."""

    def __init__(self, cfg: BrokerConfig) -> None:
        self.cfg = cfg
        self.inbox: queue.Queue[InMessage] = queue.Queue()
        self.generation = 0
        self.connected = threading.Event()
        u = urlparse(cfg.url)
        if u.scheme not in ("mqtt", "mqtts"):
            raise ValueError(f"MQTT URL must be mqtt:// or mqtts://, not {cfg.url!r}")
        self.host = u.hostname or "127.0.0.1"
        self.port = u.port or (8883 if u.scheme == "mqtts" else 1883)
        if cfg.protocol not in ("5", "3.1.1"):
            raise ValueError(f"MQTT protocol must be 5 or 3.1.1, not {cfg.protocol!r}")
        self.v5 = cfg.protocol == "5"
        c = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=cfg.client_id,
            protocol=mqtt.MQTTv5 if self.v5 else mqtt.MQTTv311,
            clean_session=None if self.v5 else False,
            manual_ack=True,
        )
        if u.username:
            c.username_pw_set(unquote(u.username), unquote(u.password) if u.password else None)
        if u.scheme == "mqtts":
            c.tls_set(cert_reqs=ssl.CERT_REQUIRED)
        c.reconnect_delay_set(min_delay=1, max_delay=30)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_message = self._on_message
        self.client = c

    def _connect_properties(self) -> Properties:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.cfg.session_expiry_s
        # Unacked messages stay in flight until their batch commits; let the broker send a batch's worth.
        props.ReceiveMaximum = max(1, min(65535, self.cfg.receive_maximum))
        return props

    def start(self) -> None:
        while True:
            try:
                if self.v5:
                    self.client.connect(
                        self.host, self.port, keepalive=self.cfg.keepalive_s,
                        clean_start=False, properties=self._connect_properties(),
                    )
                else:
                    self.client.connect(self.host, self.port, keepalive=self.cfg.keepalive_s)
                break
            except OSError as exc:
                log.warning("broker %s:%s unreachable (%s); retrying", self.host, self.port, exc)
                time.sleep(2)
        self.client.loop_start()

    def wait_connected(self, timeout: float) -> bool:
        return self.connected.wait(timeout)

    def stop(self) -> None:
        try:
            self.client.disconnect()
        finally:
            self.client.loop_stop()
        metrics.BROKER_CONNECTED.set(0)

    def ack(self, messages: list[InMessage]) -> int:
        """PUBACK the messages received on the current connection; returns how many were acked."""
        gen = self.generation
        n = 0
        for m in messages:
            if m.qos > 0 and m.generation == gen:
                self.client.ack(m.mid, m.qos)
                n += 1
        return n

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.error("broker refused connection: %s", reason_code)
            return
        self.generation += 1
        # The broker keeps the subscription in our session; subscribing again is harmless and covers a
        # session that expired or a first start.
        client.subscribe(subscription(self.cfg), qos=1)
        self.connected.set()
        metrics.BROKER_CONNECTED.set(1)
        log.info("connected to broker %s:%s (session present: %s)", self.host, self.port, flags.session_present)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self.connected.clear()
        metrics.BROKER_CONNECTED.set(0)
        log.warning("disconnected from broker: %s", reason_code)

    def _on_message(self, client, userdata, msg: mqtt.MQTTMessage) -> None:
        self.inbox.put(InMessage(self.generation, msg.mid, msg.qos, msg.topic, msg.payload, datetime.now(UTC)))
