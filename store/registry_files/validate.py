"""Validating registry rows: every row parsed, then checked against the others and the database's state.

Pure: ``store.registry`` loads the ``DbState`` and runs the import transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import tzinfo

from store import codes
from store.registry_files.parse import _BAD, _allowed, _good, _parse_row, parse_code
from store.registry_files.schema import (
    KINDS,
    REPORTED_USAGE,
    CellError,
    DbMeter,
    DbState,
    Kind,
    Parsed,
    Row,
    RowError,
    Table,
)


def validate(tables: list[Table], state: DbState, tz: tzinfo) -> tuple[Parsed, list[RowError]]:
    """Parse and check every row of every table against each other and ``state``; collect every error.

    The result is importable only when the error list is empty.
    """
    errors: list[RowError] = []
    parsed = Parsed()
    for t in tables:
        for line, raw in t.rows:
            parsed.rows(t.kind).append(_parse_row(t, line, raw, tz, errors))

    _check_institutions(parsed.institutions, state, errors)
    inst_ids = set(state.institutions) | {r.values["id"] for r in parsed.institutions if _good(r, "id")}
    _check_years(parsed.years, inst_ids, errors)
    parsed.meters = _check_meters(parsed.meters, inst_ids, state, errors)
    _check_reported(parsed.reported, inst_ids, errors)
    _projects.check(parsed.projects, inst_ids, parsed.meters, state, errors)
    return parsed, sort_errors(errors, [t.source for t in tables], {t.source: t.kind for t in tables})


def sort_errors(
    errors: list[RowError], sources: list[str], kinds: Mapping[str, Kind] | None = None
) -> list[RowError]:
    """Errors in file order (as given), then line, then column order in the file's kind (``kinds``: source ->
    kind, when known; kinds order the same columns differently, e.g. unit and end_use)."""
    rank: dict[str, int] = {}
    for src in sources + [e.file for e in errors]:
        rank.setdefault(src, len(rank))
    kinds = kinds or {}
    return sorted(errors, key=lambda e: (rank[e.file], e.line, _col_order(e, kinds.get(e.file))))


def _col_order(e: RowError, kind: Kind | None = None) -> int:
    for k in [kind] if kind is not None else KINDS.values():
        if e.column in k.column_names:
            return k.column_names.index(e.column)
    return -1


def _where(row: Row) -> str:
    return f"{row.source}:{row.line}"


def _check_duplicates(rows: list[Row], key: tuple[str, ...], label: str, errors: list[RowError]) -> None:
    first: dict[tuple, Row] = {}
    for r in rows:
        if not _good(r, *key):
            continue
        k = tuple(r.values[c] for c in key)
        if k in first:
            shown = "/".join(str(v) for v in k)
            errors.append(r.where(key[-1], f"duplicate {label} '{shown}' (first at {_where(first[k])})"))
        else:
            first[k] = r


def _check_institutions(rows: list[Row], state: DbState, errors: list[RowError]) -> None:
    _check_duplicates(rows, ("id",), "institution id", errors)
    for r in rows:
        v = r.values
        if _good(r, "region_code") and v["region_code"] not in state.region_codes:
            errors.append(r.where("region_code", f"unknown region code '{v['region_code']}'"))
        if _good(r, "category"):
            _check_sub_kind(r, state, errors)


def _check_sub_kind(r: Row, state: DbState, errors: list[RowError]) -> None:
    v = r.values
    category = v["category"]
    allowed = codes.SUB_KINDS[category]
    if "sub_kind" in v:
        sub = v["sub_kind"]
    else:  # column left out of the file: the stored sub_kind stays, so it must suit the category
        stored = state.institutions.get(v["id"]) if _good(r, "id") else None
        sub = stored[1] if stored else None
        if (sub or None) is not None and sub not in allowed:
            errors.append(
                r.where(
                    "sub_kind",
                    f"stored sub_kind '{sub}' does not suit category {category}; add a sub_kind column",
                )
            )
            return
        if allowed and not sub:
            errors.append(
                r.where(
                    "sub_kind", f"sub_kind is required for category {category}; allowed: {_allowed(allowed)}"
                )
            )
        return
    if not allowed:
        if sub:
            errors.append(
                r.where(
                    "sub_kind", f"category {category} has no sub-kinds; leave sub_kind empty, not '{sub}'"
                )
            )
        v["sub_kind"] = None
    elif not sub:
        errors.append(
            r.where("sub_kind", f"sub_kind is required for category {category}; allowed: {_allowed(allowed)}")
        )
    else:
        try:
            v["sub_kind"] = parse_code(sub, allowed, f"sub_kind for category {category}")
        except CellError as exc:
            errors.append(r.where("sub_kind", str(exc)))


def _check_institution_ref(r: Row, inst_ids: set[str], errors: list[RowError]) -> None:
    """The row's institution_id names an institution in the registry or in this import."""
    v = r.values
    if _good(r, "institution_id") and v["institution_id"] not in inst_ids:
        errors.append(
            r.where(
                "institution_id", f"institution '{v['institution_id']}' is not in the registry or this import"
            )
        )


