"""`jieneng score` (being built)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("score")
    def _cmd() -> None:
        """(being built)"""
        raise typer.Exit(3)
