"""Benchmark: a full scoring run of a province against one SQL aggregate over the same usage (issue 5).

A province of 10,000 institutions and 30,000 meters (per institution: a main electricity meter, a water
meter, and a gas meter, an official-vehicle petrol meter or an HVAC sub-meter in turn), with monthly usage
for the scored year 2026 and the baseline 2020, registry rows for both years and all nine assessed items.
Each measured step runs in its own child process, so its peak RSS is its own:

- baseline: one aggregate, yearly use per institution and energy type over usage_monthly, fetched to the client;
- loader only: scoring.loader.load_inputs — registry, yearly usage, quality and assessed items (for the breakdown);
- full run: scoring.runner.run_scoring — load, quality, score, canonical JSON, hash, store 10,000 results;
  then the bytes one run stores (its detail column as TOAST-compressed on disk, all its rows' columns);
- breakdown (one more process, before the full runs): the run's stages timed apart (wall and CPU), and the
  store step repeated in rolled-back transactions as shipped (the run's shared strings once, `detail` as
  text, lz4 TOAST compression), with the column forced to pglz (PostgreSQL's default), with every detail's
  whole canonical JSON, and with that as jsonb (the stored format before migration 0025).

Targets: full run ≤ 3× the aggregate and < 1 GB resident. Data quality comes from raw readings (a year of
hourly readings for 30,000 meters would be 263 million rows), so this province has none: the bench
methodology is jiangsu-2026 with min_coverage 0, which keeps every institution scored (the quality query
still runs over all 26,667 counted meters).

    .venv/bin/python bench/scoring.py [--admin-url postgresql://postgres@127.0.0.1:5432/postgres]
        [--institutions 10000] [--repeat 3] [--keep]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from store import codes  # noqa: E402

CITIES = [
    "320100",
    "320200",
    "320300",
    "320400",
    "320500",
    "320600",
    "320700",
    "320800",
    "320900",
    "321000",
    "321100",
    "321200",
    "321300",
]
NORTH = {"320300", "320700", "321300"}  # 徐州, 连云港, 宿迁: 寒冷 zone in this synthetic province

AGGREGATE = """SELECT m.institution_id, m.energy_type, m.end_use, sum(u.consumption)
               FROM usage_monthly u JOIN meter m ON m.id = u.meter_id
               WHERE u.month >= '2026-01-01' AND u.month < '2027-01-01'
               GROUP BY m.institution_id, m.energy_type, m.end_use"""


def _array(values) -> str:
    return "ARRAY[" + ",".join(f"'{v}'" for v in values) + "]"


def populate(url: str, n: int) -> None:
    cities = _array(CITIES)
    north = _array(sorted(NORTH))
    # Institution g: the category codes in turn, then the category's sub-kinds (store.codes) in turn.
    cats = list(codes.CATEGORIES)
    category = f"({_array(cats)})[1 + g % {len(cats)}]"
    sub_kind = (
        f"CASE g % {len(cats)}"
        + "".join(
            f" WHEN {i} THEN ({_array(codes.SUB_KINDS[c])})[1 + (g / {len(cats)}) % {len(codes.SUB_KINDS[c])}]"
            for i, c in enumerate(cats)
            if codes.SUB_KINDS[c]
        )
        + " END"
    )
    admin_level = f"({_array(codes.ADMIN_LEVELS)})[1 + (g / 7) % {len(codes.ADMIN_LEVELS)}]"
    stmts = [
        f"""INSERT INTO institution (id, name, category, sub_kind, admin_level, region_code, climate_zone)
            SELECT 'B' || lpad(g::text, 5, '0'), '基准单位 ' || g,
                   {category},
                   {sub_kind},
                   {admin_level},
                   ({cities})[1 + g % 13],
                   CASE WHEN ({cities})[1 + g % 13] = ANY({north}) THEN 'cold' ELSE 'hot_summer_cold_winter' END
            FROM generate_series(1, {n}) g""",
        """INSERT INTO institution_year
           SELECT i.id, y, 2000 + (hashtext(i.id) & 16383), 50 + (hashtext(i.id || 'p') & 1023)
           FROM institution i, (VALUES (2020), (2025), (2026)) v(y)""",
        """INSERT INTO meter (id, institution_id, energy_type, unit, register, end_use, parent_meter_id, installed_at)
           SELECT i.id || '-e', i.id, 'electricity', 'kWh', 'interval', 'main', NULL, '2019-01-01T00:00:00+08:00'::timestamptz
           FROM institution i
           UNION ALL
           SELECT i.id || '-w', i.id, 'water', 'm3', 'interval', 'main', NULL, '2019-01-01T00:00:00+08:00'::timestamptz
           FROM institution i""",
        """INSERT INTO meter (id, institution_id, energy_type, unit, register, end_use, parent_meter_id, installed_at)
           SELECT i.id || '-x', i.id,
                  (ARRAY['natural_gas','gasoline','electricity'])[1 + substr(i.id, 2)::int % 3],
                  (ARRAY['m3','L','kWh'])[1 + substr(i.id, 2)::int % 3], 'interval',
                  (ARRAY['main','vehicle','hvac'])[1 + substr(i.id, 2)::int % 3],
                  CASE WHEN substr(i.id, 2)::int % 3 = 2 THEN i.id || '-e' END, '2019-01-01T00:00:00+08:00'::timestamptz
           FROM institution i""",
        """INSERT INTO usage_monthly
           SELECT m.id, make_date(y, mo, 1),
                  (CASE m.energy_type WHEN 'electricity' THEN 60000 WHEN 'water' THEN 400
                                      WHEN 'natural_gas' THEN 1500 ELSE 300 END)
                  * (0.5 + (hashtext(m.id || y || mo) & 1023) / 1024.0) * (CASE WHEN y = 2020 THEN 1.08 ELSE 1 END)
           FROM meter m, (VALUES (2020), (2026)) v(y), generate_series(1, 12) mo""",
        """INSERT INTO assessed_item (institution_id, year, item_code, points, evidence, entered_by, entered_at)
           SELECT i.id, 2026, it.code, it.pts * ((hashtext(i.id || it.code) & 3) + 1) / 4.0, 'bench', 'bench',
                  '2027-01-15T00:00:00Z'
           FROM institution i, (VALUES ('mgmt_organisation', 5), ('mgmt_statistics', 5), ('mgmt_rules', 5),
                ('retrofit_envelope_hvac', 6), ('retrofit_renewables', 4), ('green_purchasing', 5),
                ('water_saving', 5), ('bonus_innovation', 5), ('bonus_honours', 5)) it(code, pts)""",
        "ANALYZE",
    ]
    with psycopg.connect(url, autocommit=True) as conn:
        for s in stmts:
            conn.execute(s)


def child(kind: str, url: str, methodology: str) -> None:
    """Run one measured step in this process and print its figures as JSON."""
    from scoring.runner import run_scoring

    if kind == "breakdown":
        breakdown(url, methodology)
        return
    with psycopg.connect(url) as conn:
        t0 = time.perf_counter()
        if kind == "aggregate":
            rows = conn.execute(AGGREGATE).fetchall()
            extra = {"rows": len(rows)}
        elif kind == "load":
            from scoring.loader import load_inputs
            from scoring.methodology import load_methodology

            extra = {"institutions": len(load_inputs(conn, load_methodology(methodology), 2026))}
        else:
            run_id = run_scoring(conn, year=2026, methodology_path=methodology, created_by="bench")
            conn.commit()
            n, scored = conn.execute(
                "SELECT count(*), count(total_points) FROM scoring_result WHERE run_id = %s", (run_id,)
            ).fetchone()
            extra = {"run_id": run_id, "results": n, "scored": scored}
        seconds = time.perf_counter() - t0
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    print(json.dumps({"seconds": seconds, "peak_rss_mb": rss_mb, **extra}))


def breakdown(url: str, methodology: str) -> None:
    """Stages of a run timed apart; the store step as shipped (the stored form: shared strings once per run,
    text, lz4), with pglz, with every detail's whole canonical JSON (no shared strings), and with that as
    jsonb (the format before migration 0025)."""
    import gc

    from scoring.canonical import StoredWriter
    from scoring.compute import ResultsHasher
    from scoring.loader import load_inputs
    from scoring.methodology import load_methodology
    from scoring.runner import result_rows
    from store import scoring as store_scoring

    class KeepingHasher(ResultsHasher):
        def __init__(self) -> None:
            super().__init__()
            self.texts: list[bytes] = []

        def add(self, institution_id: str, text: str | bytes) -> None:
            super().add(institution_id, text)
            self.texts.append(text)

    gc.disable()  # as run_scoring does
    m = load_methodology(methodology)
    out: dict[str, float] = {}
    with psycopg.connect(url) as conn:
        t, c = time.perf_counter(), time.process_time()
        insts = load_inputs(conn, m, 2026)
        out["load_s"], out["load_cpu_s"] = time.perf_counter() - t, time.process_time() - c
        t, c = time.perf_counter(), time.process_time()
        digest, writer = KeepingHasher(), StoredWriter()
        rows = list(result_rows(insts, m, 2026, digest, writer))
        out["score_serialise_s"], out["score_serialise_cpu_s"] = (
            time.perf_counter() - t,
            time.process_time() - c,
        )
        out["detail_mb"] = sum(map(len, digest.texts)) / 1e6
        out["stored_detail_mb"] = sum(len(r["detail"]) for r in rows) / 1e6
        out["strings"] = len(writer.strings)
        out["strings_kb"] = sum(map(len, writer.strings)) / 1e3
        whole = [{**r, "detail": text} for r, text in zip(rows, digest.texts, strict=True)]
        conn.commit()
        # What a run costs whatever computes the scores: the canonical JSON the results hash covers, written
        # from results already scored (the scorer's own dicts, so only the writing is timed), the hash over
        # it, and the COPY of the stored form (below). With scoring and loading taken as free, these alone
        # bound the full run from below.
        from scoring.canonical import canonical_bytes
        from scoring.compute import score_dicts
        from scoring.runner import labels

        scored = list(score_dicts(insts, m, 2026, labels=labels()))
        t = time.perf_counter()
        texts = [canonical_bytes(r) for r in scored]
        out["floor_json_s"] = time.perf_counter() - t
        t = time.perf_counter()
        h = ResultsHasher()
        for r, text in zip(scored, texts, strict=True):
            h.add(r["institution_id"], text)
        out["floor_hash_s"] = time.perf_counter() - t
        assert h.hexdigest() == digest.hexdigest()
        del scored, texts

        def store(setup: str | None, rows: list[dict], strings: list[bytes]) -> tuple[float, float]:
            with conn.transaction(force_rollback=True):
                if setup:
                    conn.execute(setup)
                t, c = time.perf_counter(), time.process_time()
                store_scoring.insert_run(
                    conn,
                    year=2026,
                    region_code=None,
                    methodology_name=m.name,
                    methodology_version=m.version,
                    methodology_hash=m.hash,
                    methodology_text=m.text,
                    results_hash=digest.hexdigest(),
                    created_by="bench",
                    results=rows,
                    strings=strings,
                )
                return time.perf_counter() - t, time.process_time() - c

        out["store_s"], out["store_cpu_s"] = store(None, rows, writer.strings)
        out["store_pglz_s"], _ = store(
            "ALTER TABLE scoring_result ALTER detail SET COMPRESSION pglz", rows, writer.strings
        )
        out["store_whole_s"], _ = store(None, whole, [])
        out["store_jsonb_s"], _ = store(
            "ALTER TABLE scoring_result ALTER detail TYPE jsonb USING detail::jsonb", whole, []
        )
    print(json.dumps(out))


def measure(kind: str, url: str, methodology: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, url, methodology],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def secs(results: list[dict]) -> str:
    return ", ".join(f"{r['seconds']:.2f}" for r in results)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--institutions", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=3, help="runs of each step; the best time is compared")
    ap.add_argument("--keep", action="store_true", help="keep the benchmark database")
    ap.add_argument("--child", nargs=3, metavar=("KIND", "URL", "METHODOLOGY"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return

    from store.db import with_dbname
    from store.migrate import migrate

    name = f"jieneng_bench_scoring_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = with_dbname(args.admin_url, name)
    try:
        migrate(url, timezone="Asia/Shanghai", timescaledb="off")
        t0 = time.perf_counter()
        populate(url, args.institutions)
        with psycopg.connect(url) as conn:
            n_inst, n_met, n_usage = conn.execute(
                "SELECT (SELECT count(*) FROM institution), (SELECT count(*) FROM meter),"
                " (SELECT count(*) FROM usage_monthly)"
            ).fetchone()
        print(
            f"province: {n_inst} institutions, {n_met} meters, {n_usage} usage_monthly rows "
            f"(2020 and 2026), generated in {time.perf_counter() - t0:.1f} s"
        )
        text = (ROOT / "scoring/methodologies/jiangsu-2026.toml").read_text(encoding="utf-8")
        with tempfile.TemporaryDirectory() as tmp:
            mpath = Path(tmp) / "bench-2026.toml"
            mpath.write_text(text.replace("min_coverage = 0.9", "min_coverage = 0.0"), encoding="utf-8")
            measure("aggregate", url, str(mpath))  # warm the cache for both
            aggs = [measure("aggregate", url, str(mpath)) for _ in range(args.repeat)]
            loads = [measure("load", url, str(mpath)) for _ in range(args.repeat)]
            parts = measure(
                "breakdown", url, str(mpath)
            )  # before the runs: its ALTERs rewrite an empty table
            runs = [measure("run", url, str(mpath)) for _ in range(args.repeat)]
        with psycopg.connect(url) as conn:
            hashes = {h for (h,) in conn.execute("SELECT results_hash FROM scoring_run")}
            # one run's footprint: the detail as stored (TOAST-compressed), every column of its rows, the
            # detail's stored text, and the run's shared strings
            detail_stored, rows_stored, detail_text = conn.execute(
                """SELECT sum(pg_column_size(s.detail)), sum(pg_column_size(s.*)), sum(octet_length(s.detail))
                   FROM scoring_result s WHERE s.run_id = %s""",
                (runs[-1]["run_id"],),
            ).fetchone()
            strings_stored = conn.execute(
                "SELECT coalesce(sum(pg_column_size(s.*)), 0) FROM scoring_run_string s WHERE s.run_id = %s",
                (runs[-1]["run_id"],),
            ).fetchone()[0]
        agg = min(a["seconds"] for a in aggs)
        run = min(r["seconds"] for r in runs)
        agg_rss = max(a["peak_rss_mb"] for a in aggs)
        run_rss = max(r["peak_rss_mb"] for r in runs)
        print()
        print(f"| step | best of {args.repeat} (s) | all runs (s) | peak RSS (MB) | ratio to aggregate |")
        print("|---|---|---|---|---|")
        print(
            f"| one SQL aggregate ({aggs[0]['rows']} rows) | {agg:.2f} | "
            f"{secs(aggs)} | {agg_rss:.0f} | 1.00 |"
        )
        load = min(x["seconds"] for x in loads)
        print(
            f"| loader only: every input query + building inputs ({loads[0]['institutions']} institutions) | "
            f"{load:.2f} | {secs(loads)} | {max(x['peak_rss_mb'] for x in loads):.0f} | {load / agg:.2f} |"
        )
        print(
            f"| full scoring run ({runs[0]['results']} results, {runs[0]['scored']} scored) | {run:.2f} | "
            f"{secs(runs)} | {run_rss:.0f} | {run / agg:.2f} |"
        )
        print()
        print(
            f"target ≤ 3× aggregate: {'met' if run / agg <= 3 else 'NOT met'} ({run / agg:.2f}×); "
            f"target < 1024 MB: {'met' if run_rss < 1024 else 'NOT met'} ({run_rss:.0f} MB); "
            f"identical results hash over {len(runs)} runs: {'yes' if len(hashes) == 1 else 'NO'} "
            f"({', '.join(sorted(hashes))})"
        )
        print(
            f"stored per run: detail {detail_stored / 1e6:.1f} MB compressed ({detail_text / 1e6:.1f} MB of stored "
            f"text), all scoring_result columns {rows_stored / 1e6:.1f} MB, shared strings "
            f"{strings_stored / 1e6:.2f} MB ({parts['strings']} strings, {parts['strings_kb']:.0f} KB of JSON); "
            f"canonical JSON {parts['detail_mb']:.1f} MB"
        )
        p = parts
        print()
        print(f"breakdown of one run (its own process; {p['detail_mb']:.0f} MB of canonical JSON):")
        print("| stage | wall (s) | client CPU (s) |")
        print("|---|---|---|")
        print(f"| load: queries + building inputs | {p['load_s']:.2f} | {p['load_cpu_s']:.2f} |")
        print(
            f"| score + canonical JSON + hash (not stored) | {p['score_serialise_s']:.2f} | "
            f"{p['score_serialise_cpu_s']:.2f} |"
        )
        print(
            f"| store: COPY into scoring_result, as shipped (lz4) | {p['store_s']:.2f} | {p['store_cpu_s']:.2f} |"
        )
        print(f"| store, detail column forced to pglz (PostgreSQL's default) | {p['store_pglz_s']:.2f} | |")
        print(
            f"| store, whole canonical JSON per detail ({p['detail_mb']:.0f} MB, no shared strings) | "
            f"{p['store_whole_s']:.2f} | |"
        )
        print(
            f"| store, whole canonical JSON as jsonb (before migration 0025) | {p['store_jsonb_s']:.2f} | |"
        )
        floor = p["floor_json_s"] + p["floor_hash_s"] + p["store_s"]
        print(
            f"| floor: canonical JSON of already-scored results (what the hash covers) | {p['floor_json_s']:.2f} | |"
        )
        print(f"| floor: the results hash over it | {p['floor_hash_s']:.2f} | |")
        print(
            f"\nfloor without loading or scoring (JSON + hash + store as shipped): {floor:.2f} s, "
            f"{floor / agg:.1f}x the aggregate"
        )
        total = p["load_s"] + p["score_serialise_s"] + p["store_s"]
        print(
            f"\nstages' sum {total:.2f} s (the full run overlaps scoring with the server's COPY work); stored form "
            f"{p['stored_detail_mb']:.1f} MB of {p['detail_mb']:.1f} MB canonical"
        )
    finally:
        if not args.keep:
            with psycopg.connect(args.admin_url, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        else:
            print(f"kept database {name}")


if __name__ == "__main__":
    main()
