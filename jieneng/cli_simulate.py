"""`jieneng simulate`: realistic meter readings for the registry's institutions, published over MQTT."""

from __future__ import annotations

import datetime as dt
import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

from jieneng.settings import load_settings
from jieneng.wiring import fail, require_broker, require_schema, setup_logging


def _parse_when(text: str, tz: str, option: str) -> dt.datetime:
    from zoneinfo import ZoneInfo

    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise typer.BadParameter(f"{text!r} is not an ISO 8601 date or date-time", param_hint=option) from exc
    return when if when.tzinfo else when.replace(tzinfo=ZoneInfo(tz))


def register(app: typer.Typer) -> None:
    @app.command("simulate")
    def _cmd(
        from_: Annotated[
            str | None,
            typer.Option(
                "--from",
                help="Backfill from this date/time (ISO 8601; "
                "naive means the deployment time zone). Not before 2024-01-01.",
            ),
        ] = None,
        to: Annotated[
            str | None, typer.Option("--to", help="Backfill up to this date/time. Default: now.")
        ] = None,
        live: Annotated[
            bool,
            typer.Option(
                "--live/--no-live",
                help="Keep publishing after the backfill (the default when --from is not given).",
            ),
        ] = False,
        speed: Annotated[
            float,
            typer.Option(
                help="Live mode: simulated seconds per wall-clock second. "
                "Simulated time never passes the real clock."
            ),
        ] = 1.0,
        seed: Annotated[int, typer.Option(help="Same seed, same readings, byte for byte.")] = 1,
        interval: Annotated[
            int, typer.Option(help="Minutes between readings: a multiple of 15 that divides a day.")
        ] = 15,
        institution: Annotated[
            list[str] | None, typer.Option(help="Only these institution ids (repeatable).")
        ] = None,
        faults_log: Annotated[
            Path | None, typer.Option(help="Append every injected fault as a JSON line here.")
        ] = None,
        no_faults: Annotated[
            bool, typer.Option("--no-faults", help="Clean data: all fault rates zero.")
        ] = False,
        gap_rate: Annotated[
            float, typer.Option(help="Per meter-day: a run of 1-16 readings never sent.")
        ] = 0.02,
        reset_rate: Annotated[
            float, typer.Option(help="Per meter-day: the counter restarts from zero.")
        ] = 0.002,
        replacement_rate: Annotated[
            float, typer.Option(help="Per meter-day: meter swapped (gap, new counter).")
        ] = 0.0005,
        jump_rate: Annotated[
            float, typer.Option(help="Per meter-day: implausible counter leap (quarantined).")
        ] = 0.001,
        duplicate_rate: Annotated[float, typer.Option(help="Per reading: sent again, same value.")] = 0.001,
        conflict_rate: Annotated[
            float, typer.Option(help="Per reading: sent again, different value.")
        ] = 0.0002,
        backlog_rate: Annotated[
            float, typer.Option(help="Per institution-day: 2-12 h outage delivered late.")
        ] = 0.01,
        malformed_rate: Annotated[
            float, typer.Option(help="Per institution-day: one malformed message.")
        ] = 0.005,
        wasteful_share: Annotated[
            float, typer.Option(help="Share of institutions with high night/weekend load.")
        ] = 0.15,
        efficient_share: Annotated[
            float, typer.Option(help="Share of institutions with low base load.")
        ] = 0.15,
        window: Annotated[int, typer.Option(help="Most QoS 1 messages awaiting the broker's PUBACK.")] = 200,
        report: Annotated[
            Path | None,
            typer.Option(
                help="After a backfill, write what was published (readings, "
                "messages, injected repeats and malformed messages) as JSON here."
            ),
        ] = None,
        retrofit: Annotated[
            list[str] | None,
            typer.Option(
                help="INSTITUTION:YYYY-MM-DD:SHARE[:TYPE,TYPE]: from that day the institution uses SHARE less "
                "(default type electricity); repeatable."
            ),
        ] = None,
    ) -> None:
        """Publish simulated readings for the registry's meters: backfill history as gateway batches
        (--from/--to) with a progress bar, then, with --live, keep publishing per-meter messages.

        Topics: {prefix}/{institution}/{meter} and {prefix}/{institution}/_batch, QoS 1. Needs a migrated
        database with a registry (`jieneng registry import`) and JIENENG_MQTT_URL.
        """
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        from sim.faults import FaultRates
        from sim.publisher import PublishError
        from sim.run import backfill, make_simulator
        from sim.run import live as run_live

        settings = load_settings()
        setup_logging(settings)
        console = Console(stderr=True)
        if not settings.mqtt_url:
            raise fail(
                "set JIENENG_MQTT_URL to the broker ingest reads from (`jieneng demo` starts one for you)"
            )
        url = require_schema(settings)
        require_broker(settings.mqtt_url)
        tz = settings.timezone
        from sim.retrofit import parse as parse_retrofit

        try:
            retrofits = tuple(parse_retrofit(t) for t in retrofit or ())
            rates = (
                FaultRates.none()
                if no_faults
                else FaultRates(
                    gap=gap_rate,
                    reset=reset_rate,
                    replacement=replacement_rate,
                    jump=jump_rate,
                    duplicate=duplicate_rate,
                    conflict=conflict_rate,
                    backlog=backlog_rate,
                    malformed=malformed_rate,
                )
            )
            sim = make_simulator(
                url,
                seed=seed,
                prefix=settings.mqtt_topic_prefix,
                tz=tz,
                interval_s=interval * 60,
                rates=rates,
                wasteful_share=wasteful_share,
                efficient_share=efficient_share,
                institution_ids=institution or None,
                retrofits=retrofits,
            )
        except ValueError as exc:
            raise fail(str(exc)) from exc
        n_meters = sum(len(m.meters()) for m in sim.models)
        console.print(
            f"simulating {len(sim.models)} institution(s), {n_meters} meter(s), seed {seed}, "
            f"every {interval} min -> {settings.mqtt_url} under {settings.mqtt_topic_prefix}/"
        )
        try:
            if from_ is not None:
                start = _parse_when(from_, tz, "--from")
                end = _parse_when(to, tz, "--to") if to else dt.datetime.now(dt.UTC)
                with Progress(
                    TextColumn("backfill"),
                    BarColumn(),
                    MofNCompleteColumn(),
                    TextColumn("days"),
                    TextColumn("{task.fields[readings]:,} readings"),
                    TimeRemainingColumn(),
                    console=console,
                ) as bar:
                    task = bar.add_task("backfill", total=None, readings=0)

                    def progress(done_s: int, total_s: int, n: int) -> None:
                        bar.update(task, completed=done_s // 86400, total=-(-total_s // 86400), readings=n)

                    result = backfill(
                        "",
                        settings.mqtt_url,
                        settings.mqtt_topic_prefix,
                        start,
                        end,
                        seed,
                        fault_log=faults_log,
                        on_progress=progress,
                        window=window,
                        simulator=sim,
                    )
                console.print(
                    f"backfill {result.start.isoformat()} .. {result.end.isoformat()}: "
                    f"{result.readings:,} readings in {result.messages:,} messages, "
                    f"{result.wall_s:.1f} s ({result.readings_per_s:,.0f} readings/s); "
                    f"{len(result.events):,} faults injected"
                )
                if report is not None:
                    import json

                    report.write_text(json.dumps(result.counts()), encoding="utf-8")
            if live or from_ is None:
                stop = threading.Event()
                signal.signal(signal.SIGINT, lambda *_: stop.set())
                signal.signal(signal.SIGTERM, lambda *_: stop.set())
                console.print(f"live at {speed:g}x; Ctrl-C stops")
                run_live(
                    "",
                    settings.mqtt_url,
                    settings.mqtt_topic_prefix,
                    seed=seed,
                    stop_event=stop,
                    speed=speed,
                    simulator=sim,
                    fault_log=faults_log,
                    window=window,
                )
                console.print(f"stopped; {sim.stats['readings']:,} readings published in total")
        except ValueError as exc:
            raise fail(str(exc)) from exc
        except PublishError as exc:
            raise fail(str(exc), exit_code=1) from exc
        except KeyboardInterrupt:
            raise typer.Exit(130) from None
