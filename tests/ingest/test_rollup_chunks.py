"""Rollup memory is bounded: a long backlog is streamed and computed in pieces, with the same answer."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from ingest.rollup import run_rollup
from ingest.validate import GoodReading
from ingest.writer import StagedReading, write_batch

from .conftest import TZ, add_registry

T0 = datetime(2025, 6, 1, tzinfo=UTC)
CHUNK = 100


@pytest.fixture
def conn(db_url):
    with psycopg.connect(db_url, autocommit=True) as c:
        add_registry(c)
        yield c


def backlog(conn) -> int:
    """Three weeks of irregular readings for five meters, with resets, wraps, jumps and a CT change."""
    rng = random.Random(7)
    now = datetime.now(UTC)
    staged = []
    for meter in ("E1", "E2", "ROLL", "CAP", "W1"):
        t, v = T0, 0.0
        for _ in range(2000):
            t += timedelta(minutes=rng.choice([5, 15, 15, 15, 40, 95]), seconds=rng.randint(0, 59))
            step = rng.uniform(0, 30)
            if meter == "W1":
                v = step
            elif rng.random() < 0.005:
                v = rng.uniform(0, 50)  # a reset, or a wrap on ROLL
            elif meter == "CAP" and rng.random() < 0.01:
                v += 5000  # a jump the rate check holds out
            else:
                v = (v + step) % 10000 if meter == "ROLL" else v + step
            staged.append(StagedReading(GoodReading(meter, t, v), "t", now))
    write_batch(conn, staged, [], 1)
    # E2's CT changed half-way through, effective from a given day.
    conn.execute(
        "UPDATE meter SET multiplier = 2, config_from = %s WHERE id = 'E2'", (T0 + timedelta(days=10),)
    )
    return len(staged)


def drain(conn, chunk_rows: int) -> list:
    stats = []
    while (s := run_rollup(conn, TZ, chunk_rows=chunk_rows)) is not None and s.queued:
        stats.append(s)
    return stats


def usage(conn) -> dict[str, list[tuple]]:
    q = {
        "hourly": "SELECT meter_id, hour, consumption FROM usage_hourly ORDER BY 1, 2",
        "daily": "SELECT meter_id, day, consumption FROM usage_daily ORDER BY 1, 2",
        "monthly": "SELECT meter_id, month, consumption FROM usage_monthly ORDER BY 1, 2",
        "quarantine": "SELECT meter_id, ts_from, ts_to, increment, reason FROM usage_quarantine ORDER BY 1, 2",
        "events": "SELECT meter_id, ts_from, ts_to, kind FROM usage_counter_event ORDER BY 1, 2",
    }
    return {k: conn.execute(v).fetchall() for k, v in q.items()}


def requeue_everything(conn) -> None:
    conn.execute("TRUNCATE usage_hourly, usage_daily, usage_monthly, usage_quarantine, usage_counter_event")
    conn.execute(
        "INSERT INTO usage_dirty (meter_id, ts_min, ts_max)"
        " SELECT meter_id, min(ts), max(ts) FROM reading GROUP BY meter_id"
    )


def test_chunked_rollup_holds_few_rows_and_gives_the_unchunked_answer(conn):
    n = backlog(conn)
    chunked = drain(conn, CHUNK)
    small = usage(conn)
    requeue_everything(conn)
    whole = drain(conn, 10**9)
    big = usage(conn)

    # The chunking happened, and bounded what was held: a fetch plus one meter's piece, each about CHUNK
    # readings (a piece ends on an hour, so it may hold that hour's few readings more).
    assert sum(s.pieces for s in chunked) > 5 * (2000 // CHUNK) // 2
    assert max(s.max_rows_held for s in chunked) <= 2 * CHUNK + 20
    # Unchunked, everything was in Python at once.
    assert max(s.max_rows_held for s in whole) >= n
    assert sum(s.pieces for s in whole) == 5

    assert small["hourly"] == big["hourly"]  # each hour is summed by one piece, in the same order
    for key in ("daily", "monthly"):
        assert [r[:2] for r in small[key]] == [r[:2] for r in big[key]]
        assert [r[2] for r in small[key]] == pytest.approx([r[2] for r in big[key]])
    assert small["quarantine"] == big["quarantine"] and small["quarantine"]
    assert small["events"] == big["events"] and {e[3] for e in small["events"]} == {"reset", "rollover"}
    assert sum(s.meter_hours for s in chunked) == len(small["hourly"])
