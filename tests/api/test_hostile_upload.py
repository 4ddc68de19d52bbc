"""Hostile workbooks through the API's registry upload: a 422 listing the refusal, never a 500."""

from __future__ import annotations

import pytest

from tests.registry.test_xlsx_bomb_parts import ONE_SHARED_CELL, _book, _external_entity, _laughs


@pytest.mark.parametrize("shared", [_laughs(), _external_entity()], ids=["billion-laughs", "external-entity"])
def test_entity_declarations_get_422_not_500(api_rw, shared):
    r = api_rw.request(
        "POST",
        "admin",
        "/v1/registry/import",
        files=[("files", ("book.xlsx", _book(ONE_SHARED_CELL, shared), "application/octet-stream"))],
    )
    assert r.status_code == 422, r.text
    assert "DTD" in r.json()["errors"][0]["message"]
