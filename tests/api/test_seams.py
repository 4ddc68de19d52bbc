"""The API's seams: one 404-then-403 check, one methodology per app, dependency aliases named for what they hold."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from api.deps import require_visible
from api.errors import ApiError

ROOT = Path(__file__).resolve().parents[2]
ROUTERS = sorted((ROOT / "api" / "routers").glob("*.py"))


def test_require_visible_is_404_then_403():
    with pytest.raises(ApiError) as missing:
        require_visible(None, "institution 'X'")
    assert missing.value.status == 404 and "institution 'X' not found" in str(missing.value.detail)
    with pytest.raises(ApiError) as outside:
        require_visible({"id": "X", "visible": False}, "institution 'X'")
    assert outside.value.status == 403 and "outside your scope" in str(outside.value.detail)
    assert require_visible({"id": "X", "visible": True}, "institution 'X'") == {"id": "X"}
    assert require_visible(True, "scoring run 1") is True


def test_no_router_writes_the_visibility_check_or_loads_the_methodology_itself():
    for path in ROUTERS:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"not (?:found|visible).*\n.*raise forbidden", text), path
        assert not re.search(r"\[\"visible\"\]|pop\(\"visible\"\)", text), path
        assert "load_methodology(" not in text, path
        assert not re.search(r"\bDb\b", text), path
