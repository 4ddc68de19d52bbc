"""Bounded database calls for ingest, and which database errors a message's content causes.

Ingest holds its messages unacked while it writes them, so a database call that never returns
stops the stream and its shutdown. Every call is bounded three ways:

- on the server: ``statement_timeout`` (and ``lock_timeout``, half of it, for a lock someone holds);
- on the network: TCP keepalives and ``tcp_user_timeout``, for a peer that vanished;
- on this side: :class:`CallWatchdog` shuts the socket of a transaction that outlived its bound,
  for a server that cannot enforce its own timeouts (stopped, swapping, its host frozen) while the
  kernel still acknowledges our packets.

An error is the message's fault (:func:`is_content_error`) when retrying the same rows can only fail
the same way: SQLSTATE class 22 (data exception: a NUL, an untranslatable character, a value out
of range), 23 (integrity constraint) and 54 (program limit: an index row too large), or a string
the driver cannot encode. Everything else (class 08 connection, 40 serialization failure and
deadlock, 53 insufficient resources, 55P03 lock timeout, 57 admin shutdown and statement timeout)
is transient: the database, not the message, is at fault, and the batch is retried.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import socket
import threading
import time

import psycopg

log = logging.getLogger(__name__)

CONTENT_SQLSTATE_CLASSES = frozenset({"22", "23", "54"})


def is_content_error(exc: BaseException) -> bool:
    """True when ``exc`` comes from the rows being written, not from the database's state."""
    if isinstance(exc, UnicodeError):
        return True  # the driver could not encode a str (a lone surrogate) for the wire
    if not isinstance(exc, psycopg.Error):
        return False
    state = exc.sqlstate
    if state is None:
        # Raised by the driver before anything was sent: a DataError is about a value (e.g. a NUL in
        # text); anything else (a closed connection) is about the connection.
        return isinstance(exc, psycopg.DataError)
    return state[:2] in CONTENT_SQLSTATE_CLASSES


def connect(url: str, timeout_s: float) -> psycopg.Connection:
    """An autocommit connection whose every call is bounded by ``timeout_s`` (module docstring)."""
    conn = psycopg.connect(
        url,
        autocommit=True,
        connect_timeout=max(2, math.ceil(timeout_s)),
        keepalives=1,
        keepalives_idle=max(1, int(timeout_s / 3)),
        keepalives_interval=max(1, int(timeout_s / 9)),
        keepalives_count=3,
        tcp_user_timeout=max(1000, int(timeout_s * 1000)),
    )
    try:
        # SET rather than connection `options`, so options a deployment puts in its URL still apply.
        conn.execute(
            "SELECT set_config('statement_timeout', %s, false), set_config('lock_timeout', %s, false)",
            (f"{int(timeout_s * 1000)}ms", f"{int(timeout_s * 500)}ms"),
        )
    except BaseException:
        conn.close()
        raise
    return conn


def shut_socket(conn: psycopg.Connection) -> None:
    """Shut ``conn``'s socket down so that a call blocked on it fails at once (libpq sees EOF).

    Safe from another thread, unlike close(): only the kernel socket is shut; the connection object
    is left for its own thread to find broken and discard.
    """
    try:
        fd = conn.pgconn.socket
    except Exception:  # noqa: BLE001 - already closed: nothing to cut
        return
    try:
        s = socket.socket(fileno=os.dup(fd))
    except OSError:
        return
    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    finally:
        s.close()


class CallWatchdog:
    """Cuts the connection of a transaction that runs past its deadline; one watched call at a time."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._conn: psycopg.Connection | None = None
        self._deadline: float | None = None
        self.cuts = 0
        self._thread = threading.Thread(target=self._run, name="db-watchdog", daemon=True)
        self._thread.start()

    @contextlib.contextmanager
    def bounded(self, conn: psycopg.Connection, seconds: float):
        with self._cond:
            self._conn, self._deadline = conn, time.monotonic() + seconds
            self._cond.notify()
        try:
            yield
        finally:
            with self._cond:
                self._conn = self._deadline = None

    def cut_now(self) -> bool:
        """Cut the watched connection, if any (a stop that will not wait for it); True if one was cut."""
        with self._cond:
            conn = self._conn
            self._conn = self._deadline = None
        if conn is None:
            return False
        self.cuts += 1
        shut_socket(conn)
        return True

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._deadline is None:
                    self._cond.wait()
                left = self._deadline - time.monotonic()
                if left > 0:
                    self._cond.wait(left)
                    continue
                conn = self._conn
                self._conn = self._deadline = None
            if conn is not None:
                self.cuts += 1
                log.warning("a database call of ingest outlived its bound; cutting its connection")
                shut_socket(conn)


def retry_delay_s(attempt: int) -> float:
    """Seconds to wait before retry ``attempt`` (0, 1, ...) of a database call the database failed:
    doubling from 0.25 s, at most 30 s, so an outage is polled often at first and then gently."""
    return min(30.0, 0.25 * (2 ** min(attempt, 8)))
