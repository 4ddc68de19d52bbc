"""`jieneng demo`: everything on one machine with embedded defaults."""

from __future__ import annotations

import datetime as dt
import logging
import signal
from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo_cmd(
        months: int = typer.Option(13, min=1, max=60, help="Months of history to backfill."),
        interval: int = typer.Option(
            60, min=1, max=1440, help="Minutes between simulated readings in the backfill."
        ),
        seed: int = typer.Option(2026, help="Simulator seed: the same seed gives the same province."),
        speed: float = typer.Option(60.0, min=1.0, help="Live publishing speed, × real time."),
        live: bool = typer.Option(
            True, "--live/--no-live", help="Keep publishing live readings after the backfill."
        ),
        broker: str = typer.Option(
            "amqtt", help="Embedded broker when JIENENG_MQTT_URL is unset: amqtt (in-process) or mosquitto."
        ),
        backfill_from: str = typer.Option(
            None, "--from", help="Backfill start date (YYYY-MM-DD); overrides --months."
        ),
        backfill_to: str = typer.Option(None, "--to", help="Backfill end (ISO 8601); default: now."),
        score_year: int = typer.Option(
            None, "--year", help="Year to score; default: the last complete year."
        ),
        examples: Path = typer.Option(
            None, help="Registry files to import; default: the shipped example province."
        ),
    ) -> None:
        """Run migrate, import the example province, backfill, ingest, score, serve the API and publish live."""
        from jieneng.demo import EXAMPLES_DIR, Demo, DemoOptions
        from jieneng.settings import load_settings
        from jieneng.wiring import require_broker, require_database, setup_logging

        if broker not in ("amqtt", "mosquitto"):
            raise typer.BadParameter("must be amqtt or mosquitto", param_hint="--broker")
        settings = load_settings()
        setup_logging(settings)
        # Services the demo starts itself need no check; ones it is pointed at must answer first.
        if settings.database_url:
            require_database(settings)
        if settings.mqtt_url:
            require_broker(settings.mqtt_url)
        # pgserver logs every initdb line; amqtt logs a warning and a traceback for every QoS 1
        # delivery not acked within its fixed 5 s, which ingest's ack-after-commit exceeds in a
        # backfill (the message was delivered; amqtt only stops tracking it).
        logging.getLogger("pgserver").setLevel(logging.WARNING)
        logging.getLogger("transitions").setLevel(logging.WARNING)
        logging.getLogger("amqtt").setLevel(logging.CRITICAL)
        try:
            start = dt.date.fromisoformat(backfill_from) if backfill_from else None
            end = dt.datetime.fromisoformat(backfill_to) if backfill_to else None
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from exc
        if end is not None and end.tzinfo is None:
            end = end.replace(tzinfo=settings.tz)
        opts = DemoOptions(
            months=months,
            interval_minutes=interval,
            seed=seed,
            speed=speed,
            live=live,
            broker=broker,
            examples_dir=examples or EXAMPLES_DIR,
            backfill_from=start,
            backfill_to=end,
            score_year=score_year,
        )
        demo = Demo(settings, opts, echo=typer.echo)

        def on_signal(signum, frame):  # noqa: ARG001 - signal handler signature
            demo.stop_event.set()

        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
        try:
            rc = demo.run()
        except Exception as exc:
            typer.echo(f"error: {exc}", err=True)
            demo.shutdown()
            raise typer.Exit(1) from exc
        raise typer.Exit(rc)
