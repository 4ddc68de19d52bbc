"""Metric labels stay bounded whatever clients send: no key is needed to make a request counted, so
a label taken from the request (its method) would let anyone grow the API's memory (and every
Prometheus scrape) one new method name at a time."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.app import create_app
from api.config import ApiConfig


def _series(app, name: str) -> set[tuple]:
    out = set()
    for metric in app.state.metrics_registry.collect():
        for sample in metric.samples:
            if sample.name == name:
                out.add(tuple(sorted(sample.labels.items())))
    return out


def test_invented_methods_share_one_label():
    # No database is needed: every request below is refused or unmatched before any lookup.
    app = create_app(ApiConfig(database_url="postgresql://invalid.invalid/none", job_worker=False))
    client = TestClient(app, raise_server_exceptions=False)
    for i in range(300):
        client.request(f"X{i}", "/nowhere")
        client.request(f"Y{i}", "/v1/nowhere")
    series = _series(app, "jieneng_api_requests_total")
    methods = {dict(labels)["method"] for labels in series}
    assert len(methods) <= 8, sorted(methods)[:20]
    assert len(series) <= 16, len(series)
