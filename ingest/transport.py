"""The MQTT side: a paho-mqtt 2.x v5 client with a persistent session and manual acks.

The broker keeps our session (fixed client id, ``clean_start=False``, a session expiry), so
messages published while we are down wait for us, and anything we received but did not ack is
redelivered after a reconnect. We ack a message only after the transaction holding its rows
commits.

What ingest holds is bounded, whatever the QoS, the way Telegraf's ``max_undelivered_messages``
is: a message takes a credit (one message, its payload and topic bytes) when it arrives and gives
it back when its batch commits. With no credit left, the receiving callback blocks paho's network
thread, so paho stops reading the socket and TCP flow control stops the broker; nothing is dropped.
``receive_maximum`` is capped at the message bound, so QoS 1 alone never blocks the thread.

Reconnects. Packet ids belong to the session, not the connection (MQTT 5 §4.4, 3.1.1 §4.4): after
a reconnect with the session present, the broker resends every unacked message with its packet id
and the DUP flag. A resend of a message we still hold is dropped (we ack the one we hold when it
commits, on whichever connection is up); a resend of one committed while we were disconnected is
acked at once, unstored. So messages of an earlier connection never accumulate beside the resends.
When the session was lost instead (expired, or a broker that kept nothing), the messages we hold
will never come again and their packet ids mean nothing: they are still committed, never acked.
"""

from __future__ import annotations

import logging
import queue
import ssl
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import unquote, urlparse

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from ingest import metrics

log = logging.getLogger(__name__)


DEFAULT_CLIENT_ID = "jieneng-ingest"
# MQTT 5 packet overhead beyond the payload: the longest topic MQTT allows (65,535 bytes and its length
# prefix), with room for the fixed header, packet id and properties. A broker drops, unrecorded, a packet
# above our Maximum Packet Size: every payload within max_payload_bytes must reach ingest, whatever its
# topic, to be stored or rejected with its reason.
PACKET_OVERHEAD_BYTES = 65_537 + 4096


class BrokerConfigInvalid(ValueError):
    pass


@dataclass(frozen=True)
class BrokerConfig:
    url: str
    client_id: str
    topic_prefix: str
    share_group: str | None = None
    keepalive_s: int = 30
    session_expiry_s: int = 0xFFFFFFFF  # never: meters keep pushing while ingest is down
    # A share-group member's session: finite, so a removed worker's session (and, on brokers that
    # keep queueing into an offline member's session, its share) does not wait forever.
    share_session_expiry_s: int = 86_400
    receive_maximum: int = 10_000
    # "5", or "3.1.1" for brokers without MQTT 5 (amqtt): the session then persists through
    # clean_session=False, with no expiry or receive-maximum properties to send.
    protocol: str = "5"
    max_undelivered_messages: int = 20_000
    max_undelivered_bytes: int = 64 * 1024 * 1024
    max_payload_bytes: int | None = None  # sent as MQTT 5 Maximum Packet Size (plus header room)

    def __post_init__(self) -> None:
        if self.share_group and self.client_id == DEFAULT_CLIENT_ID:
            # Two members under one client id take the session from each other on every reconnect.
            raise BrokerConfigInvalid(
                "JIENENG_MQTT_SHARE_GROUP needs a client id of each worker's own: set JIENENG_MQTT_CLIENT_ID "
                f"(not the default {DEFAULT_CLIENT_ID!r}) to a name that stays the same across restarts, "
                "e.g. jieneng-ingest-1, jieneng-ingest-2"
            )
        if self.share_group and self.protocol != "5":
            raise BrokerConfigInvalid("JIENENG_MQTT_SHARE_GROUP needs MQTT 5 (JIENENG_MQTT_PROTOCOL=5)")
        if self.max_undelivered_messages < 1 or self.max_undelivered_bytes < 1:
            raise BrokerConfigInvalid("the undelivered-message bounds must be positive")

    @property
    def effective_session_expiry_s(self) -> int:
        return self.share_session_expiry_s if self.share_group else self.session_expiry_s


# Slotted and mutable: built once per message on paho's network thread, which bounds ingest's rate; a
# frozen dataclass's __init__ (object.__setattr__ per field) was a quarter of that thread's own work.
@dataclass(slots=True, eq=False)
class InMessage:
    generation: int  # connection number (1, 2, ...)
    mid: int
    qos: int
    topic: str
    payload: bytes
    received_at: datetime
    session: int = 0  # session number: packet ids are valid for acks within one session
    dup: bool = False
    size: int = 0  # bytes counted against max_undelivered_bytes
    received_mono: float = 0.0


def subscription(cfg: BrokerConfig) -> str:
    base = f"{cfg.topic_prefix.rstrip('/')}/#"
    return f"$share/{cfg.share_group}/{base}" if cfg.share_group else base


