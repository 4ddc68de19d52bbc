"""Failed authentications per client address: after ``max_failures`` within ``window_s`` seconds, every
request from that address gets 429 with Retry-After until the oldest failure leaves the window.

In memory, per API process: enough to make guessing keys slow (the secret is 256 bits; this is about
load and noise), lost on restart, and with several processes each counts its own. The client address
is the connection's peer, or what uvicorn puts there from X-Forwarded-For when told to trust the
proxy (``--forwarded-allow-ips``). A successful authentication clears the address's count.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque


class FailedAuthLimiter:
    MAX_CLIENTS = 100_000  # addresses tracked at most; the least recently failing are forgotten first

    def __init__(self, max_failures: int, window_s: float, clock=time.monotonic):
        self.max_failures = max_failures
        self.window_s = window_s
        self._clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def retry_after(self, client: str) -> int | None:
        """Seconds until ``client`` may try again, or None when it may now."""
        with self._lock:
            times = self._failures.get(client)
            if times is None or len(times) < self.max_failures:
                return None
            wait = self.window_s - (self._clock() - times[0])
            if wait <= 0:
                return None
            return max(1, math.ceil(wait))

    def failed(self, client: str) -> None:
        with self._lock:
            times = self._failures.pop(client, None) or deque(maxlen=self.max_failures)
            times.append(self._clock())
            self._failures[client] = times  # most recent last
            while len(self._failures) > self.MAX_CLIENTS:
                self._failures.popitem(last=False)

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._failures.pop(client, None)
