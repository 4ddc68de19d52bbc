"""`jieneng dashboards build|push`: Grafana dashboards as code."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import typer

app = typer.Typer(help="Grafana dashboards as code: build the JSON, push it to a Grafana.", no_args_is_help=True)


@app.command("build")
def build_cmd(
    check: bool = typer.Option(False, "--check", help="Write nothing; exit 1 if the committed files are stale."),
    out: Path | None = typer.Option(None, "--out", help="Write under this directory instead of dashboards/."),
) -> None:
    """Regenerate dashboards/generated/*.json and the alert rules from dashboards/*.py.

    Alert thresholds come from JIENENG_ALERT_SILENT_HOURS and JIENENG_ALERT_NIGHT_LOAD_SHARE.
    """
    from dashboards import build
    from jieneng.settings import load_settings

    settings = load_settings()
    files = build.render(silent_hours=settings.alert_silent_hours, night_load_share=settings.alert_night_load_share)
    root = out or build.ROOT
    if check:
        stale = build.stale(files, root)
        if stale:
            typer.echo("stale generated files (run `jieneng dashboards build`):", err=True)
            for rel in stale:
                typer.echo(f"  {rel}", err=True)
            raise typer.Exit(1)
        typer.echo(f"{len(files)} generated file(s) up to date")
        return
    written = build.write(files, root)
    typer.echo(f"wrote {len(written)} of {len(files)} file(s) under {root}" + "".join(f"\n  {w}" for w in written))


def _db_target(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    return f"{host}:{parts.port or 5432}", (parts.path or "/").lstrip("/") or "postgres"


@app.command("push")
def push_cmd(
    url: str = typer.Option(..., "--url", help="Grafana base URL, e.g. https://grafana.example.org"),
    token: str = typer.Option(..., "--token", help="Grafana service-account token (Editor or Admin)."),
    db_host: str | None = typer.Option(
        None, "--db-host", help="host:port Grafana uses to reach PostgreSQL. Default: from the read database URL."
    ),
    db_name: str | None = typer.Option(None, "--db-name", help="Database name. Default: from the read database URL."),
    timescaledb: bool = typer.Option(False, "--timescaledb/--no-timescaledb", help="Datasource's TimescaleDB flag."),
    skip_datasource: bool = typer.Option(False, "--skip-datasource", help="Leave the datasource as it is."),
) -> None:
    """Health-check Grafana, create the folder and the datasource, and upsert every dashboard.

    The datasource logs in as the read-only role jieneng_grafana with JIENENG_GRAFANA_DB_PASSWORD.
    """
    from dashboards import build
    from dashboards.push import GrafanaUnhealthy, PushError, connect, datasource_payload, push
    from jieneng.settings import load_settings
    from jieneng.wiring import read_database_url

    settings = load_settings()
    datasource = None
    if not skip_datasource:
        if not (db_host and db_name) and not (settings.database_read_url or settings.database_url):
            typer.echo("error: give --db-host and --db-name, or set JIENENG_DATABASE_URL", err=True)
            raise typer.Exit(2)
        default_host, default_name = _db_target(read_database_url(settings)) if not (db_host and db_name) else ("", "")
        if not settings.grafana_db_password:
            typer.echo("warning: JIENENG_GRAFANA_DB_PASSWORD is not set; the datasource gets no password", err=True)
        datasource = datasource_payload(host=db_host or default_host, database=db_name or default_name,
                                        password=settings.grafana_db_password, timescaledb=timescaledb)
    api = connect(url, token)
    try:
        report = push(api, build.dashboards(), datasource)
    except (PushError, GrafanaUnhealthy, OSError) as exc:
        typer.echo(f"error: push to {url} failed: {exc}", err=True)
        raise typer.Exit(1) from exc
    finally:
        api.close()
    typer.echo(f"Grafana {report.grafana_version}: folder {report.folder}, datasource {report.datasource}, "
               f"{len(report.dashboards)} dashboard(s) upserted: {', '.join(report.dashboards)}")


@app.command("provision")
def provision_cmd(
    out: Path = typer.Option(..., "--out", help="Directory to write (Grafana's paths.provisioning can point here)."),
    timescaledb: bool = typer.Option(False, "--timescaledb/--no-timescaledb", help="Datasource's TimescaleDB flag."),
) -> None:
    """Write Grafana provisioning (datasource, dashboard provider, dashboards, alert rules) for this database.

    The datasource uses the read database URL (JIENENG_DATABASE_READ_URL, else JIENENG_DATABASE_URL, else
    the embedded database), with its user and password; a Unix-socket URL becomes a socket host.
    """
    from urllib.parse import parse_qs

    from dashboards.provision import provisioning_files, write_provisioning
    from jieneng.settings import load_settings
    from jieneng.wiring import read_database_url

    settings = load_settings()
    parts = urlsplit(read_database_url(settings))
    socket_dir = parse_qs(parts.query).get("host", [None])[0]
    host = socket_dir or f"{parts.hostname or 'localhost'}:{parts.port or 5432}"
    database = (parts.path or "/").lstrip("/") or "postgres"
    files = provisioning_files(
        host=host, database=database, user=parts.username or "postgres", password=parts.password or None,
        out_dir=out, timescaledb=timescaledb,
    )
    written = write_provisioning(files, out)
    typer.echo(f"wrote {len(written)} file(s) under {out}: point Grafana's paths.provisioning at it")
