"""The shell speaks for the whole CLI: a database that is unmigrated, older than the code or unreachable,
and a broker that is unreachable, each give every verb one line on stderr with the fix and a non-zero
exit, never a traceback. Every verb runs as a subprocess, as an operator runs it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
import typer.main

from jieneng.cli import app

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"

# Every verb that reads or writes the schema, with arguments that would otherwise make it do its work.
SCHEMA_VERBS: dict[str, list[str]] = {
    "api": ["api"],
    "broker acl": ["broker", "acl", "--out", "{tmp}/auth"],
    "ingest": ["ingest"],
    "keys create": ["keys", "create", "--role", "admin", "--name", "ops"],
    "keys list": ["keys", "list"],
    "keys revoke": ["keys", "revoke", "1"],
    "registry export": ["registry", "export", "{tmp}/out"],
    "registry import": ["registry", "import", str(EXAMPLES / "institutions.csv")],
    "score": ["score", "--year", "2025"],
    "simulate": ["simulate", "--from", "2025-02-01", "--to", "2025-02-02"],
    "savings compute": ["savings", "compute"],
    "savings show": ["savings", "show", "p1"],
    "savings export": ["savings", "export", "p1", "--out", "{tmp}/savings.xlsx"],
    "weather import": ["weather", "import", str(EXAMPLES / "institutions.csv")],
    "weather simulate": ["weather", "simulate", "--from", "2025-02-01", "--to", "2025-02-02"],
}
# Verbs that need the database but not the schema (they make or report it).
DATABASE_VERBS: dict[str, list[str]] = {
    "db migrate": ["db", "migrate"],
    "db status": ["db", "status"],
    "demo": ["demo", "--no-live"],
}
# Verbs that touch neither (they write files or talk to Grafana only).
NO_DATABASE_VERBS = {"dashboards build", "dashboards push", "dashboards provision", "settings"}
BROKER_VERBS = ("ingest", "simulate")


def _verbs(command, prefix: str = "") -> set[str]:
    subs = getattr(command, "commands", None)
    if not subs:
        return {prefix}
    out: set[str] = set()
    for name, sub in subs.items():
        out |= _verbs(sub, f"{prefix} {name}".strip())
    return out


def closed_port() -> int:
    """A port nothing listens on: bound by us, then released."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def jieneng(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("JIENENG_")}
    full_env.update(
        JIENENG_DATA_DIR=str(tmp_path / "data"),
        JIENENG_METRICS_PORT=str(closed_port()),
        JIENENG_API_PORT=str(closed_port()),
        **env,
    )
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    return subprocess.run(
        [sys.executable, "-m", "jieneng.cli", *args],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def assert_one_line(r: subprocess.CompletedProcess, verb: str, *wanted: str) -> None:
    assert r.returncode != 0, f"{verb}: exit 0\n{r.stdout}{r.stderr}"
    assert "Traceback" not in r.stderr, f"{verb}:\n{r.stderr}"
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, f"{verb}: stderr is not one line:\n{r.stderr}"
    assert lines[0].startswith("error: "), f"{verb}: {lines[0]}"
    for w in wanted:
        assert w in lines[0], f"{verb}: {w!r} not in {lines[0]!r}"


def test_every_verb_is_classified():
    """A new verb must say whether it needs the schema, so the shell's check cannot be forgotten."""
    verbs = _verbs(typer.main.get_command(app))
    classified = set(SCHEMA_VERBS) | set(DATABASE_VERBS) | NO_DATABASE_VERBS
    assert verbs == classified, (
        f"unclassified: {sorted(verbs - classified)}; gone: {sorted(classified - verbs)}"
    )


@pytest.mark.parametrize("verb", sorted(SCHEMA_VERBS))
def test_unmigrated_database_says_run_db_migrate(verb, empty_db_url, mqtt_url, tmp_path):
    r = jieneng(SCHEMA_VERBS[verb], tmp_path, JIENENG_DATABASE_URL=empty_db_url, JIENENG_MQTT_URL=mqtt_url)
    assert_one_line(r, verb, "run `jieneng db migrate`")
    assert r.returncode == 2
    with psycopg.connect(empty_db_url) as conn:  # the check only reads: not even yoyo's tables appear
        assert conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()[0] == 0


@pytest.mark.parametrize("verb", sorted(SCHEMA_VERBS))
def test_schema_older_than_the_code_says_run_db_migrate(verb, db_url, mqtt_url, tmp_path):
    with psycopg.connect(db_url) as conn:
        last = conn.execute("SELECT max(migration_id) FROM _yoyo_migration").fetchone()[0]
        conn.execute("DELETE FROM _yoyo_migration WHERE migration_id = %s", (last,))
    r = jieneng(SCHEMA_VERBS[verb], tmp_path, JIENENG_DATABASE_URL=db_url, JIENENG_MQTT_URL=mqtt_url)
    assert_one_line(r, verb, "older than the code", last, "run `jieneng db migrate`")


@pytest.mark.parametrize("verb", sorted(SCHEMA_VERBS | DATABASE_VERBS))
def test_unreachable_database_is_one_line(verb, mqtt_url, tmp_path):
    url = f"postgresql://postgres@127.0.0.1:{closed_port()}/jieneng"
    args = (SCHEMA_VERBS | DATABASE_VERBS)[verb]
    r = jieneng(args, tmp_path, JIENENG_DATABASE_URL=url, JIENENG_MQTT_URL=mqtt_url)
    assert_one_line(r, verb, "cannot connect to the database", "Connection refused", "JIENENG_DATABASE_URL")


@pytest.mark.parametrize("verb", BROKER_VERBS)
def test_unreachable_broker_is_one_line(verb, db_url, tmp_path):
    port = closed_port()
    r = jieneng(
        SCHEMA_VERBS[verb], tmp_path, JIENENG_DATABASE_URL=db_url, JIENENG_MQTT_URL=f"mqtt://127.0.0.1:{port}"
    )
    assert_one_line(r, verb, f"cannot reach the MQTT broker at 127.0.0.1:{port}", "JIENENG_MQTT_URL")


def test_pending_migrations_reads_only(empty_db_url, db_url):
    from store.migrate import migrations_dir, pending_migrations

    every = sorted(p.stem for p in Path(migrations_dir()).glob("*.sql") if not p.stem.endswith(".rollback"))
    with psycopg.connect(empty_db_url) as conn:
        assert pending_migrations(conn) == every
    with psycopg.connect(db_url) as conn:
        assert pending_migrations(conn) == []
