"""What `jieneng demo` waits on: ingest accounting for the backfill, its readings stored, the rollups drained,
an HTTP server answering. Each wait has a deadline on progress, not on the whole wait, so a slow machine
waits as long as the part it waits on keeps moving.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable

import psycopg

from store.ingest_progress import accounted_items, pending_rollups, stored_in_range


def _wait_count(
    count: Callable[[], int],
    target: int,
    stop: threading.Event,
    stalled: Callable[[int], str],
    *,
    on_progress: Callable[[int], object] | None,
    stall_s: float,
    poll_s: float,
) -> int:
    """Poll ``count()`` until it reaches ``target``; the count seen (the last one when ``stop`` is set).

    Raises TimeoutError with ``stalled(count)`` when the count has not moved for ``stall_s``: a deadline on
    progress, not on the whole wait."""
    last, moved = -1, time.monotonic()
    while not stop.is_set():
        n = count()
        if on_progress is not None:
            on_progress(n)
        if n >= target:
            return n
        if n != last:
            last, moved = n, time.monotonic()
        elif time.monotonic() - moved > stall_s:
            raise TimeoutError(stalled(n))
        time.sleep(poll_s)
    return last


def wait_backfill(
    db_url: str,
    since: dt.datetime,
    items: int,
    stop: threading.Event,
    *,
    on_progress=None,
    stall_s: float = 600,
    poll_s: float = 0.5,
) -> int:
    """Until ingest has accounted for ``items`` published reading items committed since ``since``.

    Every delivery of a message counts its items, a message ingest has seen before included
    (store.ingest_progress.accounted_items): one the simulator published twice with the same bytes counts
    twice, as in ``items``; one the broker delivered twice also counts twice, hence waiting for *at least*
    ``items`` (the caller confirms with :func:`wait_stored`).

    Returns the count seen. Raises TimeoutError when the count has not moved for ``stall_s``
    (ingest down, or a broker that dropped messages): a deadline on progress, not on the whole
    wait, so a slow machine waits as long as ingest keeps going.
    """
    with psycopg.connect(db_url, autocommit=True) as conn:
        return _wait_count(
            lambda: accounted_items(conn, since),
            items,
            stop,
            lambda n: (
                f"ingest accounted for {n:,} of {items:,} published reading items and made no progress "
                f"for {stall_s:.0f} s"
            ),
            on_progress=on_progress,
            stall_s=stall_s,
            poll_s=poll_s,
        )


def wait_rollups(db_url: str, stop: threading.Event, timeout_s: float = 1800, poll_s: float = 0.5) -> bool:
    """Until no touched meter-hours wait for the rollup (the queue's rows go when its transaction commits)."""
    deadline = time.monotonic() + timeout_s
    with psycopg.connect(db_url, autocommit=True) as conn:
        while time.monotonic() < deadline and not stop.is_set():
            if pending_rollups(conn) == 0:
                return True
            time.sleep(poll_s)
    return False


def wait_stored(
    db_url: str,
    published: dict,
    tz: str,
    stop: threading.Event,
    *,
    stall_s: float = 600,
    poll_s: float = 2.0,
) -> int:
    """Until the readings stored in the backfill's range reach what it published (``simulate --report``).

    Raises TimeoutError when the count has not moved for ``stall_s``."""
    target = published["readings"]
    with psycopg.connect(db_url, autocommit=True) as conn:
        return _wait_count(
            lambda: stored_in_range(
                conn, published["start"], published["end"], published.get("interval_s"), tz
            ),
            target,
            stop,
            lambda n: f"{n:,} of {target:,} published readings stored, no progress for {stall_s:.0f} s",
            on_progress=None,
            stall_s=stall_s,
            poll_s=poll_s,
        )


def wait_http(url: str, stop: threading.Event, timeout_s: float = 60) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not stop.is_set():
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    if not stop.is_set():
        raise RuntimeError(f"{url} did not answer within {timeout_s:.0f}s")
