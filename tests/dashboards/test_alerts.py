"""Alert rules answer the question they are named for: run as Grafana would, as jieneng_grafana."""

from __future__ import annotations

import psycopg

from dashboards import alerting
from jieneng.settings import Settings


def _rule(doc: dict, uid: str) -> dict:
    return next(r for g in doc["groups"] for r in g["rules"] if r["uid"] == uid)


def _firing(conn, rule: dict) -> dict[str, float]:
    """Rows of query A whose value passes the threshold of expression B, by their first label column."""
    cur = conn.execute(rule["data"][0]["model"]["rawSql"])
    cols = [c.name for c in cur.description]
    rows = cur.fetchall()
    (limit,) = rule["data"][1]["model"]["conditions"][0]["evaluator"]["params"]
    value_col = next(i for i, c in enumerate(cols) if rows and isinstance(rows[0][i], float | int))
    return {r[0]: r[value_col] for r in rows if r[value_col] is not None and r[value_col] > limit}


def _add_institution(conn, iid: str, category: str, night_share: float) -> None:
    conn.execute(
        "INSERT INTO institution (id, name, category, admin_level, region_code, climate_zone) "
        "VALUES (%s, %s, %s, 'city', '320100', 'hot_summer_cold_winter')",
        (iid, iid, category),
    )
    conn.execute(
        "INSERT INTO meter (id, institution_id, energy_type, unit, register, end_use, installed_at) "
        "VALUES (%s, %s, 'electricity', 'kWh', 'interval', 'main', '2020-01-01+08')",
        (f"{iid}.e", iid),
    )
    conn.execute(
        """INSERT INTO usage_hourly (meter_id, hour, consumption)
           SELECT %s, h, CASE WHEN extract(hour from h AT TIME ZONE 'Asia/Shanghai') BETWEEN 8 AND 17 THEN 100
                              ELSE 100 * %s END
           FROM generate_series(date_trunc('hour', now()) - interval '7 days', date_trunc('hour', now()),
                                interval '1 hour') h""",
        (f"{iid}.e", night_share),
    )


def test_night_base_load_thresholds_by_category(db_url):
    """A hospital runs at night (0.8 of its daytime load is normal); an office at 0.8 is left running."""
    with psycopg.connect(db_url) as conn:
        _add_institution(conn, "hos-1", "hospital", 0.8)
        _add_institution(conn, "gov-1", "government", 0.8)
        _add_institution(conn, "gov-2", "government", 0.2)
        conn.commit()
    s = Settings(_env_file=None)
    doc = alerting.rules(
        silent_hours=s.alert_silent_hours,
        night_load_share=s.alert_night_load_share,
        night_load_share_by_category=s.night_load_share_limits(),
    )
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("SET ROLE jieneng_grafana")
        firing = _firing(conn, _rule(doc, "jieneng-night-base-load"))
    assert set(firing) == {"gov-1"}


def test_night_share_limits_setting_is_validated():
    import pytest
    from pydantic import ValidationError

    assert Settings(
        _env_file=None, alert_night_load_share_by_category="school=0.3"
    ).night_load_share_limits() == {"school": 0.3}
    with pytest.raises(ValidationError, match="category"):
        Settings(_env_file=None, alert_night_load_share_by_category="castle=0.3")
    with pytest.raises(ValidationError, match="share"):
        Settings(_env_file=None, alert_night_load_share_by_category="school=lots")


def test_committed_alert_file_uses_the_settings_defaults():
    from dashboards.build import DEFAULT_NIGHT_LIMITS

    s = Settings(_env_file=None)
    assert DEFAULT_NIGHT_LIMITS == s.night_load_share_limits()


def test_silent_meter_rule_returns_only_silent_meters(seeded_db_url):
    """One alert instance per silent meter, not one per active meter (300,000 at province size)."""
    doc = alerting.rules(silent_hours=24, night_load_share=0.5)
    rule = _rule(doc, "jieneng-meter-silent")
    with psycopg.connect(seeded_db_url, autocommit=True) as conn:
        conn.execute("SET ROLE jieneng_grafana")
        rows = conn.execute(rule["data"][0]["model"]["rawSql"]).fetchall()
    assert [r[0] for r in rows] == ["gov-nj-01.gas"]
    assert rows[0][2] > 24
