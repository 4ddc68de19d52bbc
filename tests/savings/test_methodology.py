"""The savings methodology file: validated on load, each bad key named; identified by its sha256."""

from __future__ import annotations

import hashlib

import pytest

from savings import methodology


def test_shipped_methodology():
    m = methodology.load()
    assert m.sha256 == hashlib.sha256(methodology.DEFAULT_PATH.read_bytes()).hexdigest()
    assert (m.spec.degree_days.hdd_base_c, m.spec.degree_days.cdd_base_c) == (18.0, 26.0)
    assert "GB 50176-2016" in m.spec.degree_days.source
    assert (
        m.spec.price("electricity") == 0.65
        and m.spec.price("source") is None
        and m.spec.price("coal") is None
    )


def test_bad_values_named(tmp_path):
    text = methodology.DEFAULT_PATH.read_text(encoding="utf-8")
    bad = tmp_path / "m.toml"
    bad.write_text(
        text.replace("max_p_value = 0.1", "max_p_value = 2").replace(
            "confidence_level = 0.9", "confidence_level = 1.5"
        ),
        encoding="utf-8",
    )
    with pytest.raises(methodology.MethodologyError) as exc:
        methodology.load(bad)
    msg = str(exc.value)
    assert f"{bad}:model.max_p_value:" in msg and f"{bad}:uncertainty.confidence_level:" in msg
    bad.write_text("name = ", encoding="utf-8")
    with pytest.raises(methodology.MethodologyError, match="not valid TOML"):
        methodology.load(bad)
