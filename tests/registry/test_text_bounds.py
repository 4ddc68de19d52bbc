"""Names and other free text have a length bound, refused with a clear row-level error."""

from __future__ import annotations

import pytest

from store import registry_files as rf
from store.registry import RegistryImportError, import_files
from tests.registry.conftest import INST_HEADER, TZ, csv_file, snapshot


def _inst(name: str, address: str = "") -> str:
    return f"n1,{name},government,,city,320100,hot_summer_cold_winter,2020,{address}"


def test_overlong_name_and_address_are_refused(conn):
    before = snapshot(conn)
    long_name = "长" * (rf.TEXT_MAX_CHARS["name"] + 1)
    long_address = "路" * (rf.TEXT_MAX_CHARS["address"] + 1)
    with pytest.raises(RegistryImportError) as info:
        import_files(conn, [csv_file("i.csv", INST_HEADER, _inst(long_name, long_address))], TZ)
    assert [str(e) for e in info.value.errors] == [
        f"i.csv:2:name: name is {rf.TEXT_MAX_CHARS['name'] + 1} characters long; at most {rf.TEXT_MAX_CHARS['name']}",
        f"i.csv:2:address: address is {rf.TEXT_MAX_CHARS['address'] + 1} characters long; "
        f"at most {rf.TEXT_MAX_CHARS['address']}",
    ]
    assert snapshot(conn) == before
    ok = import_files(conn, [csv_file("i.csv", INST_HEADER, _inst("长" * rf.TEXT_MAX_CHARS["name"]))], TZ)
    assert ok.institutions.inserted == 1
