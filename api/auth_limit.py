"""Failed authentications per client: after ``max_failures`` within ``window_s`` seconds of the first
of them, every request from that client gets 429 with Retry-After until the window has passed.

In memory, per API process: enough to make guessing keys slow (the secret is 256 bits; this is about
load and noise), lost on restart, and with several processes each counts its own. The client address
is the connection's peer, or what uvicorn puts there from X-Forwarded-For when told to trust the
proxy (``--forwarded-allow-ips``). A successful authentication clears the client's count.

A client is an IPv4 address, or an IPv6 /64: one host is routinely given a whole /64 and can send
from any address in it, so counting single IPv6 addresses would let it try without limit and fill
the table. An IPv4-mapped IPv6 address counts as its IPv4 address.

Memory: at most MAX_CLIENTS clients, the least recently failing forgotten first, each held as one
small tuple (start of its window, failures in it) in a plain dict: a few hundred bytes per client.
"""

from __future__ import annotations

import ipaddress
import math
import threading
import time

IPV6_PREFIX_BITS = 64
MAX_NON_IP_CHARS = 64


def client_bucket(addr: str) -> str:
    """The key a client address is counted under: the IPv4 address, or the IPv6 address's /64."""
    try:
        ip = ipaddress.ip_address(addr.split("%", 1)[0])  # a zone id (fe80::1%eth0) is not part of it
    except ValueError:
        # Not an address (a trusted proxy's X-Forwarded-For may hold anything): cut, so the table's
        # memory is bounded by MAX_CLIENTS whatever such a value holds.
        return addr[:MAX_NON_IP_CHARS]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, IPV6_PREFIX_BITS), strict=False))
    return str(ip)


class FailedAuthLimiter:
    MAX_CLIENTS = 100_000  # clients tracked at most; the least recently failing are forgotten first

    def __init__(self, max_failures: int, window_s: float, clock=time.monotonic):
        self.max_failures = max_failures
        self.window_s = window_s
        self._clock = clock
        self._failures: dict[str, tuple[float, int]] = {}  # bucket -> (window start, failures); oldest first
        self._lock = threading.Lock()

    def retry_after(self, client: str) -> int | None:
        """Seconds until ``client`` may try again, or None when it may now."""
        with self._lock:
            entry = self._failures.get(client_bucket(client))
            if entry is None or entry[1] < self.max_failures:
                return None
            wait = self.window_s - (self._clock() - entry[0])
            if wait <= 0:
                return None
            return max(1, math.ceil(wait))

    def failed(self, client: str) -> None:
        bucket = client_bucket(client)
        now = self._clock()
        with self._lock:
            start, count = self._failures.pop(bucket, (now, 0))
            if now - start >= self.window_s:
                start, count = now, 0
            self._failures[bucket] = (start, count + 1)  # re-inserted: most recent last
            while len(self._failures) > self.MAX_CLIENTS:
                del self._failures[next(iter(self._failures))]

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._failures.pop(client_bucket(client), None)
