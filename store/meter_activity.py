"""Each meter's latest reading and its readings received per hour (migration 0024_meter_activity).

The ingest writer notes every batch's new readings in both tables in the batch's own transaction
(``reading_summaries_add``, called from ingest/writer.py). Rows put into ``reading`` any other way (a
bulk load, a repair by SQL, or readings an ingest older than migration 0024 wrote after the migration's
first fill, when the upgrade did not stop ingest first as compose's ``migrate`` step does) are noted by
recomputing the meters they touch from ``reading``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import psycopg

_REFRESH_ALL = "SELECT reading_summaries_refresh(ARRAY(SELECT id FROM meter), %(since)s)"
_REFRESH = "SELECT reading_summaries_refresh(%(meters)s::text[], %(since)s)"


def refresh(
    conn: psycopg.Connection, meter_ids: Sequence[str] | None = None, received_since: datetime | None = None
) -> None:
    """Recompute ``meter_last_reading`` and ``reading_received_hourly`` from ``reading``.

    ``meter_ids``: the meters to recompute (None: every registered meter). ``received_since``: recount
    received readings from this hour on only (None: all of them; a full recount reads every reading of
    those meters). A meter with no reading left keeps its latest reading (raw retention may have dropped
    them). Ingest's writers wait while it runs (it locks both tables against them until the caller's
    transaction ends), so recompute a province in pieces of meters while ingest is live. In READ
    COMMITTED, the default: a REPEATABLE READ snapshot taken before the lock could not see what the
    batches it waited for wrote, and fails with a serialization error instead.
    """
    if meter_ids is None:
        conn.execute(_REFRESH_ALL, {"since": received_since})
    else:
        conn.execute(_REFRESH, {"meters": list(meter_ids), "since": received_since})
