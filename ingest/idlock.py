"""One running ingest per MQTT client id, enforced through the database both use.

An MQTT broker gives a client id's session to the latest connection and closes the older one;
paho then reconnects and takes it back, so two processes under one id (the default, or an
explicit id copied between two workers' configurations) steal the session from each other for as
long as both run, and Mosquitto 2.0 does not even send them a reason. A reason code is no
mechanism, then: before it connects to the broker, ingest takes a session-level advisory lock
named after its client id on a connection of its own, and a second process finding it held is
refused (:class:`ClientIdInUse`). The lock goes with its connection: a process that exits or is
killed frees the id at once; one whose host froze, once TCP keepalive gives up on it (about
``timeout_s``).

While ingest runs, a thread of the lock's own checks every ``check_s`` that the lock is still held
(a database restart ends its connection) and takes it again; if another process took it meanwhile,
ingest is told to stop. The check never runs on ingest's own threads, so a hung database cannot
hold up the stream's collector or its shutdown.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import psycopg

from ingest.dbguard import connect as connect_bounded
from ingest.dbguard import shut_socket

log = logging.getLogger(__name__)

_LOCK_SQL = "SELECT pg_try_advisory_lock(hashtextextended('jieneng-mqtt-client-id:' || %s, 0))"


class ClientIdInUse(RuntimeError):
    pass


class ClientIdLock:
    """The advisory lock on ``client_id``, held on a dedicated connection until :meth:`release`."""

    def __init__(self, database_url: str, client_id: str, timeout_s: float) -> None:
        self.database_url = database_url
        self.client_id = client_id
        self.timeout_s = timeout_s
        self._conn: psycopg.Connection | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def acquire(self, wait_s: float = 0.0, stop: threading.Event | None = None) -> None:
        """Take the lock, trying for up to ``wait_s``; raises ClientIdInUse when another process still
        holds it then, psycopg.Error when the database cannot be reached.

        The wait covers a predecessor that was just killed: its server backend, and with it the lock,
        lives on until the server sees the connection close (at once for an exited process, up to
        the keepalive bound for a vanished host).
        """
        conn = connect_bounded(self.database_url, self.timeout_s)
        deadline = time.monotonic() + wait_s
        try:
            while not (got := conn.execute(_LOCK_SQL, (self.client_id,)).fetchone()[0]):
                if time.monotonic() >= deadline or (stop is not None and stop.is_set()):
                    break
                time.sleep(0.5)
        except BaseException:
            conn.close()
            raise
        if not got:
            conn.close()
            raise ClientIdInUse(
                f"another ingest process is running with MQTT client id {self.client_id!r} on this database; "
                "each process needs a client id of its own (JIENENG_MQTT_CLIENT_ID), or the two take the "
                "broker session from each other"
            )
        self._conn = conn

    def check(self) -> None:
        """Still ours? When the lock's connection was lost (the database restarted), take it again;
        raises ClientIdInUse if another process took it meanwhile, psycopg.Error if the database is
        still away (the caller tries again later)."""
        if self._conn is not None and not self._conn.closed and not self._conn.broken:
            try:
                self._conn.execute("SELECT 1")
                return
            except psycopg.Error:
                self._conn.close()
        self._conn = None
        log.warning("the client-id lock's database connection was lost; taking the lock again")
        self.acquire()

    def watch(self, on_lost: Callable[[ClientIdInUse], None], check_s: float = 5.0) -> None:
        """Check the lock every ``check_s`` in a thread of its own; ``on_lost`` when another process has it."""

        def run() -> None:
            while not self._stop.wait(check_s):
                try:
                    self.check()
                except ClientIdInUse as exc:
                    if not self._stop.is_set():
                        on_lost(exc)
                    return
                except psycopg.Error as exc:
                    if not self._stop.is_set():
                        log.warning("client-id lock not checked (%s); will try again", str(exc).strip()[:200])
            self._close()

        self._thread = threading.Thread(target=run, name="client-id-lock", daemon=True)
        self._thread.start()

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except psycopg.Error:
                pass

    def release(self) -> None:
        """Free the id, within about a second whatever the database does: a check stuck in a hung
        call is cut (its socket shut); the process's exit frees the lock in any case."""
        self._stop.set()
        if self._thread is None:
            self._close()
            return
        self._thread.join(0.2)
        conn = self._conn
        if self._thread.is_alive() and conn is not None:
            shut_socket(conn)
            self._thread.join(1.0)