class Inbox:
    """FIFO between paho's network thread and the collector.

    Holds only what arrived and was not collected yet; the bound on all undelivered messages is the
    transport's credit, which also covers messages collected into a batch that has not committed.
    It shares the transport's lock (``lock``), so receiving a message takes one lock, not two.
    """

    def __init__(self, lock: threading.RLock | None = None) -> None:
        self._q: deque[InMessage] = deque()
        self._cv = threading.Condition(lock)

    def put(self, m: InMessage) -> None:
        with self._cv:
            self._append(m)

    def _append(self, m: InMessage) -> None:
        """Append with the lock held."""
        self._q.append(m)
        self._cv.notify()

    def get_nowait(self) -> InMessage:
        with self._cv:
            if not self._q:
                raise queue.Empty
            return self._q.popleft()

    def take(self, max_n: int, timeout: float) -> list[InMessage]:
        """Up to ``max_n`` messages, waiting up to ``timeout`` s for the first; [] if none came.

        One lock round for everything that has arrived: the collector takes messages in runs rather
        than one by one, which keeps it off the lock paho's network thread needs for every message.
        """
        with self._cv:
            q = self._q
            if not q and (timeout <= 0 or not self._cv.wait_for(lambda: q, timeout)):
                return []
            n = min(max_n, len(q))
            return [q.popleft() for _ in range(n)]

    def put_back(self, msgs: list[InMessage]) -> None:
        """Return messages taken but not used to the front, in their order."""
        with self._cv:
            self._q.extendleft(reversed(msgs))

    def qsize(self) -> int:
        return len(self._q)


