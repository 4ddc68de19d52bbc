"""Prometheus metrics of the ingest process (one set per process; workers are processes)."""

from __future__ import annotations

import multiprocessing as mp

from prometheus_client import REGISTRY, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

MESSAGES = Counter("jieneng_ingest_messages", "MQTT messages received and committed")
READINGS = Counter("jieneng_ingest_readings", "Readings committed, by result", ["result"])
REJECTS = Counter("jieneng_ingest_rejects", "Rejected readings or messages, by reason", ["reason"])
BATCH_ROWS = Histogram(
    "jieneng_ingest_batch_rows", "Readings per committed batch", buckets=(1, 10, 50, 100, 500, 1000, 2000, 5000, 10000)
)
COMMIT_SECONDS = Histogram(
    "jieneng_ingest_commit_seconds", "Time to write and commit one batch",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
DB_ERRORS = Counter("jieneng_ingest_db_errors", "Failed batch or rollup transactions (retried)")
BROKER_CONNECTED = Gauge("jieneng_ingest_broker_connected", "1 while connected to the MQTT broker")
PENDING_MESSAGES = Gauge("jieneng_ingest_pending_messages", "Messages received but not yet committed and acked")

# The rollup runs in a child process (ingest/rollup_worker.py); it writes these shared values and
# this process exports them.
_spawn = mp.get_context("spawn")
ROLLUP_SHARED_LAG = _spawn.Value("d", 0.0)
ROLLUP_SHARED_HOURS = _spawn.Value("q", 0)
ROLLUP_SHARED_ERRORS = _spawn.Value("q", 0)


class _RollupCollector(Collector):
    def collect(self):
        yield GaugeMetricFamily("jieneng_ingest_rollup_lag_seconds",
                                "Age of the oldest queued range when the last rollup run committed",
                                value=ROLLUP_SHARED_LAG.value)
        yield CounterMetricFamily("jieneng_ingest_rollup_meter_hours", "Meter-hours recomputed by the rollup",
                                  value=ROLLUP_SHARED_HOURS.value)
        yield CounterMetricFamily("jieneng_ingest_rollup_errors", "Failed rollup transactions (retried)",
                                  value=ROLLUP_SHARED_ERRORS.value)


REGISTRY.register(_RollupCollector())


def serve(port: int | None) -> None:
    """Expose /metrics on ``port``; None: off."""
    if port:
        start_http_server(port)
