"""`jieneng registry import PATH... | export DIR`: the institution and meter registry (docs/registry.md)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer

from jieneng.settings import load_settings
from jieneng.wiring import fail, read_input_files, require_schema, row_errors_exit

app = typer.Typer(
    help="Institution and meter registry: import and export CSV/XLSX files.", no_args_is_help=True
)


class ExportFormat(StrEnum):
    csv = "csv"
    xlsx = "xlsx"


@app.command("import")
def import_cmd(
    paths: list[Path] = typer.Argument(
        ...,
        metavar="PATH",
        help="CSV files (institutions, institution years, meters, reported usage, projects; each recognised by its header) "
        "and/or XLSX workbooks with one sheet of each.",
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Validate and count what would change; write nothing."
    ),
) -> None:
    """Validate every row and upsert all files in one transaction; on any error print them all and import nothing."""
    import psycopg

    from store.db import connect
    from store.registry import RegistryImportError, import_files

    files = read_input_files(paths)
    settings = load_settings()
    try:
        with connect(require_schema(settings, tables="registry tables")) as conn:
            summary = import_files(conn, files, settings.tz, dry_run=dry_run)
    except RegistryImportError as exc:
        raise row_errors_exit(exc.errors) from exc
    except psycopg.errors.UndefinedTable as exc:
        raise fail("the database has no registry tables yet: run `jieneng db migrate` first") from exc
    except psycopg.OperationalError as exc:
        raise fail(f"cannot connect to the database: {exc}") from exc
    for f in summary.files:
        typer.echo(f"read {f}")
    for label, c in (
        ("institutions", summary.institutions),
        ("institution years", summary.institution_years),
        ("meters", summary.meters),
        ("reported usage", summary.reported_usage),
    ):
        typer.echo(f"{label}: {c.inserted} inserted, {c.updated} updated, {c.unchanged} unchanged")
    p = summary.projects
    if p.inserted + p.updated + p.unchanged:
        typer.echo(f"projects: {p.inserted} inserted, {p.updated} updated, {p.unchanged} unchanged")
    if dry_run:
        typer.echo("dry run: nothing written")


@app.command("export")
def export_cmd(
    directory: Path = typer.Argument(
        ..., metavar="DIR", help="Directory to write into (created if missing)."
    ),
    fmt: ExportFormat = typer.Option(
        ExportFormat.csv,
        "--format",
        help="csv: institutions.csv, institution_years.csv, meters.csv, reported_usage.csv; "
        "xlsx: registry.xlsx with one sheet each.",
    ),
) -> None:
    """Write the registry back as files that `registry import` reads (timestamps in the deployment time zone)."""
    import psycopg

    from store.db import connect
    from store.registry import export_files

    settings = load_settings()
    try:
        with connect(require_schema(settings, tables="registry tables")) as conn:
            out = export_files(conn, settings.tz, fmt.value)
    except psycopg.errors.UndefinedTable as exc:
        raise fail("the database has no registry tables yet: run `jieneng db migrate` first") from exc
    except psycopg.OperationalError as exc:
        raise fail(f"cannot connect to the database: {exc}") from exc
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for name, data in out.items():
            (directory / name).write_bytes(data)
    except OSError as exc:
        raise fail(f"{directory}: cannot write: {exc.strerror or exc}") from exc
    for name in out:
        typer.echo(f"wrote {directory / name}")
