"""QoS 1 publishing with a bounded window of unacknowledged messages (paho-mqtt 2.x).

paho queues without limit whatever exceeds ``max_inflight_messages``; a backfill that outpaces the socket
would then hold gigabytes. A semaphore released from ``on_publish`` (the PUBACK for QoS 1) keeps at most
``window`` messages between ``publish()`` and their acknowledgement; paho resends unacknowledged ones
after a reconnect, so a broker restart costs time, not readings.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
import uuid
from urllib.parse import unquote, urlparse

import paho.mqtt.client as mqtt

log = logging.getLogger(__name__)


class PublishError(RuntimeError):
    pass


class Publisher:
    def __init__(
        self, url: str, *, client_id: str | None = None, window: int = 200, connect_timeout_s: float = 30.0
    ):
        u = urlparse(url)
        if u.scheme not in ("mqtt", "mqtts"):
            raise ValueError(f"MQTT URL must be mqtt:// or mqtts://, not {url!r}")
        self.host = u.hostname or "127.0.0.1"
        self.port = u.port or (8883 if u.scheme == "mqtts" else 1883)
        self.window = window
        self._slots = threading.Semaphore(window)
        self._unacked: set[int] = set()
        self._early: set[int] = set()
        self._lock = threading.Lock()
        self._connected = threading.Event()
        self.published = 0
        c = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id or f"jieneng-sim-{uuid.uuid4().hex[:8]}",
            protocol=mqtt.MQTTv311,
            clean_session=True,
        )
        if u.username:
            c.username_pw_set(unquote(u.username), unquote(u.password) if u.password else None)
        if u.scheme == "mqtts":
            c.tls_set(cert_reqs=ssl.CERT_REQUIRED)
        c.max_inflight_messages_set(window)
        c.reconnect_delay_set(min_delay=1, max_delay=30)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_publish = self._on_publish
        self.client = c
        c.connect_async(self.host, self.port, keepalive=30)
        c.loop_start()
        if not self._connected.wait(connect_timeout_s):
            c.loop_stop()
            raise PublishError(f"could not connect to the MQTT broker at {self.host}:{self.port}")

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.error("broker refused the simulator: %s", reason_code)
            return
        self._connected.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self._connected.clear()
        if reason_code.value != 0:
            log.warning("simulator lost the broker (%s); paho reconnects and resends", reason_code)

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        with self._lock:
            if mid in self._unacked:
                self._unacked.discard(mid)
                self._slots.release()
            else:  # acknowledged before publish() returned and recorded the mid
                self._early.add(mid)

    def publish(self, topic: str, payload: bytes, timeout_s: float = 300.0) -> None:
        """Publish at QoS 1, blocking while ``window`` messages await their PUBACK."""
        if not self._slots.acquire(timeout=timeout_s):
            raise PublishError(f"no PUBACK from the broker for {timeout_s:.0f} s")
        # Not under self._lock: paho may run on_publish while holding its own message lock.
        info = self.client.publish(topic, payload, qos=1)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            self._slots.release()
            raise PublishError(f"publish to {topic} failed: {mqtt.error_string(info.rc)}")
        with self._lock:
            if info.mid in self._early:
                self._early.discard(info.mid)
                self._slots.release()
            else:
                self._unacked.add(info.mid)
        self.published += 1

    def flush(self, timeout_s: float = 300.0) -> None:
        """Wait until the broker has acknowledged every message published so far."""
        deadline = time.monotonic() + timeout_s
        while True:
            with self._lock:
                if not self._unacked:
                    return
            if time.monotonic() > deadline:
                raise PublishError(
                    f"{len(self._unacked)} message(s) still unacknowledged after {timeout_s:.0f} s"
                )
            time.sleep(0.01)

    def close(self) -> None:
        try:
            self.flush(timeout_s=60)
        finally:
            self.client.disconnect()
            self.client.loop_stop()

    def __enter__(self) -> Publisher:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
