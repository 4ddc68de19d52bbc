"""`jieneng <verb>`: one verb per job. Each verb group lives in its own cli_* module."""

from __future__ import annotations

import typer

from jieneng import (
    cli_api,
    cli_broker,
    cli_dashboards,
    cli_db,
    cli_demo,
    cli_ingest,
    cli_keys,
    cli_registry,
    cli_savings,
    cli_score,
    cli_settings,
    cli_simulate,
    cli_weather,
)

app = typer.Typer(
    name="jieneng",
    help="Energy and water monitoring and ranking for public institutions.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(cli_db.app, name="db")
app.add_typer(cli_registry.app, name="registry")
app.add_typer(cli_dashboards.app, name="dashboards")
app.add_typer(cli_keys.app, name="keys")
app.add_typer(cli_broker.app, name="broker")
app.add_typer(cli_weather.app, name="weather")
app.add_typer(cli_savings.app, name="savings")
cli_ingest.register(app)
cli_score.register(app)
cli_api.register(app)
cli_simulate.register(app)
cli_demo.register(app)
cli_settings.register(app)


def main() -> None:
    import psycopg

    from jieneng.wiring import database_unreachable

    try:
        app()
    except psycopg.OperationalError as exc:
        # The verb's own check passed but the database went away mid-run: still one line, no traceback.
        raise SystemExit(database_unreachable(exc).exit_code) from None


if __name__ == "__main__":
    main()
