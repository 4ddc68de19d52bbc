"""Wiring shared by the CLI verbs: settings once, database URL resolved once, and the checks every
verb runs before its work (database reachable, schema as new as the code, broker reachable).

An expected failure goes through :func:`fail`: one line on stderr saying what to do, a non-zero exit,
no traceback (docs/design.md §9).
"""

from __future__ import annotations

import logging
import socket
import sys
from urllib.parse import urlsplit

import typer

from jieneng.settings import Settings

# A database or broker that does not answer within this long is reported, not waited on forever.
CONNECT_TIMEOUT_S = 10
SETUP_EXIT_CODE = 2


def fail(message: str, exit_code: int = SETUP_EXIT_CODE) -> typer.Exit:
    """Print an expected failure as one ``error: ...`` line on stderr; raise what this returns.

    Newlines in ``message`` (a server's hint, say) are folded, so the failure stays one line.
    """
    typer.echo(f"error: {' '.join(message.split())}", err=True)
    return typer.Exit(exit_code)


def read_input_files(paths) -> list[tuple[str, bytes]]:
    """(name, bytes) of each path, for the import verbs; an unreadable one is a one-line failure."""
    files = []
    for p in paths:
        try:
            files.append((str(p), p.read_bytes()))
        except OSError as exc:
            raise fail(f"{p}: cannot read: {exc.strerror or exc}") from exc
    return files


def row_errors_exit(errors) -> typer.Exit:
    """Print every bad row (``file:line:column: message``) and the count; raise what this returns."""
    for e in errors:
        typer.echo(str(e), err=True)
    typer.echo(f"{len(errors)} error(s); nothing imported", err=True)
    return typer.Exit(2)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    line = text.splitlines()[0].strip()
    # libpq prefixes every failure with this; the reason after it is what helps.
    return line.removeprefix("connection failed: ")


def database_unreachable(exc: BaseException) -> typer.Exit:
    return fail(
        f"cannot connect to the database ({_first_line(exc)}): check JIENENG_DATABASE_URL and that PostgreSQL is running"
    )


def require_database(settings: Settings) -> str:
    """The database URL, once a connection to it has succeeded (for verbs that need no schema)."""
    import psycopg

    url = database_url(settings)
    try:
        psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT_S).close()
    except psycopg.OperationalError as exc:
        raise database_unreachable(exc) from exc
    return url


def require_schema(settings: Settings, *, tables: str = "jieneng tables") -> str:
    """The database URL, once the database is reachable and has every migration this code ships.

    ``tables`` names what is missing on a database never migrated (a verb may say which of its
    tables it needs). Called by every verb that reads or writes the schema, before its work.
    """
    return check_schema(database_url(settings), tables=tables)


def check_schema(url: str, *, tables: str = "jieneng tables") -> str:
    import psycopg

    from store.migrate import code_migrations, pending_migrations

    try:
        with psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT_S) as conn:
            pending = pending_migrations(conn)
    except psycopg.OperationalError as exc:
        raise database_unreachable(exc) from exc
    if pending and pending == code_migrations():
        raise fail(f"the database has no {tables} yet: run `jieneng db migrate` first")
    if pending:
        raise fail(
            f"the database schema is older than the code ({len(pending)} migration(s) pending: "
            f"{', '.join(pending)}): run `jieneng db migrate`"
        )
    return url


def require_broker(mqtt_url: str) -> None:
    """Fail in one line when nothing listens at the broker's address (once running, ingest reconnects itself)."""
    parts = urlsplit(mqtt_url)
    host = parts.hostname or "localhost"
    try:
        port = parts.port or (8883 if parts.scheme in ("mqtts", "ssl") else 1883)
    except ValueError as exc:
        raise fail(f"JIENENG_MQTT_URL has a bad port ({exc})") from exc
    try:
        socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise fail(
            f"cannot reach the MQTT broker at {host}:{port} ({reason}): check JIENENG_MQTT_URL and that the broker is running"
        ) from exc


def database_url(settings: Settings) -> str:
    """The configured URL, or a private PostgreSQL under ``data_dir`` (docs/design.md §8)."""
    if settings.database_url:
        return settings.database_url
    from jieneng.embedded import embedded_database_url

    return embedded_database_url(settings.data_dir)


def read_database_url(settings: Settings) -> str:
    return settings.database_read_url or database_url(settings)


def setup_logging(settings: Settings) -> None:
    if settings.log_json:
        import json

        class JsonFormatter(logging.Formatter):
            def format(self, record: logging.LogRecord) -> str:
                out = {
                    "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
                    "level": record.levelname,
                    "logger": record.name,
                    "msg": record.getMessage(),
                }
                extra = getattr(record, "fields", None)
                if isinstance(extra, dict):
                    out.update(extra)
                if record.exc_info:
                    out["exc"] = self.formatException(record.exc_info)
                return json.dumps(out, ensure_ascii=False, default=str)

        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        logging.basicConfig(level=settings.log_level.upper(), handlers=[handler], force=True)
    else:
        logging.basicConfig(
            level=settings.log_level.upper(),
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
            force=True,
        )
