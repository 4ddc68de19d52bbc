"""Settings: environment variables, validation, and the README table staying true."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from jieneng.cli_settings import settings_rows
from jieneng.settings import Settings, TimescaleMode

README = Path(__file__).resolve().parent.parent / "README.md"


def test_defaults():
    s = Settings(_env_file=None)
    assert s.database_url is None
    assert s.timezone == "Asia/Shanghai"
    assert s.timescaledb is TimescaleMode.auto
    assert s.data_dir == Path(".jieneng")
    assert s.mqtt_topic_prefix == "jieneng/v1"


def test_environment_variables_are_read(monkeypatch):
    monkeypatch.setenv("JIENENG_DATABASE_URL", "postgresql://u@h/db")
    monkeypatch.setenv("JIENENG_TIMESCALEDB", "require")
    monkeypatch.setenv("JIENENG_TIMEZONE", "Asia/Urumqi")
    monkeypatch.setenv("JIENENG_INGEST_BATCH_MAX_ROWS", "100")
    s = Settings()
    assert s.database_url == "postgresql://u@h/db"
    assert s.timescaledb is TimescaleMode.require
    assert s.timezone == "Asia/Urumqi"
    assert s.ingest_batch_max_rows == 100


@pytest.mark.parametrize(
    ("var", "value", "fragment"),
    [
        ("JIENENG_TIMEZONE", "Mars/Olympus", "unknown time zone"),
        ("JIENENG_TIMESCALEDB", "maybe", "auto"),
        ("JIENENG_INGEST_BATCH_MAX_ROWS", "0", "greater than or equal to 1"),
        ("JIENENG_API_PORT", "70000", "less than or equal to 65535"),
    ],
)
def test_bad_values_are_refused_with_a_message(monkeypatch, var, value, fragment):
    monkeypatch.setenv(var, value)
    with pytest.raises(ValidationError, match=fragment):
        Settings()


def test_readme_table_lists_every_setting_with_its_default():
    text = README.read_text(encoding="utf-8")
    for env, default, _, desc in settings_rows():
        row = f"| `{env}` | `{default}` | {desc} |"
        assert row in text, f"README settings table is missing or out of date for {env}: expected {row!r}"
