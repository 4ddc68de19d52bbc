"""Grafana provisioning for a running deployment: a datasource pointing at *this* database.

docker-compose mounts dashboards/provisioning/ (datasource filled from its environment); a
deployment without compose, such as `jieneng demo`, writes a self-contained folder instead that
a Grafana's `paths.provisioning` can point at.
"""

from __future__ import annotations

import json
from pathlib import Path

from dashboards import alerting
from dashboards.build import ALERTS_FILE, DEFAULT_NIGHT_LIMITS, dashboards
from dashboards.push import DATASOURCE_NAME, DATASOURCE_TYPE, DATASOURCE_UID


def _q(value: str) -> str:
    # JSON strings are valid YAML scalars, so quoting through json keeps any path or password intact.
    return json.dumps(value, ensure_ascii=False)


def provisioning_files(
    *,
    host: str,
    database: str,
    user: str,
    password: str | None,
    out_dir: Path,
    timescaledb: bool = False,
    alerts: dict | None = None,
) -> dict[Path, str]:
    """Relative path → text of a provisioning tree rooted at ``out_dir``.

    ``host`` is ``host:port`` or a Unix-socket directory (Grafana's PostgreSQL datasource takes either).
    ``alerts`` is the alert rules document (:func:`dashboards.alerting.rules` with the deployment's
    thresholds); default: the settings' defaults.
    """
    if alerts is None:
        alerts = alerting.rules(
            silent_hours=24.0, night_load_share=0.5, night_load_share_by_category=DEFAULT_NIGHT_LIMITS
        )
    out_dir = Path(out_dir).resolve()
    files: dict[Path, str] = {}
    secure = f"    secureJsonData:\n      password: {_q(password)}\n" if password else ""
    files[Path("datasources/jieneng.yaml")] = (
        "# Written by `jieneng dashboards provision`: points at the database this deployment uses.\n"
        "apiVersion: 1\n\n"
        "datasources:\n"
        f"  - name: {_q(DATASOURCE_NAME)}\n"
        f"    uid: {_q(DATASOURCE_UID)}\n"
        f"    type: {_q(DATASOURCE_TYPE)}\n"
        "    access: proxy\n"
        f"    url: {_q(host)}\n"
        f"    user: {_q(user)}\n"
        "    isDefault: true\n"
        "    jsonData:\n"
        f"      database: {_q(database)}\n"
        "      sslmode: disable\n"
        "      postgresVersion: 1500\n"
        f"      timescaledb: {'true' if timescaledb else 'false'}\n"
        "      timeInterval: 1m\n" + secure
    )
    files[Path("dashboards/jieneng.yaml")] = (
        "apiVersion: 1\n\n"
        "providers:\n"
        "  - name: jieneng\n"
        "    orgId: 1\n"
        # By title, as the alert rules name theirs (alert file provisioning takes no folder uid): the
        # provisioner that runs first creates the folder and the other reuses it.
        f"    folder: {_q(alerting.FOLDER)}\n"
        "    type: file\n"
        "    disableDeletion: true\n"
        "    allowUiUpdates: false\n"
        "    options:\n"
        f"      path: {_q(str(out_dir / 'json'))}\n"
    )
    for d in dashboards():
        files[Path("json") / f"{d['uid']}.json"] = (
            json.dumps(d, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
        )
    files[Path("alerting") / ALERTS_FILE.name] = (
        json.dumps(alerts, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    )
    return files


def write_provisioning(files: dict[Path, str], out_dir: Path) -> list[Path]:
    out_dir = Path(out_dir)
    for rel, text in files.items():
        path = out_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return sorted(files)
