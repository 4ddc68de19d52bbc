"""The default reading interval of each meter kind, as a table SQL can read (meter_interval_default).

store.codes.default_read_interval_s is the rule; `jieneng db migrate` writes its value for every
(energy type, end use, register) into meter_interval_default, which the SQL function
meter_read_interval_s() (migration 0020) applies, so dashboards and alerts judge a meter's silence by
the same interval scoring judges its coverage by.
"""

from __future__ import annotations

import psycopg

from store.codes import END_USES, ENERGY_TYPES, REGISTERS, default_read_interval_s


def default_rows() -> list[tuple[str, str, str, int]]:
    """(energy type, end use, register, default interval in s) for every kind a meter row can have."""
    return [
        (et, eu, reg, default_read_interval_s(et, eu, reg))
        for et in ENERGY_TYPES
        for eu in END_USES
        for reg in REGISTERS
    ]


_DELETE_OTHERS = """
DELETE FROM meter_interval_default WHERE (energy_type, end_use, register) NOT IN
    (SELECT * FROM unnest(%(energy_types)s::text[], %(end_uses)s::text[], %(registers)s::text[]))
"""

_UPSERT = """
INSERT INTO meter_interval_default (energy_type, end_use, register, read_interval_s)
VALUES (%(energy_type)s, %(end_use)s, %(register)s, %(read_interval_s)s)
ON CONFLICT (energy_type, end_use, register) DO UPDATE
SET read_interval_s = excluded.read_interval_s
WHERE meter_interval_default.read_interval_s <> excluded.read_interval_s
"""

_COLUMNS = ("energy_type", "end_use", "register", "read_interval_s")


def sync(conn: psycopg.Connection) -> int:
    """Make meter_interval_default match the rule (idempotent); returns the number of rows changed."""
    rows = default_rows()
    with conn.cursor() as cur:
        cur.execute(
            _DELETE_OTHERS,
            {
                "energy_types": [r[0] for r in rows],
                "end_uses": [r[1] for r in rows],
                "registers": [r[2] for r in rows],
            },
        )
        changed = cur.rowcount
        cur.executemany(_UPSERT, [dict(zip(_COLUMNS, r, strict=True)) for r in rows])
        return changed + max(cur.rowcount, 0)
