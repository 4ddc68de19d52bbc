"""Plain-dict builders for Grafana's classic dashboard JSON model (schemaVersion 41).

Validated against the JSON Schema generated from @grafana/schema (dashboards/schema/).
"""

from __future__ import annotations

import re

from dashboards.sql import ALL_VALUE, in_cities, listed

DATASOURCE_UID = "jieneng-pg"
DATASOURCE_TYPE = "grafana-postgresql-datasource"
DS = {"type": DATASOURCE_TYPE, "uid": DATASOURCE_UID}
SCHEMA_VERSION = 41
ALL = {"selected": True, "text": "All", "value": "$__all"}

# Grafana custom units ("suffix:…"): the unit is printed after every value and on the axis.
TCE = "suffix: tce"
KGCE_M2 = "suffix: kgce/m²"
KGCE_PERSON = "suffix: kgce/person"


def unit_overrides() -> list[dict]:
    """Series named ``… (unit)`` get that unit; Grafana draws one y axis per unit, so kWh and m³ never share one."""
    from store.codes import UNITS

    return [
        {
            "matcher": {"id": "byRegexp", "options": rf".*\({re.escape(u)}\)"},
            "properties": [{"id": "unit", "value": f"suffix: {u}"}],
        }
        for u in UNITS
    ]


def unit_override(field: str, unit: str) -> dict:
    """One column's unit, where it differs from the panel's."""
    return {"matcher": {"id": "byName", "options": field}, "properties": [{"id": "unit", "value": unit}]}


def percent_override(field: str) -> dict:
    """A 0–1 fraction shown as a percentage."""
    return unit_override(field, "percentunit")


def axis_override(field: str, unit: str, placement: str = "auto", label: str | None = None) -> dict:
    """A field with its own unit and axis (Grafana draws one axis per unit when placements differ)."""
    props = [{"id": "unit", "value": unit}, {"id": "custom.axisPlacement", "value": placement}]
    if label:
        props.append({"id": "custom.axisLabel", "value": label})
    return {"matcher": {"id": "byName", "options": field}, "properties": props}


def target(sql: str, *, fmt: str = "table", ref: str = "A") -> dict:
    return {
        "datasource": DS,
        "editorMode": "code",
        "format": fmt,
        "rawQuery": True,
        "rawSql": " ".join(sql.split()),
        "refId": ref,
    }


def panel(
    kind: str,
    title: str,
    sql: str | list[str],
    *,
    fmt: str = "table",
    unit: str | None = None,
    description: str = "",
    w: int = 12,
    h: int = 8,
    options: dict | None = None,
    interval: str | None = None,
    no_value: str | None = None,
    overrides: list[dict] | None = None,
    axis_label: str | None = None,
) -> dict:
    sqls = [sql] if isinstance(sql, str) else sql
    defaults: dict = {}
    if unit:
        defaults["unit"] = unit
    if no_value:
        # Shown instead of Grafana's bare "No data" when the query returns no rows.
        defaults["noValue"] = no_value
    if axis_label:
        defaults["custom"] = {"axisLabel": axis_label}
    p = {
        "datasource": DS,
        "description": description,
        "fieldConfig": {"defaults": defaults, "overrides": overrides or []},
        "gridPos": {"h": h, "w": w, "x": 0, "y": 0},
        "options": options or {},
        "targets": [target(s, fmt=fmt, ref=chr(ord("A") + i)) for i, s in enumerate(sqls)],
        "title": title,
        "type": kind,
    }
    if interval:
        p["interval"] = interval
    return p


def layout(panels: list[dict]) -> list[dict]:
    """Number panels and flow them left to right, top to bottom, on Grafana's 24-column grid."""
    x = y = row_h = 0
    for i, p in enumerate(panels, start=1):
        g = p["gridPos"]
        if x + g["w"] > 24:
            x, y, row_h = 0, y + row_h, 0
        g["x"], g["y"] = x, y
        x += g["w"]
        row_h = max(row_h, g["h"])
        p["id"] = i
    return panels


def query_var(
    name: str,
    label: str,
    sql: str,
    *,
    multi: bool = True,
    include_all: bool = True,
    all_value: str | None = None,
) -> dict:
    extra = {"allValue": all_value} if all_value else {}
    return {
        **extra,
        "current": ALL if include_all else {"text": "", "value": ""},
        "datasource": DS,
        "hide": 0,
        "includeAll": include_all,
        "label": label,
        "multi": multi,
        "name": name,
        "options": [],
        "query": " ".join(sql.split()),
        "refresh": 1,
        "regex": "",
        "sort": 0,
        "type": "query",
    }


def custom_var(name: str, label: str, values: list[str], default: str, description: str = "") -> dict:
    return {
        "current": {"selected": True, "text": default, "value": default},
        "description": description,
        "hide": 0,
        "includeAll": False,
        "label": label,
        "multi": False,
        "name": name,
        "options": [{"selected": v == default, "text": v, "value": v} for v in values],
        "query": ",".join(values),
        "type": "custom",
    }


def dashboard(
    uid: str,
    title: str,
    panels: list[dict],
    variables: list[dict],
    *,
    description: str,
    time_from: str = "now-7d",
    tags: list[str] | None = None,
) -> dict:
    return {
        "annotations": {"list": []},
        "description": description,
        "editable": True,
        "graphTooltip": 1,
        "id": None,
        "links": [
            {
                "asDropdown": True,
                "icon": "external link",
                "includeVars": True,
                "keepTime": True,
                "tags": ["jieneng"],
                "targetBlank": False,
                "title": "节能 jieneng",
                "tooltip": "",
                "type": "dashboards",
                "url": "",
            }
        ],
        "panels": layout(panels),
        "refresh": "5m",
        "schemaVersion": SCHEMA_VERSION,
        "tags": ["jieneng", *(tags or [])],
        "templating": {"list": variables},
        # Empty: Grafana's default zone, which compose sets to the deployment zone
        # (GF_DATE_FORMATS_DEFAULT_TIMEZONE), so the time picker's "today" is local too.
        "time": {"from": time_from, "to": "now"},
        "timepicker": {},
        "timezone": "",
        "title": title,
        "uid": uid,
        "version": 1,
        "weekStart": "monday",
    }


# Chained region → institution → meter variables (multi-value, All). All is the custom all value
# (dashboards.sql.ALL_VALUE), never the list of every id. Each list shows the children of an explicit
# choice only: cities always, institutions once a city is chosen, meters once an institution is, so no
# dropdown holds the province's 300,000 meters.
REGION_VAR = query_var(
    "region",
    "城市 City",
    "SELECT code AS __value, name AS __text FROM region WHERE level = 'city' ORDER BY code",
    all_value=ALL_VALUE,
)
INSTITUTION_VAR = query_var(
    "institution",
    "单位 Institution",
    f"SELECT id AS __value, name AS __text FROM institution WHERE {in_cities('region_code')} ORDER BY name, id",
    all_value=ALL_VALUE,
)
METER_VAR = query_var(
    "meter",
    "计量表 Meter",
    f"SELECT id AS __value, coalesce(name, id) AS __text FROM meter WHERE {listed('institution_id', 'institution')} "
    "ORDER BY id",
    all_value=ALL_VALUE,
)
