"""`jieneng score`: run a scoring and print the ranking, or explain one institution of a stored run."""

from __future__ import annotations

from pathlib import Path

import typer


def _fmt(x: float | None) -> str:
    return "—" if x is None else f"{x:.2f}"


def register(app: typer.Typer) -> None:
    @app.command("score")
    def score_cmd(
        year: int = typer.Option(None, "--year", help="Calendar year to score (local time zone)."),
        methodology: Path = typer.Option(
            None, "--methodology", help="Methodology TOML file or shipped name (default jiangsu-2026)."
        ),
        region: str = typer.Option(
            None, "--region", help="Score only this region (GB/T 2260 code) and below."
        ),
        explain: str = typer.Option(None, "--explain", help="Print one institution's whole derivation."),
        run: int = typer.Option(
            None, "--run", help="Stored run id for --explain (default: latest run of --year)."
        ),
        created_by: str = typer.Option("cli", "--by", help="Recorded as the run's creator."),
        limit: int = typer.Option(50, "--limit", min=0, help="Rows of the ranking table to print (0: all)."),
    ) -> None:
        """Score a year and store the run (prints the ranking and run id), or --explain an institution."""
        from rich.console import Console
        from rich.table import Table

        from jieneng.settings import load_settings
        from jieneng.wiring import require_schema
        from scoring.methodology import MethodologyError
        from store import scoring as store_scoring
        from store.db import connect

        settings = load_settings()
        console = Console()
        with connect(require_schema(settings)) as conn:
            if explain is not None:
                from scoring.explain import explain_lines
                from scoring.model import InstitutionResult

                run_id = run
                if run_id is None:
                    if year is None:
                        typer.echo("error: --explain needs --run ID or --year", err=True)
                        raise typer.Exit(2)
                    run_id = store_scoring.latest_run_id(conn, year)
                detail = store_scoring.get_result(conn, run_id, explain) if run_id is not None else None
                if detail is None:
                    typer.echo(f"error: no result for {explain} in run {run_id}", err=True)
                    raise typer.Exit(1)
                typer.echo(f"run {run_id}")
                for line in explain_lines(InstitutionResult.model_validate(detail)):
                    typer.echo(line)
                return
            if year is None:
                typer.echo("error: --year is required", err=True)
                raise typer.Exit(2)
            from scoring.runner import run_scoring

            try:
                run_id = run_scoring(
                    conn, year=year, methodology_path=methodology, region_code=region, created_by=created_by
                )
            except MethodologyError as exc:
                for e in exc.errors:
                    typer.echo(e, err=True)
                raise typer.Exit(2) from exc
            except ValueError as exc:
                typer.echo(f"error: {exc}", err=True)
                raise typer.Exit(2) from exc
            info = store_scoring.get_run(conn, run_id)
            rows = store_scoring.list_results(conn, run_id, limit=limit or None)
        table = Table(title=f"{year} ranking — {info['methodology_name']} {info['methodology_version']}")
        for col in (
            "#",
            "institution",
            "name",
            "city",
            "peer group",
            "total",
            "peer",
            "city#",
            "eligible",
            "leader",
            "vetoes",
        ):
            table.add_column(col)
        for r in rows:
            table.add_row(
                str(r["rank_province"] or "—"),
                r["institution_id"],
                r["name"],
                r["region_code"],
                r["peer_group"],
                _fmt(r["total_points"]),
                str(r["rank_peer"] or "—"),
                str(r["rank_city"] or "—"),
                "yes" if r["eligible"] else "no",
                "yes" if r["leader"] else "",
                ", ".join(sorted({v["code"] for v in r["vetoes"]})),
            )
        console.print(table)
        typer.echo(
            f"institutions {info['institutions']}, eligible {info['eligible']}, leaders {info['leaders']}"
        )
        typer.echo(f"results hash {info['results_hash']}")
        typer.echo(f"run id {run_id}")
