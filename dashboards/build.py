"""Render every generated file (dashboards JSON, alert rules) and write or check them.

The committed files under dashboards/generated/ and dashboards/provisioning/alerting/ are this
module's output; `jieneng dashboards build --check` fails when they differ.
"""

from __future__ import annotations

import json
from pathlib import Path

from dashboards import alerting, ingest_ops, institution, meters, province
from dashboards import savings as savings_dashboard

ROOT = Path(__file__).resolve().parent
GENERATED = ROOT / "generated"
PROVISIONING = ROOT / "provisioning"
ALERTS_FILE = Path("provisioning/alerting/jieneng-alerts.json")
INGEST_ALERTS_FILE = Path("provisioning/alerting") / alerting.INGEST_ALERTS_FILE_NAME
BUILDERS = (province.build, institution.build, meters.build, ingest_ops.build, savings_dashboard.build)


def dashboards() -> list[dict]:
    return [b() for b in BUILDERS]


def _dump(obj: dict) -> str:
    return json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


# The settings' defaults (jieneng/settings.py): the committed alert file is built with them.
DEFAULT_NIGHT_LIMITS = {"hospital": 1.0, "venue": 0.6}


def render(
    *,
    silent_hours: float = 24.0,
    night_load_share: float = 0.5,
    night_load_share_by_category: dict[str, float] | None = None,
    stall_after_s: float = 300.0,
) -> dict[Path, str]:
    """Relative path (under dashboards/) → file text."""
    limits = DEFAULT_NIGHT_LIMITS if night_load_share_by_category is None else night_load_share_by_category
    out = {Path("generated") / f"{d['uid']}.json": _dump(d) for d in dashboards()}
    out[ALERTS_FILE] = _dump(
        alerting.rules(
            silent_hours=silent_hours, night_load_share=night_load_share, night_load_share_by_category=limits
        )
    )
    out[INGEST_ALERTS_FILE] = _dump(alerting.ingest_rules(stall_after_s=stall_after_s))
    return out


def write(files: dict[Path, str], root: Path = ROOT) -> list[Path]:
    written = []
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            written.append(rel)
    return written


def stale(files: dict[Path, str], root: Path = ROOT) -> list[Path]:
    """Files missing or different on disk, and generated dashboards no builder produces any more."""
    bad = [
        rel
        for rel, text in files.items()
        if not (root / rel).exists() or (root / rel).read_text(encoding="utf-8") != text
    ]
    expected = {rel for rel in files if rel.parts[0] == "generated"}
    gen = root / "generated"
    if gen.is_dir():
        bad += [
            p.relative_to(root) for p in sorted(gen.glob("*.json")) if p.relative_to(root) not in expected
        ]
    return bad
