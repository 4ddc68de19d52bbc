"""`jieneng demo`: the whole system on one machine, on embedded defaults.

The demo is a supervisor: it resolves the database and broker (embedded when their URLs are unset),
then runs each part through its own CLI verb in a child process, exactly as an operator would run
them, so what the demo shows is what production runs.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from jieneng.demo_waits import wait_backfill, wait_http, wait_rollups, wait_stored
from jieneng.settings import Settings
from store.ingest_progress import commit_rate, db_now, stored_in_range
from store.reader_role import READER_ROLE, enable_reader_login

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples"
# The truth behind examples/projects.csv: from its installation, nj-fgw uses 18 % less electricity.
DEMO_RETROFITS = ("nj-fgw:2026-01-01:0.18:electricity",)


@dataclass
class DemoOptions:
    months: int = 13
    interval_minutes: int = 60
    seed: int = 2026
    speed: float = 60.0
    live: bool = True
    broker: str = "amqtt"  # amqtt | mosquitto; used only when JIENENG_MQTT_URL is unset
    examples_dir: Path = EXAMPLES_DIR
    backfill_from: dt.date | None = None
    backfill_to: dt.datetime | None = None
    score_year: int | None = None


@dataclass
class Demo:
    settings: Settings
    options: DemoOptions
    echo: callable = print
    children: list[tuple[str, subprocess.Popen]] = field(default_factory=list)
    stop_event: threading.Event = field(default_factory=threading.Event)
    _broker: object | None = None
    _pg_server: object | None = None

    # --- services --------------------------------------------------------------------------
    def _database_url(self) -> str:
        if self.settings.database_url:
            return self.settings.database_url
        from jieneng.embedded import embedded_database_url

        url = embedded_database_url(self.settings.data_dir, stop_on_exit=True)
        self._pg_server = self.settings.data_dir
        return url

    def _mqtt_url(self) -> tuple[str, str]:
        if self.settings.mqtt_url:
            return self.settings.mqtt_url, self.settings.mqtt_protocol
        from jieneng.embedded import start_embedded_broker

        self._broker = start_embedded_broker(
            Path(self.settings.data_dir), prefer_mosquitto=self.options.broker == "mosquitto"
        )
        protocol = "5" if self._broker.kind == "mosquitto" else "3.1.1"
        return self._broker.url, protocol

    def _env(self, db_url: str, mqtt_url: str, protocol: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "JIENENG_DATABASE_URL": db_url,
                "JIENENG_MQTT_URL": mqtt_url,
                "JIENENG_MQTT_PROTOCOL": protocol,
                "JIENENG_TIMEZONE": self.settings.timezone,
                "JIENENG_DATA_DIR": str(Path(self.settings.data_dir).resolve()),
                "JIENENG_API_HOST": self.settings.api_host,
                "JIENENG_API_PORT": str(self.settings.api_port),
                "PYTHONUNBUFFERED": "1",
            }
        )
        if self.settings.metrics_port is not None:
            env["JIENENG_METRICS_PORT"] = str(self.settings.metrics_port)
        return env

    def _run(self, env: dict, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        cmd = [sys.executable, "-m", "jieneng.cli", *args]
        res = subprocess.run(cmd, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if check and res.returncode != 0:
            raise RuntimeError(f"`jieneng {' '.join(args)}` failed ({res.returncode}):\n{res.stdout}")
        return res

    def _run_visible(self, env: dict, *args: str) -> None:
        """A step whose own output (progress bars) the user should see."""
        cmd = [sys.executable, "-m", "jieneng.cli", *args]
        proc = subprocess.Popen(cmd, env=env)
        self.children.append((args[0], proc))
        rc = proc.wait()
        self.children.remove((args[0], proc))
        if rc != 0 and not self.stop_event.is_set():
            raise RuntimeError(f"`jieneng {' '.join(args)}` failed ({rc})")

    def _spawn(self, name: str, env: dict, *args: str, log: Path) -> subprocess.Popen:
        cmd = [sys.executable, "-m", "jieneng.cli", *args]
        fh = open(log, "ab")  # noqa: SIM115 - handed to the child for its lifetime
        proc = subprocess.Popen(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT)
        self.children.append((name, proc))
        return proc

    # --- steps ---------------------------------------------------------------------------
    def run(self) -> int:
        data_dir = Path(self.settings.data_dir).resolve()
        data_dir.mkdir(parents=True, exist_ok=True)
        logs = data_dir / "logs"
        logs.mkdir(exist_ok=True)
        self.echo(f"data directory: {data_dir}")

        db_url = self._database_url()
        self.echo(
            f"database: {_redact(db_url)}" + ("" if self.settings.database_url else " (embedded pgserver)")
        )
        mqtt_url, protocol = self._mqtt_url()
        broker_kind = self._broker.kind if self._broker else "external"
        self.echo(f"mqtt broker: {mqtt_url} ({broker_kind}, MQTT {protocol})")
        if broker_kind == "amqtt":
            self.echo(
                "  note: amqtt keeps no queue for an offline session; the no-loss guarantee is for Mosquitto"
            )
        elif broker_kind == "mosquitto" and self._broker.persistence_file is not None:
            self.echo(
                f"  persistence: {self._broker.persistence_file} (on stop and every 60 s; a crash loses"
                " what arrived since)"
            )
        env = self._env(db_url, mqtt_url, protocol)

        self.echo("migrating schema ...")
        self.echo("  " + self._run(env, "db", "migrate").stdout.strip().replace("\n", "\n  "))
        self.echo(f"importing the example province from {self.options.examples_dir} ...")
        files = sorted(str(p) for p in self.options.examples_dir.glob("*.csv"))
        self.echo("  " + self._run(env, "registry", "import", *files).stdout.strip().replace("\n", "\n  "))

        self.echo(f"starting ingest (log: {logs / 'ingest.log'})")
        self._spawn("ingest", env, "ingest", log=logs / "ingest.log")

        state_file = data_dir / "demo-state.json"
        state = json.loads(state_file.read_text()) if state_file.exists() else {}
        tz = self.settings.tz
        now = dt.datetime.now(tz).replace(minute=0, second=0, microsecond=0)
        year = self.options.score_year or (now.year - 1)
        # At least `months` of history, and the whole scored year, so it has full coverage.
        start = self.options.backfill_from or min(
            _months_back(now.date(), self.options.months), dt.date(year, 1, 1)
        )
        end = self.options.backfill_to or now
        if state.get("backfilled_to"):
            start_dt = dt.datetime.fromisoformat(state["backfilled_to"])
        else:
            start_dt = dt.datetime.combine(start, dt.time(), tz)
        published = None
        if start_dt < end:
            self.echo(
                f"backfilling {start_dt:%Y-%m-%d %H:%M} → {end:%Y-%m-%d %H:%M} "
                f"every {self.options.interval_minutes} min through gateway batches ..."
            )
            report = logs / "backfill.json"
            report.unlink(missing_ok=True)
            since = _db_now(db_url)
            self._run_visible(
                env,
                "simulate",
                "--from",
                start_dt.isoformat(),
                "--to",
                end.isoformat(),
                "--interval",
                str(self.options.interval_minutes),
                "--seed",
                str(self.options.seed),
                "--report",
                str(report),
                *(a for r in DEMO_RETROFITS for a in ("--retrofit", r)),
            )
            if report.exists():
                published = json.loads(report.read_text())
        else:
            self.echo(f"history already backfilled to {start_dt:%Y-%m-%d %H:%M} (resuming)")
        if self.stop_event.is_set():
            return self.shutdown()

        caught_up = True
        if published is not None:
            self.echo(
                f"waiting for ingest to store the {published['readings']:,} published readings "
                f"(and {published['items'] - published['readings']:,} repeats and malformed items) ..."
            )
            caught_up = self._wait_backfill(db_url, since, published)
        self.echo("waiting for the rollups to finish ...")
        wait_rollups(db_url, self.stop_event)
        if published is not None and not self.stop_event.is_set():
            with psycopg.connect(db_url) as conn:
                stored = stored_in_range(
                    conn,
                    published["start"],
                    published["end"],
                    published.get("interval_s"),
                    self.settings.timezone,
                )
                rate = commit_rate(conn, since)
            self.echo(f"  {stored:,} of {published['readings']:,} published readings stored")
            if rate[0] and rate[2] > rate[1]:
                secs = (rate[2] - rate[1]).total_seconds()
                self.echo(f"  first to last commit {secs:.0f} s ({rate[0] / secs:,.0f} readings/s)")
        if self.stop_event.is_set():
            return self.shutdown()
        # Recorded only once ingest has caught up: an in-process broker loses what it still held
        # when the demo stops, and a repeated backfill only adds duplicates, which ingest counts.
        if caught_up:
            state["backfilled_to"] = end.isoformat()
            state_file.write_text(json.dumps(state))

        entered = _enter_demo_assessments(db_url, year, self.options.seed)
        if entered:
            self.echo(
                f"entered {entered} simulated assessor items for {year} (management, retrofits, purchasing, bonus)"
            )
        self.echo(f"scoring {year} ...")
        score_env = {**env, "COLUMNS": "200"}
        score_out = self._run(score_env, "score", "--year", str(year), "--limit", "10").stdout
        self.echo("  " + "\n  ".join(score_out.strip().splitlines()))
        if self.stop_event.is_set():
            return self.shutdown()
        self.echo("verifying project savings (weather from the simulator; docs/savings.md) ...")
        self._run(
            env,
            "weather",
            "simulate",
            "--from",
            start.isoformat(),
            "--to",
            end.date().isoformat(),
            "--seed",
            str(self.options.seed),
        )
        self.echo(
            "  " + self._run(env, "savings", "compute", check=False).stdout.strip().replace("\n", "\n  ")
        )

        key = state.get("api_key")
        if not key:
            key = _last_token(self._run(env, "keys", "create", "--role", "admin", "--name", "demo").stdout)
            state["api_key"] = key
            state_file.write_text(json.dumps(state))

        prov = data_dir / "grafana"
        prov_env = dict(env)
        if not self.settings.database_url:
            # The private PostgreSQL is the demo's own: give Grafana's read-only role a login there, so the
            # provisioned datasource can read and cannot write. A configured database is the operator's.
            reader_password = self.settings.grafana_db_password or state.get("grafana_password")
            if not reader_password:
                reader_password = state["grafana_password"] = secrets.token_urlsafe(18)
                state_file.write_text(json.dumps(state))
            with psycopg.connect(db_url, autocommit=True) as conn:
                enable_reader_login(conn, reader_password)
            prov_env["JIENENG_GRAFANA_DB_PASSWORD"] = reader_password
        res = self._run(prov_env, "dashboards", "provision", "--out", str(prov), check=False)
        if res.returncode == 0:
            self.echo(
                f"Grafana provisioning written to {prov} (datasource: this database as {READER_ROLE}, read-only)"
            )
        else:
            self.echo(f"Grafana provisioning not written: {res.stdout.strip()}")

        self.echo(f"starting the API (log: {logs / 'api.log'})")
        self._spawn("api", env, "api", log=logs / "api.log")
        base = f"http://{self.settings.api_host}:{self.settings.api_port}"
        wait_http(f"{base}/v1/health", self.stop_event)
        if self.stop_event.is_set():
            return self.shutdown()

        if self.options.live:
            self.echo(
                f"publishing live readings at {self.options.speed:g}× real time (log: {logs / 'simulate.log'})"
            )
            self._spawn(
                "simulate",
                env,
                "simulate",
                "--live",
                "--speed",
                str(self.options.speed),
                "--seed",
                str(self.options.seed),
                "--from",
                end.isoformat(),
                *(a for r in DEMO_RETROFITS for a in ("--retrofit", r)),
                log=logs / "simulate.log",
            )

        self.echo("")
        self.echo("jieneng demo is running. Try:")
        self.echo(f"  API key (admin): {key}")
        self.echo(f"  curl {base}/v1/health")
        self.echo(f"  curl -H 'Authorization: Bearer {key}' '{base}/v1/rankings?year={year}&limit=10'")
        self.echo(f"  curl -H 'Authorization: Bearer {key}' '{base}/v1/institutions?limit=5'")
        self.echo(f"  curl -H 'Authorization: Bearer {key}' '{base}/v1/projects'   # verified savings")
        self.echo(f"  OpenAPI: {base}/docs")
        if self.settings.metrics_port is not None:
            self.echo(f"  ingest metrics: http://127.0.0.1:{self.settings.metrics_port}/metrics")
        self.echo("Press Ctrl-C to stop.")

        while not self.stop_event.wait(1.0):
            for name, proc in list(self.children):
                if proc.poll() is not None:
                    self.echo(
                        f"{name} exited with {proc.returncode}; stopping (see {logs / (name + '.log')})"
                    )
                    self.stop_event.set()
                    self.shutdown()
                    return 1
        return self.shutdown()

    def _wait_backfill(self, db_url: str, since: dt.datetime, published: dict) -> bool:
        """Wait with a progress bar of accounted-for against published items; False if ingest stalled."""
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(
            TextColumn("ingest"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("readings stored or rejected"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
        ) as bar:
            task = bar.add_task("ingest", total=published["items"])
            try:
                wait_backfill(
                    db_url,
                    since,
                    published["items"],
                    self.stop_event,
                    on_progress=lambda n: bar.update(task, completed=min(n, published["items"])),
                )
                # The count above is at least what was published once every item is in, but a message
                # the broker delivered twice counts twice: confirm against the stored readings.
                wait_stored(db_url, published, self.settings.timezone, self.stop_event)
            except TimeoutError as exc:
                self.echo(
                    f"  warning: {exc}; going on (see the ingest log); the backfill will be repeated next time"
                )
                return False
        return True

    def shutdown(self) -> int:
        # Publisher first, then ingest (it flushes, commits and acks on SIGTERM), then the API.
        order = {"simulate": 0, "ingest": 1, "api": 2}
        for _name, proc in sorted(self.children, key=lambda c: order.get(c[0], 3)):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self.children.clear()
        if self._broker is not None:
            self._broker.stop()
            self._broker = None
        if self._pg_server is not None:
            from jieneng.embedded import stop_embedded_database

            stop_embedded_database(self._pg_server)
            self._pg_server = None
        self.echo("demo stopped")
        return 0


def _enter_demo_assessments(db_url: str, year: int, seed: int) -> int:
    """Simulated assessor entries for the scored year, once: a real deployment gets them over the API."""
    from scoring.methodology import load_methodology
    from sim.assessments import ItemSpec, simulated_assessments
    from store.assessed import has_assessed_items, set_assessed_item
    from store.registry import institution_ids

    spec = load_methodology(None).spec
    items = [
        ItemSpec(item.code, item.points, star=item.star, bonus=block.kind == "bonus")
        for block in spec.blocks
        if block.kind in ("assessed", "bonus")
        for item in block.items
    ]
    maxima = {i.code: i.max_points for i in items}  # what the entries are out of (assessed_item.out_of)
    with psycopg.connect(db_url) as conn:
        if has_assessed_items(conn, year):
            return 0
        ids = institution_ids(conn)
        entries = simulated_assessments(ids, items, year, seed)
        for e in entries:
            set_assessed_item(
                conn,
                e.institution_id,
                e.year,
                e.item_code,
                e.points,
                e.evidence,
                "demo",
                out_of=maxima[e.item_code],
            )
        conn.commit()
    return len(entries)


def _redact(url: str) -> str:
    """The database URL without its password, wherever libpq would read one (``user:pw@`` or ``?password=``)."""
    from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        netloc = netloc.replace(f":{parts.password}@", ":***@", 1)
    query = [(k, "***" if k == "password" else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    query_text = urlencode(query, quote_via=quote, safe="/*") if "password" in dict(query) else parts.query
    return urlunsplit((parts.scheme, netloc, parts.path, query_text, parts.fragment))


def _months_back(day: dt.date, months: int) -> dt.date:
    y, m = day.year, day.month - months
    while m <= 0:
        m += 12
        y -= 1
    return dt.date(y, m, 1)


def _last_token(text: str) -> str:
    for line in reversed(text.strip().splitlines()):
        for word in reversed(line.split()):
            if word.startswith("jn_"):
                return word
    raise RuntimeError(f"no API key in `jieneng keys create` output:\n{text}")


def _db_now(db_url: str) -> dt.datetime:
    with psycopg.connect(db_url) as conn:
        return db_now(conn)
