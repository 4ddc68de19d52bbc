"""Prometheus metrics of the ingest process (one set per process; workers are processes), and /health.

The metrics server answers ``/metrics`` and ``/health``. ``/health`` is 503 while ingest is stalled:
messages have waited unacknowledged for longer than ``stall_after_s`` and nothing committed in
that time (a slow or hung database, a stuck writer); 200 otherwise, idle included.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import threading
import weakref
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

MESSAGES = Counter("jieneng_ingest_messages", "MQTT messages received and committed")
READINGS = Counter("jieneng_ingest_readings", "Readings committed, by result", ["result"])
REJECTS = Counter("jieneng_ingest_rejects", "Rejected readings or messages, by reason", ["reason"])
BATCH_ROWS = Histogram(
    "jieneng_ingest_batch_rows",
    "Readings per committed batch",
    buckets=(1, 10, 50, 100, 500, 1000, 2000, 5000, 10000),
)
COMMIT_SECONDS = Histogram(
    "jieneng_ingest_commit_seconds",
    "Time to write and commit one batch",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
DB_ERRORS = Counter("jieneng_ingest_db_errors", "Failed batch or rollup transactions (retried)")
BROKER_CONNECTED = Gauge("jieneng_ingest_broker_connected", "1 while connected to the MQTT broker")
PENDING_MESSAGES = Gauge(
    "jieneng_ingest_pending_messages", "Messages received but not yet committed and acked"
)

# The rollup runs in a child process (ingest/rollup_worker.py); it writes these shared values and
# this process exports them.
_spawn = mp.get_context("spawn")
ROLLUP_SHARED_LAG = _spawn.Value("d", 0.0)
ROLLUP_SHARED_HOURS = _spawn.Value("q", 0)
ROLLUP_SHARED_ERRORS = _spawn.Value("q", 0)


class _RollupCollector(Collector):
    def collect(self):
        yield GaugeMetricFamily(
            "jieneng_ingest_rollup_lag_seconds",
            "Age of the oldest queued range when the last rollup run committed",
            value=ROLLUP_SHARED_LAG.value,
        )
        yield CounterMetricFamily(
            "jieneng_ingest_rollup_meter_hours",
            "Meter-hours recomputed by the rollup",
            value=ROLLUP_SHARED_HOURS.value,
        )
        yield CounterMetricFamily(
            "jieneng_ingest_rollup_errors",
            "Failed rollup transactions (retried)",
            value=ROLLUP_SHARED_ERRORS.value,
        )


REGISTRY.register(_RollupCollector())


# The transport whose state /health and the undelivered gauges report (one per process; the last
# one built, which in a test process running several services is the newest).
_transport: weakref.ref | None = None


def track(transport) -> None:
    global _transport
    _transport = weakref.ref(transport)


def _tracked():
    return _transport() if _transport is not None else None


class _TransportCollector(Collector):
    def collect(self):
        t = _tracked()
        if t is None:
            return
        held_messages, held_bytes = t.held()
        yield GaugeMetricFamily(
            "jieneng_ingest_undelivered_messages",
            "Messages received and not yet committed (inbox and open batches, any QoS)",
            value=held_messages,
        )
        yield GaugeMetricFamily(
            "jieneng_ingest_undelivered_bytes",
            "Payload and topic bytes of the undelivered messages",
            value=held_bytes,
        )
        yield GaugeMetricFamily(
            "jieneng_ingest_undelivered_messages_limit",
            "JIENENG_INGEST_MAX_UNDELIVERED_MESSAGES",
            value=t.cfg.max_undelivered_messages,
        )
        yield GaugeMetricFamily(
            "jieneng_ingest_undelivered_bytes_limit",
            "JIENENG_INGEST_MAX_UNDELIVERED_BYTES",
            value=t.cfg.max_undelivered_bytes,
        )
        yield GaugeMetricFamily(
            "jieneng_ingest_last_commit_age_seconds",
            "Seconds since the last batch committed (since start before the first)",
            value=t.last_commit_age_s(),
        )
        yield GaugeMetricFamily(
            "jieneng_ingest_oldest_unacked_age_seconds",
            "Age of the oldest message received and not yet committed; 0 when none",
            value=t.oldest_unacked_age_s(),
        )


REGISTRY.register(_TransportCollector())


def health(stall_after_s: float) -> tuple[bool, dict]:
    """(healthy, details): unhealthy when messages wait and nothing committed for ``stall_after_s``."""
    t = _tracked()
    if t is None:
        return True, {"status": "starting"}
    held_messages, _ = t.held()
    oldest = t.oldest_unacked_age_s()
    last_commit = t.last_commit_age_s()
    stalled = held_messages > 0 and oldest > stall_after_s and last_commit > stall_after_s
    return not stalled, {
        "status": "stalled" if stalled else "ok",
        "undelivered_messages": held_messages,
        "oldest_unacked_age_s": round(oldest, 3),
        "last_commit_age_s": round(last_commit, 3),
        "stall_after_s": stall_after_s,
        "broker_connected": t.connected.is_set(),
    }


def _handler(stall_after_s: float):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's naming
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                body, ctype, code = generate_latest(REGISTRY), CONTENT_TYPE_LATEST, 200
            elif path == "/health":
                ok, details = health(stall_after_s)
                body, ctype, code = json.dumps(details).encode(), "application/json", 200 if ok else 503
            else:
                body, ctype, code = b"not found: /metrics or /health\n", "text/plain", 404
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):  # quiet: scraped every few seconds
            pass

    return Handler


def serve(port: int | None, stall_after_s: float = 300.0) -> ThreadingHTTPServer | None:
    """Serve /metrics and /health on ``port``; None: off."""
    if not port:
        return None
    server = ThreadingHTTPServer(("0.0.0.0", port), _handler(stall_after_s))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="metrics-http", daemon=True).start()
    return server
