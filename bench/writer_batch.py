"""The ingest writer's time per batch, on this tree and on a base commit's tree, in the same run.

Not a test: prints one table of figures measured on this machine.

    .venv/bin/python bench/writer_batch.py --base 012556f [--meters 5000] [--batches 15] [--rounds 2]

Each tree runs in its own process (its own ``ingest.writer`` and migrations, exported with git archive for
the base) against a fresh database migrated by that tree, with ``--meters`` meters registered. A batch
is what ingest commits at its default size: 5,000 readings in 100 messages of 50, one reading per
meter (the live stream, where every reading of a batch is another meter's), each batch 15 minutes after
the last. Timed: ``write_messages`` from its start to its commit, for the all-new COPY path and for the
merge path (``try_direct=False``), median over ``--batches`` batches; the trees alternate in
``--rounds`` rounds and each tree's best round is kept (the machine is shared).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.ingest_memory import export_tree  # noqa: E402

# Run inside each tree's own interpreter process, with that tree first on sys.path.
_CHILD = textwrap.dedent(
    """
    import json, sys, time, uuid
    from datetime import UTC, datetime, timedelta
    import psycopg
    from psycopg import sql
    from store.db import with_dbname
    from store.migrate import migrate
    from ingest.validate import GoodReading
    from ingest.writer import StagedMessage, message_key, write_messages

    admin, n_meters, n_batches = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    name = "jieneng_bench_writer_" + uuid.uuid4().hex[:8]
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = with_dbname(admin, name)
    try:
        migrate(url, timezone="Asia/Shanghai", timescaledb="off")
        with psycopg.connect(url) as c:
            c.execute("INSERT INTO institution (id, name, category, admin_level, region_code, climate_zone)"
                      " VALUES ('B', 'bench', 'government', 'city', '320100', 'hot_summer_cold_winter')")
            c.execute("INSERT INTO meter (id, institution_id, energy_type, unit, register, end_use, installed_at)"
                      " SELECT 'M' || g, 'B', 'electricity', 'kWh', 'cumulative', 'main', '2020-01-01Z'"
                      " FROM generate_series(1, %s) g", (n_meters,))
            c.commit()
        t0 = datetime(2026, 7, 1, tzinfo=UTC)
        out = {}
        with psycopg.connect(url, autocommit=True) as conn:
            for direct, days in ((True, 0), (False, 100)):
                times = []
                for b in range(n_batches):
                    ts = t0 + timedelta(days=days, minutes=15 * b)
                    readings = [GoodReading(f"M{1 + i % n_meters}", ts, float(b)) for i in range(5000)]
                    now = datetime.now(UTC)
                    msgs = [StagedMessage(message_key("bench", f"{direct}/{b}/{j}".encode()), "bench", now,
                                          readings[j * 50:(j + 1) * 50]) for j in range(100)]
                    t = time.perf_counter()
                    write_messages(conn, msgs, try_direct=direct)
                    times.append(time.perf_counter() - t)
                out["direct" if direct else "merge"] = times
        print(json.dumps(out))
    finally:
        with psycopg.connect(admin, autocommit=True) as c:
            c.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    """
)


def _run(tree: Path, admin: str, meters: int, batches: int) -> dict[str, list[float]]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    res = subprocess.run(
        [sys.executable, "-c", _CHILD, admin, str(meters), str(batches)],
        cwd=tree,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--base", required=True, help="commit whose writer is the baseline")
    ap.add_argument("--meters", type=int, default=5000, help="distinct meters in a 5,000-reading batch")
    ap.add_argument("--batches", type=int, default=15)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="jieneng-bench-writer-") as tmp:
        trees = {"this": ROOT, "base": export_tree(args.base, Path(tmp))}
        best: dict[tuple[str, str], float] = {}
        for rnd in range(args.rounds):
            for name, tree in trees.items():
                for path, times in _run(tree, args.admin_url, args.meters, args.batches).items():
                    median = statistics.median(times)
                    print(f"round {rnd + 1} {name:4} {path:6} median {median * 1000:.0f} ms", flush=True)
                    key = (name, path)
                    best[key] = min(best.get(key, median), median)
    print(f"\n5,000-reading batches over {args.meters:,} meters, best round's median (ms)\n")
    print(f"| path | this tree | base {args.base} | this / base |")
    print("|---|---:|---:|---:|")
    for path in ("direct", "merge"):
        this, base = best[("this", path)], best[("base", path)]
        print(f"| {path} | {this * 1000:.0f} | {base * 1000:.0f} | {this / base:.2f} |")


if __name__ == "__main__":
    main()