class Transport:
    """Receives into ``self.inbox``; ``ack`` (after commit) sends PUBACKs from any thread and returns credit."""

    def __init__(self, cfg: BrokerConfig) -> None:
        self.cfg = cfg
        # Credit and inbox under one lock: the network thread takes it once per message.
        self._mutex = threading.RLock()
        self._lock = threading.Condition(self._mutex)
        self.inbox = Inbox(self._mutex)
        self.generation = 0
        self.session = 0
        self.connected = threading.Event()
        u = urlparse(cfg.url)
        if u.scheme not in ("mqtt", "mqtts"):
            raise ValueError(f"MQTT URL must be mqtt:// or mqtts://, not {cfg.url!r}")
        self.host = u.hostname or "127.0.0.1"
        self.port = u.port or (8883 if u.scheme == "mqtts" else 1883)
        if cfg.protocol not in ("5", "3.1.1"):
            raise ValueError(f"MQTT protocol must be 5 or 3.1.1, not {cfg.protocol!r}")
        self.v5 = cfg.protocol == "5"
        # Credit: everything received and not yet committed (inbox and open batches), any QoS.
        self._held_messages = 0
        self._held_bytes = 0
        self._held: dict[int, InMessage] = {}  # id(msg) -> msg, in arrival order: the oldest is first
        self._pending: dict[int, InMessage] = {}  # packet id -> held QoS>0 message of this session
        self._unsent_acks: set[int] = set()  # packet ids committed while disconnected, this session
        self._closing = False
        self.peak_messages = 0
        self.peak_bytes = 0
        self.resends_dropped = 0
        self.resends_acked = 0
        self.blocked = 0  # times the network thread waited for credit
        self.last_commit_mono = time.monotonic()
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
        metrics.track(self)

    @property
    def receive_maximum(self) -> int:
        return max(1, min(65535, self.cfg.receive_maximum, self.cfg.max_undelivered_messages))

    def _connect_properties(self) -> Properties:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.cfg.effective_session_expiry_s
        # Unacked messages stay in flight until their batch commits; let the broker send a batch's worth,
        # but never more than we may hold.
        props.ReceiveMaximum = self.receive_maximum
        if self.cfg.max_payload_bytes:
            # The broker must not send us larger packets (it drops them, MQTT 5 §3.1.2.11.4).
            props.MaximumPacketSize = min(268_435_455, self.cfg.max_payload_bytes + PACKET_OVERHEAD_BYTES)
        return props

    def start(self) -> None:
        while True:
            try:
                if self.v5:
                    self.client.connect(
                        self.host,
                        self.port,
                        keepalive=self.cfg.keepalive_s,
                        clean_start=False,
                        properties=self._connect_properties(),
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
        with self._lock:
            self._closing = True  # a network thread waiting for credit gives up: nothing is acked
            self._lock.notify_all()
        try:
            self.client.disconnect()
        finally:
            self.client.loop_stop()
        metrics.BROKER_CONNECTED.set(0)

    # --- credit ----------------------------------------------------------------------------
    def _fits(self, size: int) -> bool:
        if self._held_messages == 0:
            return True  # one message larger than the byte bound still passes, alone
        return (
            self._held_messages < self.cfg.max_undelivered_messages
            and self._held_bytes + size <= self.cfg.max_undelivered_bytes
        )

    def _release(self, m: InMessage) -> None:
        if self._held.pop(id(m), None) is not None:
            self._held_messages -= 1
            self._held_bytes -= m.size

    def held(self) -> tuple[int, int]:
        """(messages, bytes) received and not yet committed."""
        with self._lock:
            return self._held_messages, self._held_bytes

    def oldest_unacked_age_s(self) -> float:
        with self._lock:
            first = next(iter(self._held.values()), None)
        return 0.0 if first is None else max(0.0, time.monotonic() - first.received_mono)

    def last_commit_age_s(self) -> float:
        return max(0.0, time.monotonic() - self.last_commit_mono)

    def ack(self, messages: list[InMessage]) -> int:
        """The messages' rows committed: PUBACK those of this session and give their credit back.

        Returns how many were acked (now, or later when the broker resends them after a reconnect).
        """
        n = 0
        with self._lock:
            self.last_commit_mono = time.monotonic()
            for m in messages:
                if id(m) not in self._held:
                    continue  # acked already: a second PUBACK could ack a packet id the broker reused
                self._release(m)
                if m.qos == 0 or m.session != self.session:
                    continue  # QoS 0 has no ack; a lost session's packet ids mean nothing now
                if self._pending.get(m.mid) is m:
                    del self._pending[m.mid]
                if self.connected.is_set():
                    self.client.ack(m.mid, m.qos)
                else:
                    # The PUBACK would be dropped with paho's outgoing queue; the broker resends this
                    # message on the next connection, and we ack it then without storing it again.
                    self._unsent_acks.add(m.mid)
                n += 1
            self._lock.notify_all()
        return n

    # --- paho callbacks (network thread) ---------------------------------------------------
    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.error("broker refused connection: %s", reason_code)
            return
        with self._lock:
            self.generation += 1
            if not flags.session_present or self.session == 0:
                # A new session: what we hold is still committed, but will not be resent and cannot be acked.
                self.session += 1
                self._pending.clear()
                self._unsent_acks.clear()
            self.connected.set()
        # The broker keeps the subscription in our session; subscribing again is harmless and covers a
        # session that expired or a first start.
        client.subscribe(subscription(self.cfg), qos=1)
        metrics.BROKER_CONNECTED.set(1)
        log.info(
            "connected to broker %s:%s (session present: %s)", self.host, self.port, flags.session_present
        )

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self.connected.clear()
        metrics.BROKER_CONNECTED.set(0)
        log.warning("disconnected from broker: %s", reason_code)

    def _on_message(self, client, userdata, msg: mqtt.MQTTMessage) -> None:
        size = len(msg.payload) + len(msg._topic)
        # Not msg.topic: its strict decoding raises on a topic that is not UTF-8 (a broker that forwards
        # one), and an exception here ends paho's network loop. Undecodable bytes become lone
        # surrogates, which the parser refuses as unstorable text; a UTF-8 topic decodes as before.
        topic = msg._topic.decode("utf-8", "surrogateescape")
        with self._lock:
            if msg.qos > 0:
                if msg.dup and msg.mid in self._unsent_acks:
                    # Committed while we were disconnected; its id cannot have been reused (never acked).
                    self._unsent_acks.discard(msg.mid)
                    client.ack(msg.mid, msg.qos)
                    self.resends_acked += 1
                    return
                held = self._pending.get(msg.mid)
                if held is not None and msg.dup:
                    self.resends_dropped += 1  # we hold it already and ack it when its batch commits
                    return
                if not msg.dup and self._unsent_acks:
                    # The broker sends its resends first: a new message means they are over.
                    self._unsent_acks.clear()
            if not self._fits(size):
                self.blocked += 1
                self._lock.wait_for(lambda: self._closing or self._fits(size))
                if self._closing:
                    return  # stopping: unacked, the broker redelivers it (QoS 1)
            m = InMessage(
                self.generation,
                msg.mid,
                msg.qos,
                topic,
                msg.payload,
                datetime.now(UTC),
                session=self.session,
                dup=bool(msg.dup),
                size=size,
                received_mono=time.monotonic(),
            )
            self._held[id(m)] = m
            self._held_messages += 1
            self._held_bytes += size
            self.peak_messages = max(self.peak_messages, self._held_messages)
            self.peak_bytes = max(self.peak_bytes, self._held_bytes)
            if msg.qos > 0:
                self._pending[msg.mid] = m
            self.inbox._append(m)
