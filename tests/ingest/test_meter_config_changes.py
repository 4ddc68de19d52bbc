"""meter_config_changes (migration 0017) against the definition it replaces (migration 0011: the
period in force at each boundary looked up by meter_config_at), on arbitrary pairs of histories."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# Migration 0011's definition, kept here as the reference.
_REFERENCE = """
WITH b AS (
    SELECT '-infinity'::timestamptz AS t
    UNION SELECT valid_from FROM unnest(%(o)s::meter_config[]) WHERE valid_from > (SELECT min(valid_from) FROM unnest(%(o)s::meter_config[]))
    UNION SELECT valid_from FROM unnest(%(n)s::meter_config[]) WHERE valid_from > (SELECT min(valid_from) FROM unnest(%(n)s::meter_config[]))
), seg AS (
    SELECT t AS lo, lead(t, 1, 'infinity') OVER (ORDER BY t) AS hi,
           meter_config_at(%(o)s::meter_config[], t) AS a, meter_config_at(%(n)s::meter_config[], t) AS n
    FROM b
)
SELECT lo::text, hi::text FROM seg
WHERE (a).meter_id IS NULL
   OR ((a).unit, (a).register, (a).multiplier, (a).rollover, (a).max_rate_per_h)
      IS DISTINCT FROM ((n).unit, (n).register, (n).multiplier, (n).rollover, (n).max_rate_per_h)
ORDER BY lo
"""
_NEW = "SELECT lo::text, hi::text FROM meter_config_changes(%(o)s::meter_config[], %(n)s::meter_config[]) ORDER BY lo"
T0 = datetime(2026, 1, 1, tzinfo=UTC)

period = st.tuples(
    st.one_of(st.none(), st.integers(0, 40)),
    st.sampled_from([1.0, 2.0]),
    st.sampled_from(["cumulative", "interval"]),
)
history = st.lists(period, max_size=8, unique_by=lambda p: p[0])


def _array(h: list[tuple]) -> str:
    rows = []
    for day, mult, register in h:
        vf = "-infinity" if day is None else (T0 + timedelta(days=day)).isoformat()
        rows.append(f'"(m1,\\"{vf}\\",kWh,{register},{mult},,)"')
    return "{" + ",".join(rows) + "}"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(old=history, new=history)
def test_changes_match_the_reference_definition(db_url, old, new):
    with psycopg.connect(db_url, autocommit=True) as c:
        params = {"o": _array(old), "n": _array(new)}
        assert c.execute(_NEW, params).fetchall() == c.execute(_REFERENCE, params).fetchall()
