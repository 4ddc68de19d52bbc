"""A TCP proxy a test can cut: every connection through it is closed at once, new ones are accepted."""

from __future__ import annotations

import select
import socket
import threading
from collections.abc import Callable

from jieneng.embedded import free_port


def serve(
    listener: socket.socket,
    connect: Callable[[], socket.socket],
    on_pair: Callable[[socket.socket, socket.socket], None],
    closed: Callable[[], bool],
) -> None:
    """Accept clients on ``listener`` until it closes, each handed to ``on_pair`` with a new blocking
    connection from ``connect`` to the upstream (a client it cannot reach is closed)."""
    while not closed():
        try:
            client, _ = listener.accept()
        except OSError:
            return
        try:
            server = connect()
        except OSError:
            client.close()
            continue
        server.settimeout(None)
        on_pair(client, server)


class CuttableProxy:
    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = free_port()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._lock = threading.Lock()
        self._conns: list[socket.socket] = []
        self._closed = False
        self.cuts = 0
        threading.Thread(target=self._accept, name="proxy-accept", daemon=True).start()

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        serve(
            self._listener,
            lambda: socket.create_connection(self.upstream, timeout=10),
            self._pair,
            lambda: self._closed,
        )

    def _pair(self, client: socket.socket, server: socket.socket) -> None:
        with self._lock:
            self._conns += [client, server]
        threading.Thread(target=self._pump, args=(client, server), name="proxy-pump", daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        peers = {a: b, b: a}
        try:
            while True:
                ready, _, _ = select.select([a, b], [], [], 1.0)
                for s in ready:
                    data = s.recv(65536)
                    if not data:
                        return
                    peers[s].sendall(data)
        except (OSError, ValueError):
            # cut() closed a socket under select(): a closed socket's fileno() is -1, which select refuses
            # with ValueError rather than OSError
            return
        finally:
            for s in (a, b):
                self._close(s)

    def _close(self, s: socket.socket) -> None:
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        s.close()

    def cut(self) -> None:
        """Close every open connection (both sides), as a network failure would."""
        with self._lock:
            conns, self._conns = self._conns, []
            self.cuts += 1
        for s in conns:
            self._close(s)

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        self.cut()
