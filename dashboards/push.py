"""Push the generated dashboards to an existing Grafana through its HTTP API (grafana-client).

Order: health check (``GET /api/health`` must report the database ``ok``), then the folder, the
PostgreSQL datasource (created, or updated in place by uid), then every dashboard upserted with
``overwrite`` into the folder. Nothing is written when the health check fails.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from grafana_client import GrafanaApi
from grafana_client.client import GrafanaClientError

from dashboards.alerting import FOLDER
from dashboards.model import DATASOURCE_TYPE, DATASOURCE_UID

log = logging.getLogger(__name__)

FOLDER_UID = "jieneng"
DATASOURCE_NAME = "jieneng"
READER_ROLE = "jieneng_grafana"


class GrafanaUnhealthy(RuntimeError):
    """Grafana answered but is not healthy (or not Grafana)."""


@dataclass
class PushReport:
    grafana_version: str = ""
    folder: str = ""  # "created" | "exists"
    datasource: str = ""  # "created" | "updated" | "skipped"
    dashboards: list[str] = field(default_factory=list)


def datasource_payload(*, host: str, database: str, user: str = READER_ROLE, password: str | None,
                       timescaledb: bool = False) -> dict:
    """The datasource as the provisioning file defines it (dashboards/provisioning/datasources)."""
    payload = {
        "name": DATASOURCE_NAME,
        "uid": DATASOURCE_UID,
        "type": DATASOURCE_TYPE,
        "access": "proxy",
        "url": host,
        "user": user,
        "isDefault": False,
        "jsonData": {
            "database": database,
            "sslmode": "disable",
            "postgresVersion": 1500,
            "timescaledb": timescaledb,
            "timeInterval": "1m",
        },
    }
    if password:
        payload["secureJsonData"] = {"password": password}
    return payload


def _not_found(exc: GrafanaClientError) -> bool:
    return exc.status_code == 404


def push(api: GrafanaApi, dashboards: list[dict], datasource: dict | None) -> PushReport:
    """Health check, folder, datasource (unless None), dashboards. Raises on the first failure."""
    report = PushReport()
    health = api.client.GET("/health")
    if not isinstance(health, dict) or health.get("database") != "ok":
        raise GrafanaUnhealthy(f"Grafana health check failed: {health!r}")
    report.grafana_version = str(health.get("version", ""))

    try:
        api.folder.get_folder(FOLDER_UID)
        report.folder = "exists"
    except GrafanaClientError as exc:
        if not _not_found(exc):
            raise
        api.folder.create_folder(FOLDER, uid=FOLDER_UID)
        report.folder = "created"

    if datasource is None:
        report.datasource = "skipped"
    else:
        try:
            existing = api.datasource.get_datasource_by_uid(DATASOURCE_UID)
        except GrafanaClientError as exc:
            if not _not_found(exc):
                raise
            existing = None
        if existing is None:
            api.datasource.create_datasource(datasource)
            report.datasource = "created"
        else:
            api.datasource.update_datasource_by_uid(DATASOURCE_UID, {**datasource, "id": existing.get("id")})
            report.datasource = "updated"

    for d in dashboards:
        api.dashboard.update_dashboard({
            "dashboard": {**d, "id": None},
            "folderUid": FOLDER_UID,
            "overwrite": True,
            "message": "jieneng dashboards push",
        })
        report.dashboards.append(d["uid"])
        log.info("pushed dashboard %s", d["uid"])
    return report


def connect(url: str, token: str, *, timeout_s: float = 10.0) -> GrafanaApi:
    """A client for ``url`` (e.g. https://grafana.example.org) with a service-account token."""
    return GrafanaApi.from_url(url, credential=token, timeout=timeout_s)
