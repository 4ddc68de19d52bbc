"""`jieneng dashboards build|push`: Grafana dashboards as code."""

from __future__ import annotations

from pathlib import Path

import typer
from psycopg.conninfo import conninfo_to_dict

app = typer.Typer(
    help="Grafana dashboards as code: build the JSON, push it to a Grafana.", no_args_is_help=True
)


@app.command("build")
def build_cmd(
    check: bool = typer.Option(
        False, "--check", help="Write nothing; exit 1 if the committed files are stale."
    ),
    out: Path | None = typer.Option(None, "--out", help="Write under this directory instead of dashboards/."),
) -> None:
    """Regenerate dashboards/generated/*.json and the alert rules from dashboards/*.py.

    Alert thresholds come from JIENENG_ALERT_SILENT_HOURS, JIENENG_ALERT_NIGHT_LOAD_SHARE and
    JIENENG_ALERT_NIGHT_LOAD_SHARE_BY_CATEGORY.
    """
    from dashboards import build
    from jieneng.settings import load_settings

    settings = load_settings()
    files = build.render(
        silent_hours=settings.alert_silent_hours,
        night_load_share=settings.alert_night_load_share,
        night_load_share_by_category=settings.night_load_share_limits(),
        stall_after_s=settings.ingest_stall_after_s,
    )
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
    typer.echo(
        f"wrote {len(written)} of {len(files)} file(s) under {root}" + "".join(f"\n  {w}" for w in written)
    )


def _db_target(url: str) -> tuple[str, str]:
    """(host, database) of a PostgreSQL URL as Grafana's datasource wants them.

    libpq's own parser reads the URL, so a Unix-socket URL (``postgresql://u@/db?host=/run/pg``, as the
    embedded database gives) becomes the socket folder and a TCP one ``host:port``.
    """
    info = conninfo_to_dict(url)
    host = info.get("host") or info.get("hostaddr") or "localhost"
    port = info.get("port") or "5432"
    if "," in host or "," in port:
        raise ValueError(
            f"the database URL names several hosts ({host}); Grafana's datasource takes one host: "
            "give --db-host, or set JIENENG_DATABASE_READ_URL to one server"
        )
    if not host.startswith("/"):
        # host:port as Grafana splits it (Go's net.SplitHostPort): an IPv6 address goes in brackets.
        host = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return host, info.get("dbname") or "postgres"


def _db_target_or_exit(url: str) -> tuple[str, str]:
    try:
        return _db_target(url)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


@app.command("push")
def push_cmd(
    url: str = typer.Option(..., "--url", help="Grafana base URL, e.g. https://grafana.example.org"),
    token: str = typer.Option(..., "--token", help="Grafana service-account token (Editor or Admin)."),
    db_host: str | None = typer.Option(
        None,
        "--db-host",
        help="host:port Grafana uses to reach PostgreSQL. Default: from the read database URL.",
    ),
    db_name: str | None = typer.Option(
        None, "--db-name", help="Database name. Default: from the read database URL."
    ),
    timescaledb: bool = typer.Option(
        False, "--timescaledb/--no-timescaledb", help="Datasource's TimescaleDB flag."
    ),
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
        default_host, default_name = (
            _db_target_or_exit(read_database_url(settings)) if not (db_host and db_name) else ("", "")
        )
        if not settings.grafana_db_password:
            typer.echo(
                "warning: JIENENG_GRAFANA_DB_PASSWORD is not set; the datasource gets no password", err=True
            )
        datasource = datasource_payload(
            host=db_host or default_host,
            database=db_name or default_name,
            password=settings.grafana_db_password,
            timescaledb=timescaledb,
        )
    api = connect(url, token)
    try:
        report = push(api, build.dashboards(), datasource)
    except (PushError, GrafanaUnhealthy, OSError) as exc:
        typer.echo(f"error: push to {url} failed: {exc}", err=True)
        raise typer.Exit(1) from exc
    finally:
        api.close()
    typer.echo(
        f"Grafana {report.grafana_version}: folder {report.folder}, datasource {report.datasource}, "
        f"{len(report.dashboards)} dashboard(s) upserted: {', '.join(report.dashboards)}"
    )


@app.command("provision")
def provision_cmd(
    out: Path = typer.Option(
        ..., "--out", help="Directory to write (Grafana's paths.provisioning can point here)."
    ),
    timescaledb: bool = typer.Option(
        False, "--timescaledb/--no-timescaledb", help="Datasource's TimescaleDB flag."
    ),
) -> None:
    """Write Grafana provisioning (datasource, dashboard provider, dashboards, alert rules) for this database.

    Alert thresholds come from the JIENENG_ALERT_* settings. The datasource connects to the read
    database URL's host and database (JIENENG_DATABASE_READ_URL, else JIENENG_DATABASE_URL, else the
    embedded database; a Unix-socket URL becomes a socket host) as the read-only role jieneng_grafana
    with JIENENG_GRAFANA_DB_PASSWORD, never as the URL's own (owner) user.
    """
    from dashboards import alerting
    from dashboards.provision import provisioning_files, write_provisioning
    from jieneng.settings import load_settings
    from jieneng.wiring import read_database_url
    from store.reader_role import READER_ROLE

    settings = load_settings()
    host, database = _db_target_or_exit(read_database_url(settings))
    if not settings.grafana_db_password:
        typer.echo(
            "warning: JIENENG_GRAFANA_DB_PASSWORD is not set; the datasource gets no password "
            f"(give {READER_ROLE} LOGIN and a password, see docs/dashboards.md)",
            err=True,
        )
    files = provisioning_files(
        host=host,
        database=database,
        user=READER_ROLE,
        password=settings.grafana_db_password,
        out_dir=out,
        timescaledb=timescaledb,
        alerts=alerting.rules(
            silent_hours=settings.alert_silent_hours,
            night_load_share=settings.alert_night_load_share,
            night_load_share_by_category=settings.night_load_share_limits(),
        ),
    )
    written = write_provisioning(files, out)
    typer.echo(f"wrote {len(written)} file(s) under {out}: point Grafana's paths.provisioning at it")
