"""Property: whatever valid registry is imported, export -> import -> export gives the same bytes."""

from __future__ import annotations

from datetime import datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from store import codes
from store.registry import RegistryImportError, export_files, import_files
from store.registry_files import INSTITUTION_YEARS, INSTITUTIONS, METERS, write_csv
from tests.registry.conftest import TZ

ids = st.from_regex(r"\A[a-z0-9][a-z0-9._-]{0,12}\Z")
# Names with the characters that stress CSV: commas, quotes, line breaks, Chinese, inner spaces.
names = st.text(alphabet=st.sampled_from(list('某局院校,"\n\r ab1()（）')), min_size=1, max_size=20).filter(
    lambda s: s.strip() != ""
)
positive = st.floats(min_value=1e-6, max_value=1e9, allow_nan=False, allow_infinity=False)


@st.composite
def registries(draw):
    inst_ids = draw(st.lists(ids, min_size=1, max_size=4, unique=True))
    institutions, years, meters = [], [], []
    for iid in inst_ids:
        category = draw(st.sampled_from(list(codes.CATEGORIES)))
        subs = list(codes.SUB_KINDS[category])
        institutions.append(
            {
                "id": iid,
                "name": draw(names).strip(),
                "category": category,
                "sub_kind": draw(st.sampled_from(subs)) if subs else None,
                "admin_level": draw(st.sampled_from(list(codes.ADMIN_LEVELS))),
                "region_code": draw(st.sampled_from(["320000", "320100", "321300"])),
                "climate_zone": draw(st.sampled_from(list(codes.CLIMATE_ZONES))),
                "baseline_year": draw(st.none() | st.integers(2000, 2100)),
                "address": draw(st.none() | names.map(str.strip)),
            }
        )
        for y in draw(st.lists(st.integers(2000, 2100), max_size=3, unique=True)):
            years.append(
                {
                    "institution_id": iid,
                    "year": y,
                    "floor_area_m2": draw(positive),
                    "occupants": draw(st.integers(1, 10**6)),
                    "students_counted": draw(st.none() | st.sampled_from(list(codes.STUDENTS_COUNTED))),
                }
            )
        for k in range(draw(st.integers(0, 3))):
            energy = draw(st.sampled_from(list(codes.ENERGY_TYPES)))
            installed = datetime(2019, 1, 1, tzinfo=TZ) + timedelta(seconds=draw(st.integers(0, 10**8)))
            end_use = draw(st.sampled_from(list(codes.END_USES)))
            meters.append(
                {
                    "id": f"{iid}.m{k}",
                    "institution_id": iid,
                    "name": draw(st.none() | names.map(str.strip)),
                    "energy_type": energy,
                    "unit": draw(st.sampled_from(codes.ENERGY_UNITS[energy])),
                    "register": draw(st.sampled_from(list(codes.REGISTERS))),
                    "end_use": end_use,
                    "parent_meter_id": None,
                    "multiplier": draw(positive),
                    "rollover": draw(st.none() | positive),
                    "max_rate_per_h": draw(st.none() | positive),
                    "config_from": draw(
                        st.none() | st.just(installed + timedelta(days=draw(st.integers(0, 399))))
                    ),
                    "installed_at": installed,
                    "retired_at": draw(st.none() | st.just(installed + timedelta(days=400))),
                    "read_interval_s": draw(st.none() | st.integers(0, 10**7)),
                    # a sub-meter without a parent is refused unless it is its own supply
                    "accounting": "own_supply" if end_use in codes.SUB_METER_END_USES else None,
                }
            )
    return institutions, years, meters


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(registries())
def test_export_import_export_is_stable(conn, registry):
    institutions, years, meters = registry
    conn.execute("TRUNCATE meter, institution_year, institution CASCADE")
    files = [
        ("i.csv", write_csv(INSTITUTIONS, institutions, TZ)),
        ("y.csv", write_csv(INSTITUTION_YEARS, years, TZ)),
        ("m.csv", write_csv(METERS, meters, TZ)),
    ]
    try:
        import_files(conn, files, TZ)
    except RegistryImportError as exc:
        raise AssertionError("\n".join(str(e) for e in exc.errors)) from None
    first = export_files(conn, TZ, "csv")
    assert import_files(conn, list(first.items()), TZ).changed == 0
    conn.execute("TRUNCATE meter, institution_year, institution CASCADE")
    import_files(conn, list(first.items()), TZ)
    assert export_files(conn, TZ, "csv") == first
    stored = {r[0]: r[1:] for r in conn.execute("SELECT id, name, address FROM institution")}
    assert stored == {i["id"]: (i["name"], i["address"] or None) for i in institutions}