def _check_unit(r: Row, errors: list[RowError]) -> None:
    """The row's unit is one allowed for its energy_type (store.codes.ENERGY_UNITS)."""
    v = r.values
    if _good(r, "energy_type", "unit") and not codes.unit_allowed(v["energy_type"], v["unit"]):
        errors.append(
            r.where(
                "unit",
                f"unit {v['unit']} is not allowed for energy_type {v['energy_type']}; "
                f"allowed: {', '.join(codes.ENERGY_UNITS[v['energy_type']])}",
            )
        )


def _check_years(rows: list[Row], inst_ids: set[str], errors: list[RowError]) -> None:
    _check_duplicates(rows, ("institution_id", "year"), "institution year", errors)
    for r in rows:
        _check_institution_ref(r, inst_ids, errors)


def _check_reported(rows: list[Row], inst_ids: set[str], errors: list[RowError]) -> None:
    _check_duplicates(rows, REPORTED_USAGE.key, "reported usage", errors)
    for r in rows:
        _check_institution_ref(r, inst_ids, errors)
        _check_unit(r, errors)


def _check_meters(rows: list[Row], inst_ids: set[str], state: DbState, errors: list[RowError]) -> list[Row]:
    _check_duplicates(rows, ("id",), "meter id", errors)
    merged: dict[str, DbMeter] = dict(state.meters)
    by_id: dict[str, Row] = {}
    for r in rows:
        v = r.values
        if not _good(r, "id") or v["id"] in by_id:
            continue
        by_id[v["id"]] = r
        if "parent_meter_id" in v:
            parent = v["parent_meter_id"] if _good(r, "parent_meter_id") else None
        else:  # column left out of the file: the stored parent stays
            old = state.meters.get(v["id"])
            parent = old.parent_meter_id if old else None
        merged[v["id"]] = DbMeter(
            v["institution_id"] if _good(r, "institution_id") else "",
            v["energy_type"] if _good(r, "energy_type") else "",
            parent,
        )
        _check_meter_accounting(r, parent, state.meters.get(v["id"]), errors)

    for r in rows:
        v = r.values
        _check_institution_ref(r, inst_ids, errors)
        _check_unit(r, errors)
        _check_config_from(r, errors)
        if _good(r, "installed_at", "retired_at") and v.get("retired_at") is not None:
            if v["retired_at"] <= v["installed_at"]:
                errors.append(
                    r.where(
                        "retired_at",
                        f"retired_at {v['retired_at'].isoformat()} is not after installed_at {v['installed_at'].isoformat()}",
                    )
                )
        parent = v.get("parent_meter_id")
        if not _good(r, "id", "parent_meter_id") or not parent:
            continue
        if parent == v["id"]:
            errors.append(r.where("parent_meter_id", "a meter cannot be its own parent"))
            continue
        p = merged.get(parent)
        if p is None:
            errors.append(
                r.where("parent_meter_id", f"parent meter '{parent}' is not in the registry or this import")
            )
            continue
        if _good(r, "institution_id") and p.institution_id != v["institution_id"]:
            errors.append(
                r.where(
                    "parent_meter_id",
                    f"parent meter '{parent}' belongs to institution '{p.institution_id}', not '{v['institution_id']}'",
                )
            )
        if _good(r, "energy_type") and p.energy_type and p.energy_type != v["energy_type"]:
            errors.append(
                r.where(
                    "parent_meter_id",
                    f"parent meter '{parent}' measures {p.energy_type}, not {v['energy_type']}",
                )
            )
        chain = [v["id"], parent]
        cur = merged.get(parent)
        while cur is not None and cur.parent_meter_id is not None:
            if cur.parent_meter_id in chain:
                chain.append(cur.parent_meter_id)
                errors.append(r.where("parent_meter_id", f"parent meters form a loop: {' -> '.join(chain)}"))
                break
            chain.append(cur.parent_meter_id)
            cur = merged.get(cur.parent_meter_id)
    return _parents_first(rows)


