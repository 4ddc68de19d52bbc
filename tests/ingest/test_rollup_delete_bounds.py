"""The rollup's DELETEs name their meters and time span as constants, not only through the window join.

On a TimescaleDB hypertable with compressed chunks, DML whose conditions come only from a join gets
neither chunk exclusion nor segment filtering, so every compressed chunk would be decompressed; the
constant bounds let the planner touch only the chunks and segments of the meters being recomputed.
"""

from __future__ import annotations

from ingest import rollup

from .conftest import TZ, add_registry


def test_day_and_month_deletes_carry_constant_meter_and_time_bounds():
    for stmt in (rollup._DEL_DAYS, rollup._DEL_MONTHS):
        delete = stmt[stmt.index("DELETE") :]
        assert "u.meter_id = ANY(%(m)s::text[])" in delete
        assert "%(a_min)s" in delete and "%(b_max)s" in delete


def test_hourly_deletes_carry_constant_bounds(monkeypatch, db_url):
    """Every DELETE the rollup sends for usage_hourly and the event tables has the constant bounds."""
    import psycopg

    sent: list[str] = []
    real_execute = psycopg.Connection.execute

    def spy(self, query, params=None, **kw):
        sent.append(str(query))
        return real_execute(self, query, params, **kw)

    with psycopg.connect(db_url, autocommit=True) as conn:
        add_registry(conn)
        conn.execute(
            "INSERT INTO reading (meter_id, ts, value, received_at) VALUES"
            " ('E1', '2026-03-01 00:00+08', 0, now()), ('E1', '2026-03-01 02:00+08', 20, now())"
        )
        conn.execute(
            "INSERT INTO usage_dirty (meter_id, ts_min, ts_max) VALUES"
            " ('E1', '2026-03-01 00:00+08', '2026-03-01 02:00+08')"
        )
        monkeypatch.setattr(psycopg.Connection, "execute", spy)
        rollup.rollup_until_idle(conn, TZ)
        monkeypatch.undo()
        assert conn.execute("SELECT sum(consumption) FROM usage_hourly").fetchone()[0] == 20
    tables = {"usage_hourly", "usage_quarantine", "usage_counter_event"}
    deletes = [q for q in sent if q.lstrip().startswith("DELETE FROM") and q.split()[2] in tables]
    assert {q.split()[2] for q in deletes} == tables
    for q in deletes:
        assert "= ANY(%(m)s::text[])" in q and "%(a_min)s" in q and "%(b_max)s" in q, q
