"""Small in-process caches of facts that cannot go stale."""

from __future__ import annotations

import threading
from collections import OrderedDict


class RankingTotals:
    """Row counts of ranking queries. A stored run's results never change (runs are written once, in one
    transaction), so a count for (run, scope, filters) stays right; bounded, least recently used out."""

    def __init__(self, size: int = 4096):
        self._size = size
        self._data: OrderedDict[tuple, int] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple) -> int | None:
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                return self._data[key]
            return None

    def put(self, key: tuple, value: int) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self._size:
                self._data.popitem(last=False)
