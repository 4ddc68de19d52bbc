"""Each meter's latest reading and its readings received per hour, as the writer keeps them.

``meter_last_reading`` and ``reading_received_hourly`` (migration 0024) must always say what ``reading``
says: the reading with the greatest ts per meter (its received_at with it), and count(*) per meter and
UTC hour of received_at. Computed here in Python from the rows of ``reading``, after batches of every
kind the writer meets: all new (the COPY path), repeats and conflicts (the merge), messages redelivered
in the same batch or a later one, readings older than the meter's latest, and two workers writing the
same meters at once.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import psycopg

from ingest.validate import GoodReading
from ingest.writer import StagedMessage, message_key, write_messages
from store import meter_activity

METERS = ("E1", "E2", "W1", "ROLL", "CAP")
T0 = datetime(2026, 7, 1, tzinfo=UTC)


def expected(conn: psycopg.Connection) -> tuple[dict, Counter]:
    rows = conn.execute("SELECT meter_id, ts, received_at FROM reading").fetchall()
    last: dict[str, tuple[datetime, datetime]] = {}
    received: Counter = Counter()
    for meter_id, ts, received_at in rows:
        if meter_id not in last or ts > last[meter_id][0]:
            last[meter_id] = (ts, received_at)
        received[(meter_id, received_at.astimezone(UTC).replace(minute=0, second=0, microsecond=0))] += 1
    return last, received


def kept(conn: psycopg.Connection) -> tuple[dict, Counter]:
    last = {
        m: (ts, r) for m, ts, r in conn.execute("SELECT meter_id, ts, received_at FROM meter_last_reading")
    }
    received = Counter(
        {
            (m, h.astimezone(UTC)): n
            for m, h, n in conn.execute("SELECT meter_id, hour, readings FROM reading_received_hourly")
        }
    )
    return last, received


def _message(rng: random.Random, received_at: datetime, n: int) -> StagedMessage:
    readings = [
        GoodReading(
            rng.choice(METERS), T0 + timedelta(minutes=15 * rng.randrange(200)), float(rng.randrange(3))
        )
        for _ in range(n)
    ]
    payload = repr(readings).encode()
    topic = "jieneng/v1/INST1/_batch"
    return StagedMessage(message_key(topic, payload), topic, received_at, readings)


def test_every_kind_of_batch_keeps_both_tables_equal_to_reading(reg_db):
    rng = random.Random(15)
    sent: list[StagedMessage] = []
    received_at = datetime(2026, 7, 3, 9, 50, tzinfo=UTC)
    with psycopg.connect(reg_db, autocommit=True) as conn:
        for batch in range(40):
            received_at += timedelta(minutes=rng.choice((1, 7, 25)))  # batches across hour boundaries
            messages = [
                _message(rng, received_at + timedelta(seconds=i), rng.randrange(1, 6)) for i in range(4)
            ]
            if sent and batch % 3 == 0:
                messages.append(rng.choice(sent))  # redelivered from an earlier batch
            if sent and batch % 3 == 1:
                # Redelivered, and now with readings stored for the first time (a meter that was not in
                # the registry then): the writer's second pass over messages seen before.
                fresh = _message(rng, received_at, 3)
                messages.append(
                    StagedMessage(rng.choice(sent).key, fresh.topic, fresh.received_at, fresh.readings)
                )
            if batch % 5 == 0:
                messages.append(messages[0])  # the same message twice in one batch
            sent += messages
            write_messages(conn, messages, try_direct=batch % 2 == 0, copy_keys=batch % 4 == 0)
            assert kept(conn) == expected(conn), f"after batch {batch}"
        last, received = expected(conn)
        assert set(last) == set(METERS) and sum(received.values()) > 100


def test_two_workers_noting_the_same_meters_neither_deadlock_nor_lose_a_count(reg_db):
    errors: list[BaseException] = []

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        try:
            with psycopg.connect(reg_db, autocommit=True) as conn:
                for _ in range(60):
                    at = datetime.now(UTC)
                    write_messages(
                        conn, [_message(rng, at, 8) for _ in range(3)], try_direct=rng.random() < 0.5
                    )
        except BaseException as exc:  # noqa: BLE001 - reported by the test's thread below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    with psycopg.connect(reg_db) as conn:
        assert kept(conn) == expected(conn)


def test_refresh_beside_live_writers_neither_deadlocks_nor_loses_a_count(reg_db):
    """Repairs recompute meters while ingest writes them: each waits for the batches noting and for the
    other repair, and they wait for it."""
    errors: list[BaseException] = []
    writing = threading.Event()
    done = threading.Event()

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        try:
            with psycopg.connect(reg_db, autocommit=True) as conn:
                for _ in range(60):
                    write_messages(
                        conn, [_message(rng, datetime.now(UTC), 8) for _ in range(3)], try_direct=True
                    )
                    writing.set()
        except BaseException as exc:  # noqa: BLE001 - reported by the test's thread below
            errors.append(exc)

    def repairer(seed: int) -> None:
        rng = random.Random(seed)
        writing.wait(timeout=600)
        try:
            with psycopg.connect(reg_db) as conn:
                while not done.is_set():  # for as long as the writers write, however fast they are
                    meters = rng.sample(METERS, 4)  # in no particular order
                    meter_activity.refresh(conn, meters if rng.random() < 0.7 else None)
                    conn.commit()
        except BaseException as exc:  # noqa: BLE001 - reported by the test's thread below
            errors.append(exc)

    writers = [threading.Thread(target=worker, args=(seed,)) for seed in (3, 4, 5)]
    repairs = [threading.Thread(target=repairer, args=(seed,)) for seed in (7, 8)]  # and each other
    for t in [*writers, *repairs]:
        t.start()
    for t in writers:
        t.join(timeout=600)
    done.set()
    for t in repairs:
        t.join(timeout=600)
    threads = [*writers, *repairs]
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    with psycopg.connect(reg_db) as conn:
        assert kept(conn) == expected(conn)


def test_refresh_recomputes_both_tables_for_rows_written_outside_ingest(reg_db):
    with psycopg.connect(reg_db) as conn:
        conn.execute(
            "INSERT INTO reading (meter_id, ts, value, received_at)"
            " SELECT m, %s + k * interval '15 min', k, %s + k * interval '7 min'"
            " FROM unnest(%s::text[]) m, generate_series(0, 30) k",
            (T0, T0, list(METERS)),
        )
        meter_activity.refresh(conn)
        assert kept(conn) == expected(conn)
        # One meter repaired by SQL: recomputed alone, the others stay.
        conn.execute("DELETE FROM reading WHERE meter_id = 'E1' AND ts > %s", (T0 + timedelta(hours=2),))
        meter_activity.refresh(conn, ["E1"])
        assert kept(conn) == expected(conn)
        # Received counts from an hour on only: earlier hours are left as they were. Every reading of
        # the meter gone (as raw retention drops them): its latest reading stays.
        before_last, before = kept(conn)
        conn.execute("DELETE FROM reading WHERE meter_id = 'E2'")
        since = T0 + timedelta(hours=2)
        meter_activity.refresh(conn, ["E2"], received_since=since)
        last, received = kept(conn)
        assert last["E2"] == before_last["E2"]
        assert {k: n for k, n in received.items() if k[0] == "E2"} == {
            k: n for k, n in before.items() if k[0] == "E2" and k[1] < since
        }
        meter_activity.refresh(conn)  # every meter, every hour
        last, received = kept(conn)
        assert last["E2"] == before_last["E2"] and not any(k[0] == "E2" for k in received)
