"""`jieneng savings compute|show|export`: verified savings of retrofit and contract projects (docs/savings.md)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import typer

from jieneng.settings import load_settings
from jieneng.wiring import fail, require_schema

app = typer.Typer(
    help="Verified savings of projects (projects.csv): weather-normalised baselines, CalTRACK daily.",
    no_args_is_help=True,
)


def _fmt(v, digits: int = 0) -> str:
    return "-" if v is None else f"{v:,.{digits}f}"


def print_result(r: dict) -> None:
    et, unit = r["energy_type"], r["unit"]
    if r["status"] != "ok":
        typer.echo(f"  {et}: refused, data insufficient:")
        for reason in r["reasons"]:
            typer.echo(f"    - {reason}")
        return
    share = r["avoided"] / r["predicted"] if r["predicted"] else float("nan")
    typer.echo(f"  {et}: {r['reporting_from']}..{r['reporting_to']} ({r['reporting_days']} metered days)")
    typer.echo(f"    predicted {_fmt(r['predicted'])} {unit}, metered {_fmt(r['metered'])} {unit}")
    typer.echo(
        f"    avoided {_fmt(r['avoided'])} ± {_fmt(r['avoided_uncertainty'])} {unit} "
        f"({share:.1%} of predicted; {r['confidence_level']:.0%} confidence)"
    )
    typer.echo(f"    avoided {_fmt(r['avoided_kgce'])} kgce, {_fmt(r['avoided_cost_yuan'])} yuan")
    if r["year_on_year_change"] is not None:
        typer.echo(
            f"    year on year (same days, metered): {r['year_on_year_change']:+.1%}; "
            f"HDD {r['hdd']:.0f} vs {_fmt(r['previous_year_hdd'])}, CDD {r['cdd']:.0f} vs "
            f"{_fmt(r['previous_year_cdd'])} the year before"
        )


@app.command("compute")
def compute_cmd(
    project: list[str] = typer.Argument(
        None, metavar="[PROJECT]...", help="Project ids; none: every project."
    ),
    as_of: str = typer.Option(
        None, "--as-of", help="Count reporting days before this date (default: today)."
    ),
) -> None:
    """Fit each project's baseline model, compute its savings and store model, result and daily rows.
    Exit 2 when any energy type was refused for insufficient data (the reasons are printed)."""
    from savings.service import UnknownProject, verify_project
    from store.db import connect
    from store.savings import list_projects

    settings = load_settings()
    day = dt.date.fromisoformat(as_of) if as_of else dt.datetime.now(settings.tz).date()
    refused = 0
    with connect(require_schema(settings)) as conn:
        ids = project or [p.id for p in list_projects(conn)]
        if not ids:
            typer.echo("no projects in the registry (import a projects.csv with `jieneng registry import`)")
        for pid in ids:
            try:
                outcomes = verify_project(conn, pid, as_of=day)
            except UnknownProject as exc:
                raise fail(f"no project '{pid}'") from exc
            conn.commit()
            typer.echo(f"{pid}:")
            for o in outcomes:
                print_result(o.result)
                refused += o.status != "ok"
    if refused:
        raise typer.Exit(2)


@app.command("show")
def show_cmd(project: str = typer.Argument(..., metavar="PROJECT")) -> None:
    """Print a project's stored savings (run `savings compute` first)."""
    from store.db import connect
    from store.savings import get_project, results

    settings = load_settings()
    with connect(require_schema(settings)) as conn:
        p = get_project(conn, project)
        if p is None:
            raise fail(f"no project '{project}'")
        res = results(conn, project)
    typer.echo(f"{p.id}: {p.name} ({p.kind}, {p.institution_id}, contract {p.contract_ref or '-'})")
    if not res:
        typer.echo("  not computed yet: run `jieneng savings compute`")
    for r in res:
        print_result(r)


@app.command("export")
def export_cmd(
    project: str = typer.Argument(..., metavar="PROJECT"),
    out: Path = typer.Option(..., "--out", help="XLSX file to write."),
) -> None:
    """Write the hand-checkable workbook: summary, model coefficients, and every reporting day."""
    from savings.service import UnknownProject, project_workbook
    from store.db import connect

    settings = load_settings()
    with connect(require_schema(settings)) as conn:
        try:
            data = project_workbook(conn, project)
        except UnknownProject as exc:
            raise fail(f"no project '{project}'") from exc
    out.write_bytes(data)
    typer.echo(f"wrote {out}")
