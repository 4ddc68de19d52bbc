"""Wiring shared by the CLI verbs: settings once, database URL resolved once."""

from __future__ import annotations

import logging
import sys

from jieneng.settings import Settings


def database_url(settings: Settings) -> str:
    """The configured URL, or a private PostgreSQL under ``data_dir`` (DESIGN §8)."""
    if settings.database_url:
        return settings.database_url
    from jieneng.embedded import embedded_database_url

    return embedded_database_url(settings.data_dir)


def read_database_url(settings: Settings) -> str:
    return settings.database_read_url or database_url(settings)


def setup_logging(settings: Settings) -> None:
    if settings.log_json:
        import json

        class JsonFormatter(logging.Formatter):
            def format(self, record: logging.LogRecord) -> str:
                out = {
                    "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
                    "level": record.levelname,
                    "logger": record.name,
                    "msg": record.getMessage(),
                }
                extra = getattr(record, "fields", None)
                if isinstance(extra, dict):
                    out.update(extra)
                if record.exc_info:
                    out["exc"] = self.formatException(record.exc_info)
                return json.dumps(out, ensure_ascii=False, default=str)

        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        logging.basicConfig(level=settings.log_level.upper(), handlers=[handler], force=True)
    else:
        logging.basicConfig(
            level=settings.log_level.upper(),
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
            force=True,
        )
