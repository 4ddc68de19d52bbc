"""`jieneng settings`: every setting, its environment variable, default, current value and meaning."""

from __future__ import annotations

import typer

from jieneng.settings import Settings, load_settings


def settings_rows(settings: Settings | None = None) -> list[tuple[str, str, str, str]]:
    """(environment variable, default, current value, description) for every field of Settings."""
    rows = []
    for name, field in Settings.model_fields.items():
        default = field.default
        default = getattr(default, "value", default)
        current = getattr(settings, name) if settings is not None else default
        current = getattr(current, "value", current)
        rows.append(
            (
                f"JIENENG_{name.upper()}",
                "(unset)" if default is None else str(default),
                "(unset)" if current is None else str(current),
                field.description or "",
            )
        )
    return rows


def register(app: typer.Typer) -> None:
    @app.command("settings")
    def settings_cmd(
        markdown: bool = typer.Option(False, "--markdown", help="Print the README's settings table."),
    ) -> None:
        """Show every JIENENG_* setting with its default, current value and meaning."""
        if markdown:
            typer.echo("| variable | default | what it does |")
            typer.echo("|---|---|---|")
            for env, default, _, desc in settings_rows():
                typer.echo(f"| `{env}` | `{default}` | {desc} |")
            return
        from rich.console import Console
        from rich.table import Table

        table = Table("variable", "default", "current", "what it does")
        for row in settings_rows(load_settings()):
            table.add_row(*row)
        Console().print(table)
