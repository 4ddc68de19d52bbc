"""Push the generated dashboards to an existing Grafana through its HTTP API (with httpx).

Order: health check (``GET /api/health`` must report the database ``ok``), then the folder, the
PostgreSQL datasource (created, or updated in place by uid), then every dashboard upserted with
``overwrite`` into the folder. Nothing is written when the health check fails.

The few endpoints used are called directly (Grafana HTTP API: /api/health, /api/folders,
/api/datasources, /api/dashboards/db) rather than through grafana-client, whose version 5 pulls in
niquests and urllib3-future, which replaces urllib3 for every other tool in the environment.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import httpx

from dashboards.alerting import FOLDER
from dashboards.model import DATASOURCE_TYPE, DATASOURCE_UID
from store.reader_role import READER_ROLE

log = logging.getLogger(__name__)

FOLDER_UID = "jieneng"
DATASOURCE_NAME = "jieneng"


class GrafanaUnhealthy(RuntimeError):
    """Grafana answered but is not healthy (or not Grafana)."""


class PushError(RuntimeError):
    """Grafana refused a request (status and message), or could not be reached (status None)."""

    def __init__(self, message: str, status_code: int | None = None):
        super().__init__(message)
        self.status_code = status_code


class GrafanaApi:
    """The Grafana HTTP API calls push needs, on one httpx client with the service-account token."""

    def __init__(self, client: httpx.Client):
        self.client = client

    def request(self, method: str, path: str, json: Any = None) -> Any:
        try:
            r = self.client.request(method, "/api" + path, json=json)
        except httpx.HTTPError as exc:
            raise PushError(f"cannot reach Grafana at {self.client.base_url}: {exc}") from exc
        try:
            body = r.json() if r.content else None
        except ValueError:
            body = r.text
        if r.status_code >= 400:
            message = body.get("message") if isinstance(body, dict) else body
            raise PushError(
                f"{method} /api{path}: {r.status_code} {message or r.reason_phrase}", r.status_code
            )
        return body

    def get_or_none(self, path: str) -> Any:
        """The resource, or None when Grafana answers 404."""
        try:
            return self.request("GET", path)
        except PushError as exc:
            if exc.status_code == 404:
                return None
            raise

    def close(self) -> None:
        self.client.close()


@dataclass
class PushReport:
    grafana_version: str = ""
    folder: str = ""  # "created" | "exists"
    datasource: str = ""  # "created" | "updated" | "skipped"
    dashboards: list[str] = field(default_factory=list)


def datasource_payload(
    *, host: str, database: str, user: str = READER_ROLE, password: str | None, timescaledb: bool = False
) -> dict:
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


def push(api: GrafanaApi, dashboards: list[dict], datasource: dict | None) -> PushReport:
    """Health check, folder, datasource (unless None), dashboards. Raises on the first failure."""
    report = PushReport()
    try:
        health = api.request("GET", "/health")
    except PushError as exc:
        if exc.status_code is None:
            raise
        raise GrafanaUnhealthy(f"Grafana health check failed: {exc}") from exc
    if not isinstance(health, dict) or health.get("database") != "ok":
        raise GrafanaUnhealthy(f"Grafana health check failed: {health!r}")
    report.grafana_version = str(health.get("version", ""))

    if api.get_or_none(f"/folders/{FOLDER_UID}") is not None:
        report.folder = "exists"
    else:
        api.request("POST", "/folders", {"title": FOLDER, "uid": FOLDER_UID})
        report.folder = "created"

    if datasource is None:
        report.datasource = "skipped"
    else:
        existing = api.get_or_none(f"/datasources/uid/{DATASOURCE_UID}")
        if existing is None:
            api.request("POST", "/datasources", datasource)
            report.datasource = "created"
        else:
            api.request("PUT", f"/datasources/uid/{DATASOURCE_UID}", {**datasource, "id": existing.get("id")})
            report.datasource = "updated"

    for d in dashboards:
        api.request(
            "POST",
            "/dashboards/db",
            {
                "dashboard": {**d, "id": None},
                "folderUid": FOLDER_UID,
                "overwrite": True,
                "message": "jieneng dashboards push",
            },
        )
        report.dashboards.append(d["uid"])
        log.info("pushed dashboard %s", d["uid"])
    return report


def connect(url: str, token: str, *, timeout_s: float = 10.0) -> GrafanaApi:
    """A client for ``url`` (e.g. https://grafana.example.org) with a service-account token."""
    return GrafanaApi(
        httpx.Client(
            base_url=url.rstrip("/"),
            timeout=timeout_s,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
        )
    )
