"""The provisioned "ingest stalled" alert: generated, on a provisioned datasource, over metrics ingest exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from dashboards import alerting, build

ROOT = Path(__file__).resolve().parents[2]


def test_ingest_stalled_rule_is_provisioned_on_prometheus():
    doc = json.loads((ROOT / "dashboards" / build.INGEST_ALERTS_FILE).read_text(encoding="utf-8"))
    (rule,) = [r for g in doc["groups"] for r in g["rules"]]
    assert rule["uid"] == "jieneng-ingest-stalled" and "ingest stalled" in rule["title"]
    ds = yaml.safe_load(
        (ROOT / "dashboards/provisioning/datasources/jieneng.yaml").read_text(encoding="utf-8")
    )
    known = {d["uid"]: d["type"] for d in ds["datasources"]}
    assert known[rule["data"][0]["datasourceUid"]] == "prometheus"
    assert rule["noDataState"] == "Alerting"  # ingest gone is a stall too


def test_ingest_stalled_rule_reads_metrics_ingest_exports():
    from prometheus_client import REGISTRY

    import ingest.metrics  # noqa: F401 - registers the collectors

    names = set(re.findall(r"jieneng_\w+", alerting.INGEST_STALLED_PROMQL))
    assert names == {"jieneng_ingest_oldest_unacked_age_seconds", "jieneng_ingest_last_commit_age_seconds"}
    # The transport collector exports these names once a transport exists.
    from ingest.transport import BrokerConfig, Transport

    # Held in a name: metrics track the transport by weak reference, so an unnamed one may be collected
    # (its paho callbacks form a cycle, freed by whichever garbage collection runs next) before REGISTRY is read.
    transport = Transport(BrokerConfig(url="mqtt://127.0.0.1:1", client_id="alert-test", topic_prefix="x"))
    exported = {m.name for m in REGISTRY.collect()}
    del transport
    assert names <= exported


def test_stall_threshold_comes_from_settings():
    rule = alerting.ingest_rules(stall_after_s=42)["groups"][0]["rules"][0]
    assert rule["data"][1]["model"]["conditions"][0]["evaluator"]["params"] == [42.0]
