"""`jieneng ingest`: MQTT readings into PostgreSQL, acked after commit, usage rollups kept current."""

from __future__ import annotations

import signal

import typer

from jieneng.settings import Settings, load_settings
from jieneng.wiring import database_url, fail, require_broker, require_schema, setup_logging


def build_config(settings: Settings, *, mqtt_url: str):
    from ingest.service import IngestConfig
    from ingest.transport import BrokerConfig

    return IngestConfig(
        database_url=database_url(settings),
        broker=BrokerConfig(
            url=mqtt_url,
            client_id=settings.mqtt_client_id,
            topic_prefix=settings.mqtt_topic_prefix,
            share_group=settings.mqtt_share_group,
            keepalive_s=settings.mqtt_keepalive_s,
            protocol=settings.mqtt_protocol,
            # A batch's messages stay unacked until it commits: let that many be in flight, and some.
            receive_maximum=min(65535, max(100, 2 * settings.ingest_batch_max_rows)),
            share_session_expiry_s=settings.mqtt_share_session_expiry_s,
            max_undelivered_messages=settings.ingest_max_undelivered_messages,
            max_undelivered_bytes=settings.ingest_max_undelivered_bytes,
            max_payload_bytes=settings.ingest_max_payload_bytes,
        ),
        timezone=settings.timezone,
        batch_max_rows=settings.ingest_batch_max_rows,
        batch_max_ms=settings.ingest_batch_max_ms,
        max_payload_bytes=settings.ingest_max_payload_bytes,
        max_items=settings.ingest_max_items,
        max_future_s=settings.ingest_max_future_s,
        reject_payload_chars=settings.ingest_reject_payload_chars,
        rollup_interval_ms=settings.rollup_interval_ms,
        metrics_port=settings.metrics_port,
        raw_retention=settings.raw_retention,
        stats_retention=settings.stats_retention,
        db_timeout_s=settings.ingest_db_timeout_s,
        stop_grace_s=settings.ingest_stop_grace_s,
        stall_after_s=settings.ingest_stall_after_s,
    )


def register(app: typer.Typer) -> None:
    @app.command("ingest")
    def _cmd() -> None:
        """Subscribe to meter readings over MQTT (QoS 1, persistent session), store them, keep usage current.

        Messages are acknowledged only after their rows commit; SIGTERM or Ctrl-C flushes, commits,
        acks and disconnects. Expects a migrated database (`jieneng db migrate`). With
        JIENENG_RAW_RETENTION set, readings older than the retention are rejected (older_than_retention).
        """
        from ingest.idlock import ClientIdInUse
        from ingest.service import IngestService, RetentionSettingInvalid, SchemaNotReady
        from ingest.transport import BrokerConfigInvalid

        settings = load_settings()
        setup_logging(settings)
        require_schema(settings)
        mqtt_url = settings.mqtt_url
        if not mqtt_url:
            from jieneng.embedded import start_embedded_broker

            mqtt_url = start_embedded_broker(settings.data_dir / "broker").url
        try:
            cfg = build_config(settings, mqtt_url=mqtt_url)
        except BrokerConfigInvalid as exc:
            raise fail(str(exc)) from exc
        require_broker(mqtt_url)
        service = IngestService(cfg)
        signal.signal(signal.SIGTERM, lambda *_: service.stop())
        signal.signal(signal.SIGINT, lambda *_: service.stop())
        try:
            service.run()
        except (SchemaNotReady, RetentionSettingInvalid, ClientIdInUse) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from exc
