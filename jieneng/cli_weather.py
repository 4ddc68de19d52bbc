"""`jieneng weather import PATH... | simulate`: daily mean air temperature per city (docs/savings.md)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import typer

from jieneng.settings import load_settings
from jieneng.wiring import fail, read_input_files, require_schema, row_errors_exit

app = typer.Typer(
    help="Daily mean air temperature per city: import CSV, or simulate for the demo.", no_args_is_help=True
)


def _date(text: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise typer.BadParameter(f"{text!r} is not an ISO 8601 date (YYYY-MM-DD)", param_hint=option) from exc


@app.command("import")
def import_cmd(
    paths: list[Path] = typer.Argument(
        ..., metavar="PATH", help="CSV files with region_code, date, mean_temp_c [, source]."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Validate and count; write nothing."),
) -> None:
    """Validate every row of every file and write them in one transaction; on any error print them all
    (file:line:column: message) and import nothing."""
    import psycopg

    from store.db import connect
    from store.weather import WeatherImportError, import_files

    files = read_input_files(paths)
    settings = load_settings()
    try:
        with connect(require_schema(settings)) as conn:
            n = import_files(conn, files, dry_run=dry_run)
    except WeatherImportError as exc:
        raise row_errors_exit(exc.errors) from exc
    except psycopg.errors.UndefinedTable as exc:
        raise fail("the database has no weather table yet: run `jieneng db migrate` first") from exc
    except psycopg.OperationalError as exc:
        raise fail(f"cannot connect to the database: {exc}") from exc
    typer.echo(f"weather: {n} day(s) read" + ("; dry run: nothing written" if dry_run else " and stored"))


@app.command("simulate")
def simulate_cmd(
    from_: str = typer.Option(..., "--from", help="First day (YYYY-MM-DD)."),
    to: str = typer.Option(..., "--to", help="Last day, included (YYYY-MM-DD)."),
    seed: int = typer.Option(1, help="The simulator's seed: the same temperatures its buildings respond to."),
) -> None:
    """Store the simulator's daily mean temperature of each Jiangsu city (source 'simulated, seed N')."""
    from sim.weather import CITY_NORMALS_C, daily_mean_c
    from store.db import connect
    from store.weather import WeatherRow, upsert

    first, last = _date(from_, "--from"), _date(to, "--to")
    if last < first:
        raise fail(f"--to {last} is before --from {first}")
    days = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
    rows = []
    for region in CITY_NORMALS_C:
        temps = daily_mean_c(seed, region, "", days)
        rows += [
            WeatherRow(region, d, round(float(t), 2), f"simulated, seed {seed}")
            for d, t in zip(days, temps, strict=True)
        ]
    settings = load_settings()
    with connect(require_schema(settings)) as conn:
        with conn.transaction():
            upsert(conn, rows)
    typer.echo(
        f"weather: {len(days)} day(s) for {len(CITY_NORMALS_C)} cities stored ({first}..{last}, seed {seed})"
    )