def _check_config_from(r: Row, errors: list[RowError]) -> None:
    """A configuration takes effect while the meter is in service (empty: from the beginning)."""
    v = r.values
    when = v.get("config_from")
    if when is None or when is _BAD:
        return
    if _good(r, "installed_at") and when < v["installed_at"]:
        errors.append(
            r.where(
                "config_from",
                f"config_from {when.isoformat()} is before installed_at {v['installed_at'].isoformat()}; "
                "leave it empty for a configuration in force from the beginning",
            )
        )
    elif _good(r, "retired_at") and v.get("retired_at") is not None and when >= v["retired_at"]:
        errors.append(
            r.where(
                "config_from",
                f"config_from {when.isoformat()} is not before retired_at {v['retired_at'].isoformat()}",
            )
        )


def _check_meter_accounting(r: Row, parent: str | None, old: DbMeter | None, errors: list[RowError]) -> None:
    """A sub-meter with no parent is counted nowhere: refuse it unless it is its own supply; a deducted
    (excluded-area) meter must be inside a parent; the reading interval is whole seconds, 0 for event-based."""
    v = r.values
    if _good(r, "read_interval_s") and v.get("read_interval_s") is not None and v["read_interval_s"] < 0:
        errors.append(
            r.where(
                "read_interval_s",
                f"read_interval_s must be 0 (event-based) or more seconds, got {v['read_interval_s']}",
            )
        )
    if not _good(r, "end_use") or any(c in v and not _good(r, c) for c in ("accounting", "parent_meter_id")):
        return
    end_use = v.get("end_use")
    accounting = v["accounting"] if "accounting" in v else (old.accounting if old else None)
    if accounting == "own_supply" and parent:
        errors.append(
            r.where(
                "accounting",
                f"own_supply is a meter with its own feed: it cannot be inside parent meter '{parent}'",
            )
        )
    elif accounting == "excluded_area" and not parent:
        errors.append(
            r.where(
                "accounting",
                "excluded_area is deducted from its parent meter's use: parent_meter_id is required",
            )
        )
    elif end_use in codes.SUB_METER_END_USES and not parent and accounting != "own_supply":
        errors.append(
            r.where(
                "parent_meter_id",
                f"a {end_use} sub-meter needs parent_meter_id (the meter its use is inside), or it would be counted "
                "nowhere; a separately fed supply (e.g. a data centre on its own feeder) is counted with accounting = own_supply",
            )
        )


def _parents_first(rows: list[Row]) -> list[Row]:
    """Meters ordered so a parent in the import is written before its children (the foreign key needs it)."""
    by_id = {r.values.get("id"): r for r in rows}
    out: list[Row] = []
    done: set[int] = set()

    def visit(r: Row, depth: int) -> None:
        if id(r) in done or depth > len(rows):
            return
        parent = r.values.get("parent_meter_id")
        if isinstance(parent, str) and parent in by_id:
            visit(by_id[parent], depth + 1)
        done.add(id(r))
        out.append(r)

    for r in rows:
        visit(r, 0)
    return out


# The projects kind (savings verification) checks its rows with the helpers above; it registers itself in KINDS.
from store import registry_projects as _projects  # noqa: E402
