"""Settings: built once by the shell from ``JIENENG_*`` environment variables.

Every field here appears in the README's settings table; keep the two in step.
No other module reads the environment: the shell passes what each part needs.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from store.codes import CATEGORIES


class TimescaleMode(StrEnum):
    auto = "auto"
    require = "require"
    off = "off"


def _parse_limits(text: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        category, _, share = item.partition("=")
        category = category.strip()
        if category not in CATEGORIES:
            raise ValueError(f"unknown institution category {category!r} (known: {', '.join(CATEGORIES)})")
        try:
            out[category] = float(share)
        except ValueError:
            raise ValueError(f"{category}: share must be a number, got {share.strip()!r}") from None
        if out[category] <= 0:
            raise ValueError(f"{category}: share must be greater than 0")
    return out


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="JIENENG_", env_file=None, extra="ignore")

    # --- storage -------------------------------------------------------------------------
    database_url: str | None = Field(
        None, description="PostgreSQL URL. Unset: a private PostgreSQL (pgserver) under data_dir."
    )
    database_read_url: str | None = Field(
        None, description="Read-replica URL for the API and dashboards. Unset: database_url."
    )
    data_dir: Path = Field(Path(".jieneng"), description="Where embedded services keep their data.")
    pool_min_size: int = Field(1, ge=0, description="Connections the pool keeps open.")
    pool_max_size: int = Field(10, ge=1, description="Most connections the pool opens.")
    timescaledb: TimescaleMode = Field(
        TimescaleMode.auto,
        description="auto: use TimescaleDB when the extension can be created; require: fail without it; off: never.",
    )
    compress_after: str = Field(
        "30 days", description="TimescaleDB: compress raw readings older than this (segment by meter)."
    )
    raw_retention: str | None = Field(
        None,
        description="TimescaleDB: drop raw readings older than this (rollups are kept); ingest rejects readings older than this. Unset: keep all.",
    )
    timezone: str = Field("Asia/Shanghai", description="Deployment time zone for day/month/year buckets.")

    # --- MQTT ----------------------------------------------------------------------------
    mqtt_url: str | None = Field(
        None,
        description="mqtt://user:pass@host:1883 or mqtts://… Unset (demo): a private Mosquitto or amqtt.",
    )
    mqtt_client_id: str = Field(
        "jieneng-ingest", description="Fixed client id: the persistent session's name."
    )
    mqtt_share_group: str | None = Field(
        None,
        description="MQTT 5 shared-subscription group, so several ingest workers split one stream; each worker needs its own JIENENG_MQTT_CLIENT_ID.",
    )
    mqtt_share_session_expiry_s: int = Field(
        86_400,
        ge=60,
        le=0xFFFFFFFE,
        description="Session expiry of a share-group member, in seconds: a worker gone longer is removed with its session (and, on Mosquitto, the messages queued to it).",
    )
    mqtt_topic_prefix: str = Field(
        "jieneng/v1", description="Topic root; readings arrive under {prefix}/{institution}/{meter}."
    )
    mqtt_keepalive_s: int = Field(30, ge=5, description="MQTT keepalive in seconds.")
    mqtt_protocol: str = Field(
        "5",
        pattern=r"^(5|3\.1\.1)$",
        description="MQTT protocol version: 5, or 3.1.1 for brokers without MQTT 5 (amqtt; no shared subscriptions).",
    )

    # --- ingest --------------------------------------------------------------------------
    ingest_batch_max_rows: int = Field(5000, ge=1, description="Readings per database transaction, at most.")
    ingest_batch_max_ms: int = Field(
        200, ge=1, description="Longest a reading waits before its batch commits."
    )
    ingest_max_payload_bytes: int = Field(
        1_048_576,
        ge=64,
        description="Larger MQTT payloads are rejected; more than 68 KiB larger, the broker drops them.",
    )
    ingest_max_items: int = Field(10_000, ge=1, description="Readings per message, at most.")
    ingest_max_future_s: int = Field(900, ge=0, description="How far ahead of now a reading's ts may be.")
    ingest_reject_payload_chars: int = Field(
        4096, ge=64, description="Reject rows keep this much of the payload."
    )
    ingest_db_timeout_s: float = Field(
        30,
        gt=0,
        description="Longest one ingest transaction may take (statement_timeout; lock_timeout half of it; TCP keepalive and user timeout); then it is retried on a new connection.",
    )
    ingest_stop_grace_s: float = Field(
        10,
        ge=0,
        description="On SIGTERM, how long a commit in flight may finish before it is cut (nothing uncommitted is acked).",
    )
    ingest_max_undelivered_messages: int = Field(
        20_000,
        ge=1,
        description="Most messages ingest holds received and not yet committed, any QoS; then it stops reading from the broker.",
    )
    ingest_max_undelivered_bytes: int = Field(
        67_108_864,
        ge=1024,
        description="Most payload and topic bytes ingest holds received and not yet committed (one larger message passes alone).",
    )
    ingest_stall_after_s: float = Field(
        300,
        gt=0,
        description="/health of ingest's metrics server answers 503 once messages waited this long with no commit.",
    )
    metrics_port: int | None = Field(
        9108, description="Prometheus metrics port of `jieneng ingest`; unset: off."
    )
    rollup_interval_ms: int = Field(
        500, ge=10, description="How often the rollup step looks for touched meter-hours."
    )
    stats_retention: str = Field(
        "30 days",
        description="Ingest and rollup statistics (with the readings received per meter and hour), and the keys of committed messages (redelivery detection), older than this are deleted; rejects, conflicts and quarantines are kept.",
    )

    # --- dashboards (Grafana) ----------------------------------------------------------------
    alert_silent_hours: float = Field(
        24,
        gt=0,
        description="Grafana alert: a meter whose next reading (due one expected reading interval after its last) "
        "is more than this many hours late is silent; event-based meters never are.",
    )
    alert_night_load_share: float = Field(
        0.5,
        gt=0,
        description="Grafana alert: night (00-05 local) electric load above this share of working-day 08-18 load, for categories without their own limit.",
    )
    alert_night_load_share_by_category: str = Field(
        "hospital=1.0,venue=0.6",
        description="Grafana alert: night-load share limits by institution category (category=share, comma-separated); "
        "other categories use JIENENG_ALERT_NIGHT_LOAD_SHARE.",
    )
    grafana_db_password: str | None = Field(
        None,
        description="Password of the read-only jieneng_grafana role, for the datasource `dashboards push` and `dashboards provision` create.",
    )

    @field_validator("alert_night_load_share_by_category")
    @classmethod
    def _night_limits(cls, value: str) -> str:
        _parse_limits(value)
        return value

    def night_load_share_limits(self) -> dict[str, float]:
        """JIENENG_ALERT_NIGHT_LOAD_SHARE_BY_CATEGORY as {category: share}."""
        return _parse_limits(self.alert_night_load_share_by_category)

    # --- API -----------------------------------------------------------------------------
    api_host: str = Field("127.0.0.1", description="Address `jieneng api` listens on.")
    api_port: int = Field(8000, ge=1, le=65535, description="Port `jieneng api` listens on.")
    api_max_body_bytes: int = Field(
        65_536, ge=1024, description="Largest API request body (JSON), except registry uploads; larger: 413."
    )
    api_auth_max_failures: int = Field(
        20,
        ge=1,
        description="Failed API authentications per client address within the window before it gets 429 (in memory, per process).",
    )
    api_auth_failure_window_s: float = Field(
        60,
        gt=0,
        description="Window in seconds for JIENENG_API_AUTH_MAX_FAILURES; 429 carries Retry-After until it passes.",
    )
    api_key_expiry_days: int | None = Field(
        None,
        ge=1,
        description="`jieneng keys create` gives new keys this lifetime unless --expires-days says otherwise; unset: no expiry.",
    )
    api_job_worker: bool = Field(
        True,
        description="`jieneng api` runs queued scoring jobs (POST /v1/runs) in a worker thread; off: another process does.",
    )
    api_max_upload_bytes: int = Field(
        52_428_800,
        ge=1024,
        description="Largest registry upload (all files of one request); larger: 413, cut off while streaming.",
    )
    api_body_timeout_s: float = Field(
        20,
        gt=0,
        description="A request body must arrive within this many seconds, extended as it comes (JIENENG_API_BODY_MIN_BYTES_PER_S); slower: 408.",
    )
    api_body_min_bytes_per_s: int = Field(
        500,
        ge=1,
        description="Each this many bytes of a request body received extend JIENENG_API_BODY_TIMEOUT_S by one second.",
    )

    # --- logging -------------------------------------------------------------------------
    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING or ERROR.")
    log_json: bool = Field(False, description="Structured JSON log lines instead of plain text.")

    # --- rollups on TimescaleDB ------------------------------------------------------------
    rollup_compress_after: str | None = Field(
        None,
        description="TimescaleDB: compress hourly and daily usage older than this (segment by meter); see docs/scale.md before setting it. Unset: not compressed.",
    )
    hourly_retention: str | None = Field(
        None,
        description="TimescaleDB: drop hourly usage older than this (daily and monthly are kept forever); needs raw_retention at least 2 days shorter. Unset: keep all.",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {v!r}") from exc
        return v

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def load_settings(**overrides) -> Settings:
    return Settings(**overrides)
