"""CPU time per reading of ingest's Python stages, this tree against a base commit, in one run.

Not a test: prints figures. The end-to-end rates of bench/ingest_memory.py swing by ±40 % on a shared
machine; process CPU time of the same work does not, so this is the comparable figure of what each
reading costs ingest's own threads (all of which share one GIL):

    .venv/bin/python bench/ingest_cpu.py --base 2950ad3

Stages, for bench/ingest.py's messages (a) 1 reading a message and (b) 100-reading gateway batches:
``parse`` (parse_message), ``key`` (the message key, where the tree has one) and ``validate``
against a registry holding every meter. Each tree runs in a subprocess of its own (exported with
git archive for the base), best of five passes.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, sys, time
root = sys.argv[1]
sys.path.insert(0, root)
from datetime import UTC, datetime
from zoneinfo import ZoneInfo
from ingest import validate as V
from ingest.parser import ParseConfig, parse_message
try:
    from ingest.writer import message_key
except ImportError:
    message_key = None
sys.path.insert(0, sys.argv[2])
from bench.ingest import messages

cfg = ParseConfig(prefix="p/v1", tz=ZoneInfo("Asia/Shanghai"), max_payload_bytes=1 << 20, max_items=10000,
                  max_future_s=900, reject_payload_chars=4096)
# Registry times as each tree's cache holds them: read from the database in the session's zone, and
# normalised to UTC by the trees whose cache does that.
installed = datetime(2020, 1, 1, tzinfo=ZoneInfo("Asia/Shanghai"))
out = {}
for label, per, n in (("a", 1, 30000), ("b", 100, 200000)):
    msgs = messages(n, per, "p/v1")
    now = datetime.now(UTC)
    parsed = [parse_message(t, p, cfg, now) for t, p in msgs]
    ids = {(r.meter_id, r.institution_id) for res in parsed for r in res.readings}
    fields = {"unit": "kWh", "register": "cumulative", "multiplier": 1.0, "rollover": None,
              "max_rate_per_h": None, "retired_at": None}
    meters = {}
    for mid, inst in ids:
        if hasattr(V, "_utc"):
            meters[mid] = V.MeterInfo(id=mid, institution_id=inst, name=None, energy_type="electricity",
                                      end_use="main", parent_meter_id=None, config_from=None,
                                      installed_at=V._utc(installed), **fields)
        else:
            meters[mid] = V.MeterInfo(mid, inst, installed_at=installed, **fields)
    best = {}
    for _ in range(5):
        t0 = time.process_time()
        res = [parse_message(t, p, cfg, now) for t, p in msgs]
        t1 = time.process_time()
        if message_key is not None:
            for t, p in msgs:
                message_key(t, p)
        t2 = time.process_time()
        for r in res:
            V.validate(r.readings, meters, 4096, None)
        t3 = time.process_time()
        for k, v in (("parse", t1 - t0), ("key", t2 - t1), ("validate", t3 - t2)):
            best[k] = min(best.get(k, float("inf")), v)
    out[label] = {k: v / n * 1e6 for k, v in best.items()}
print(json.dumps(out))
"""


def measure(tree: Path) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(tree), str(ROOT)], check=True, capture_output=True, text=True
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", required=True, help="commit to compare with")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="jieneng-bench-cpu-"))
    base = tmp / "base"
    base.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", args.base], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(base)], input=archive, check=True)
    started = time.perf_counter()
    this, before = measure(ROOT), measure(base)
    print(f"µs of CPU per reading, best of 5 passes ({time.perf_counter() - started:.0f} s)")
    print()
    print(f"| scenario | stage | this tree | base {args.base[:10]} |")
    print("|---|---|---:|---:|")
    for label, name in (("a", "(a) 1 reading/msg"), ("b", "(b) 100 readings/msg")):
        for stage in ("parse", "key", "validate"):
            print(f"| {name} | {stage} | {this[label][stage]:.2f} | {before[label][stage]:.2f} |")
        t, b = sum(this[label].values()), sum(before[label].values())
        print(f"| {name} | **total** | **{t:.2f}** | **{b:.2f}** (ratio this/base {t / b:.2f}) |")


if __name__ == "__main__":
    main()
