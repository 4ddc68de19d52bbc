"""A TCP proxy to PostgreSQL that loses a connection during a batch's COMMIT: it passes the COMMIT on
and closes both sides before the server's reply, so the server commits and the client never hears it
(or, asked to, drops the COMMIT, so the server rolls back or waits in the transaction).

It reads the frontend's messages (PostgreSQL protocol 3: a startup packet, then a type byte and a length
per message) to find a simple-query COMMIT that follows an ``INSERT INTO ingest_batch`` in the same
transaction; everything else is passed through as it comes. Connect with ``sslmode=disable`` and
``gssencmode=disable``, so the first packet is the startup packet."""

from __future__ import annotations

import socket
import threading
from urllib.parse import quote

from psycopg.conninfo import conninfo_to_dict

from jieneng.embedded import free_port

from .netproxy import serve

_MARK = b"INSERT INTO ingest_batch"


class CommitCutProxy:
    def __init__(self, db_url: str, cut_commits: int = 1, mode: str = "commit") -> None:
        """``mode``: "commit" passes the COMMIT on, then closes both sides (the server commits); "drop" closes
        both sides without it (the server rolls back when it finds the connection gone); "hold" drops the
        COMMIT and closes the client's side only, so the server's session stays idle in its transaction, as
        when a network fault loses the connection's end.

        ``cut_commits``: how many such COMMITs to cut. Only the first five batches of a connection can be
        recognised: psycopg then prepares the INSERT and sends its text no more."""
        assert mode in ("commit", "drop", "hold")
        self.mode = mode
        info = conninfo_to_dict(db_url)
        host, port = info.get("host") or "127.0.0.1", int(info.get("port") or 5432)
        # A host that is a directory is libpq's Unix-socket form (the tests' private server).
        self.upstream = f"{host}/.s.PGSQL.{port}" if host.startswith("/") else (host, port)
        user = quote(info.get("user") or "postgres", safe="")
        password = f":{quote(info['password'], safe='')}" if info.get("password") else ""
        self.port = free_port()
        self.url = (
            f"postgresql://{user}{password}@127.0.0.1:{self.port}/{quote(info['dbname'], safe='')}"
            "?sslmode=disable&gssencmode=disable"
        )
        self._left = cut_commits
        self._lock = threading.Lock()
        self.cuts = 0
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._closed = False
        threading.Thread(target=self._accept, name="pgproxy-accept", daemon=True).start()

    def _accept(self) -> None:
        serve(self._listener, self._connect, self._pair, lambda: self._closed)

    def _connect(self) -> socket.socket:
        if isinstance(self.upstream, tuple):
            return socket.create_connection(self.upstream, timeout=10)
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            server.connect(self.upstream)
        except OSError:
            server.close()
            raise
        return server

    def _pair(self, client: socket.socket, server: socket.socket) -> None:
        cut = threading.Event()
        threading.Thread(target=self._pump_back, args=(server, client, cut), daemon=True).start()
        threading.Thread(target=self._pump_frontend, args=(client, server, cut), daemon=True).start()

    @staticmethod
    def _pump_back(server: socket.socket, client: socket.socket, cut: threading.Event) -> None:
        # After a cut the server's replies are read and dropped until it closes: closing a socket with
        # unread input would reset the connection, and the COMMIT could be lost on its way.
        try:
            while data := server.recv(65536):
                if not cut.is_set():
                    client.sendall(data)
        except OSError:
            pass
        finally:
            _close(server, client)

    def _take_cut(self) -> bool:
        with self._lock:
            if self._left <= 0:
                return False
            self._left -= 1
            self.cuts += 1
            return True

    def _pump_frontend(self, client: socket.socket, server: socket.socket, cut: threading.Event) -> None:
        buf = b""
        started = False
        marked = False
        try:
            while data := client.recv(65536):
                buf += data
                out = b""
                while True:
                    if not started:
                        if len(buf) < 4 or len(buf) < int.from_bytes(buf[:4], "big"):
                            break
                        n = int.from_bytes(buf[:4], "big")
                        out, buf, started = out + buf[:n], buf[n:], True
                        continue
                    if len(buf) < 5 or len(buf) < 1 + int.from_bytes(buf[1:5], "big"):
                        break
                    n = 1 + int.from_bytes(buf[1:5], "big")
                    msg, buf = buf[:n], buf[n:]
                    kind, body = msg[:1], msg[5:]
                    if kind in (b"P", b"Q") and _MARK in body:
                        marked = True
                    if kind == b"Q" and body.lstrip().upper().startswith((b"COMMIT", b"ROLLBACK")):
                        if marked and body.lstrip().upper().startswith(b"COMMIT") and self._take_cut():
                            cut.set()
                            server.sendall(out + msg if self.mode == "commit" else out)
                            if self.mode != "hold":
                                server.shutdown(
                                    socket.SHUT_WR
                                )  # after the COMMIT: the server ends the session
                            _close(client)
                            return
                        marked = False
                    out += msg
                if out:
                    server.sendall(out)
        except OSError:
            pass
        if not cut.is_set():
            _close(server, client)

    def close(self) -> None:
        self._closed = True
        self._listener.close()


def _close(*socks: socket.socket) -> None:
    for s in socks:
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        s.close()
