"""`jieneng keys create|list|revoke`: API keys for the assessor API (stored hashed)."""

from __future__ import annotations

import typer

app = typer.Typer(help="API keys: create (the secret is shown once), list, revoke.", no_args_is_help=True)


def _url() -> str:
    from jieneng.settings import load_settings
    from jieneng.wiring import require_schema

    return require_schema(load_settings())


@app.command("create")
def create_cmd(
    role: str = typer.Option(..., help="admin, assessor, city_assessor or institution."),
    name: str = typer.Option(..., help="Who or what uses the key (kept in the access log)."),
    region: str = typer.Option(None, help="GB/T 2260 region code (city_assessor)."),
    institution: str = typer.Option(None, help="Institution id (institution)."),
    expires_days: int = typer.Option(
        None,
        "--expires-days",
        min=1,
        help="Days until the key stops working (default: settings api_key_expiry_days; none: never).",
    ),
) -> None:
    """Create a key and print it once: store it now, it cannot be shown again."""
    from datetime import UTC, datetime, timedelta

    from jieneng.settings import load_settings
    from store import api_keys
    from store.api_keys import KeyError_
    from store.db import connect

    days = expires_days if expires_days is not None else load_settings().api_key_expiry_days
    expires_at = datetime.now(UTC) + timedelta(days=days) if days else None
    with connect(_url()) as conn:
        try:
            key, token = api_keys.create_key(
                conn,
                role=role,
                name=name,
                region_code=region,
                institution_id=institution,
                expires_at=expires_at,
            )
        except KeyError_ as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from exc
    scope = key.region_code or key.institution_id or "all"
    until = f", expires {key.expires_at:%Y-%m-%d %H:%M %Z}" if key.expires_at else ""
    typer.echo(f"key {key.id} ({key.role}, scope {scope}{until}) created for {key.name}")
    typer.echo(token)


@app.command("list")
def list_cmd(all_: bool = typer.Option(False, "--all", help="Include revoked keys.")) -> None:
    """List keys (never their secrets)."""
    from store import api_keys
    from store.db import connect

    with connect(_url()) as conn:
        keys = api_keys.list_keys(conn, include_revoked=all_)
    for k in keys:
        scope = k.region_code or k.institution_id or "all"
        state = f"revoked {k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "active"
        if k.expires_at and not k.revoked_at:
            state += f" until {k.expires_at:%Y-%m-%d %H:%M}"
        typer.echo(
            f"{k.id}\tjn_{k.prefix}_…\t{k.role}\t{scope}\t{k.name}\t{k.created_at:%Y-%m-%d %H:%M}\t{state}"
        )


@app.command("revoke")
def revoke_cmd(key_id: int = typer.Argument(..., help="The key's id (from `keys list`).")) -> None:
    """Revoke a key; requests with it get 401 from now on."""
    from store import api_keys
    from store.db import connect

    with connect(_url()) as conn:
        ok = api_keys.revoke_key(conn, key_id)
    if not ok:
        typer.echo(f"error: no active key {key_id}", err=True)
        raise typer.Exit(1)
    typer.echo(f"key {key_id} revoked")
