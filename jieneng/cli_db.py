"""`jieneng db migrate|status`."""

from __future__ import annotations

import typer

from jieneng.settings import load_settings
from jieneng.wiring import require_database

app = typer.Typer(help="Database schema: migrate and status.", no_args_is_help=True)


@app.command("migrate")
def migrate_cmd() -> None:
    """Apply pending migrations (idempotent, safe to run concurrently) and set up TimescaleDB per settings."""
    from store.migrate import migrate
    from store.timescale import TimescaleUnavailable

    settings = load_settings()
    url = require_database(settings)
    try:
        result = migrate(
            url,
            timezone=settings.timezone,
            timescaledb=settings.timescaledb.value,
            compress_after=settings.compress_after,
            raw_retention=settings.raw_retention,
            rollup_compress_after=settings.rollup_compress_after,
            hourly_retention=settings.hourly_retention,
        )
    except (TimescaleUnavailable, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    if result.applied:
        typer.echo(f"applied {len(result.applied)} migration(s): {', '.join(result.applied)}")
    else:
        typer.echo("schema up to date")
    typer.echo(f"timescaledb: {result.timescale}")


@app.command("status")
def status_cmd() -> None:
    """Show applied and pending migrations, the PostgreSQL version and which storage path is active."""
    from store.migrate import status

    settings = load_settings()
    st = status(require_database(settings))
    typer.echo(f"postgresql: {st.postgres_version}")
    typer.echo(
        f"migrations applied: {len(st.applied)}" + (f" ({', '.join(st.applied)})" if st.applied else "")
    )
    typer.echo(
        f"migrations pending: {len(st.pending)}" + (f" ({', '.join(st.pending)})" if st.pending else "")
    )
    typer.echo(f"timezone: {st.timezone or '(not migrated yet)'}")
    typer.echo(f"timescaledb: {st.timescale}")
    if st.pending:
        raise typer.Exit(1)
