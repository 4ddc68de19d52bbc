"""`jieneng registry …` (being built)."""

from __future__ import annotations

import typer

app = typer.Typer(help="registry (being built).", no_args_is_help=True)
