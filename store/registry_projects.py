"""Registry file kind ``projects``: retrofits, energy-performance contracts (合同能源管理) and energy
trusteeships (能源托管) whose savings jieneng verifies from the meters (docs/savings.md).

Kept apart from ``store.registry_files`` (whose validate module imports this one) so that file kind stays one
self-contained addition. Periods are local calendar days, both ends included, in the order baseline,
installation, reporting.
"""

from __future__ import annotations

import math

from store import codes
from store.registry_files import schema as _schema
from store.registry_files.parse import _BAD, _good, parse_code
from store.registry_files.schema import CellError, Col, DbState, Kind, Row, RowError
from store.registry_files.validate import _check_duplicates, _check_institution_ref

PROJECT_KINDS: dict[str, str] = {
    "retrofit": "节能改造",
    "epc": "合同能源管理",
    "trusteeship": "能源托管",
}

PERIODS = ("baseline_from", "baseline_to", "install_from", "install_to", "reporting_from", "reporting_to")

PROJECTS = Kind(
    "projects",
    "project",
    "projects.csv",
    ("id",),
    (
        Col("id", "id", required=True),
        Col("institution_id", "id", required=True),
        Col("kind", "code", required=True, codes=PROJECT_KINDS, what="project kind"),
        Col("name", "text", required=True),
        Col("energy_types", "text", required=True),  # ';'-separated codes or labels
        Col("meter_ids", "text"),  # ';'-separated; empty: the institution's main meters of those types
        *(Col(p, "date", required=True) for p in PERIODS),
        Col("description", "text"),
        Col("contract_ref", "text"),
        Col("prices", "text"),  # 'electricity=0.68;natural_gas=3.4', yuan per canonical unit
    ),
)

SIGNATURE = {"kind", "energy_types", "meter_ids", *PERIODS, "contract_ref", "prices"}

_schema.KINDS[PROJECTS.name] = PROJECTS
_schema._SIGNATURE[PROJECTS.name] = SIGNATURE


def _split(text: str) -> list[str]:
    return [p.strip() for p in text.replace("；", ";").split(";") if p.strip()]


def check(
    rows: list[Row], inst_ids: set[str], meters: list[Row], state: DbState, errors: list[RowError]
) -> None:
    """Every project row against the registry and this import; normalises energy_types, meter_ids, prices."""
    _check_duplicates(rows, PROJECTS.key, "project id", errors)
    known = {mid: (m.institution_id, m.energy_type) for mid, m in state.meters.items()}
    for m in meters:
        if _good(m, "id", "institution_id", "energy_type"):
            known[m.values["id"]] = (m.values["institution_id"], m.values["energy_type"])
    for r in rows:
        _check_institution_ref(r, inst_ids, errors)
        types = _check_energy_types(r, errors)
        _check_meters(r, types, known, errors)
        _check_periods(r, errors)
        _check_prices(r, types, errors)


def _check_energy_types(r: Row, errors: list[RowError]) -> list[str] | None:
    if not _good(r, "energy_types"):
        return None
    out: list[str] = []
    for part in _split(r.values["energy_types"]):
        try:
            et = parse_code(part, codes.ENERGY_TYPES, "energy_type")
        except CellError as exc:
            errors.append(r.where("energy_types", str(exc)))
            return None
        if et not in out:
            out.append(et)
    if not out:
        errors.append(r.where("energy_types", "at least one energy type is required"))
        return None
    r.values["energy_types"] = ";".join(out)
    return out


def _check_meters(
    r: Row, types: list[str] | None, known: dict[str, tuple[str, str]], errors: list[RowError]
) -> None:
    text = r.values.get("meter_ids")
    if not text or text is _BAD:
        r.values["meter_ids"] = None if text is None or text == "" else text
        return
    ids = _split(text)
    for mid in ids:
        if mid not in known:
            errors.append(r.where("meter_ids", f"meter '{mid}' is not in the registry or this import"))
            continue
        inst, et = known[mid]
        if _good(r, "institution_id") and inst != r.values["institution_id"]:
            errors.append(
                r.where(
                    "meter_ids",
                    f"meter '{mid}' belongs to institution '{inst}', not '{r.values['institution_id']}'",
                )
            )
        elif types is not None and et not in types:
            errors.append(r.where("meter_ids", f"meter '{mid}' measures {et}, which is not in energy_types"))
    r.values["meter_ids"] = ";".join(ids)


def _check_periods(r: Row, errors: list[RowError]) -> None:
    if not _good(r, *PERIODS):
        return
    v = r.values
    for a, b in zip(PERIODS, PERIODS[1:], strict=False):
        strict = a.endswith("_to")  # a period ends before the next begins; a period may be one day
        if v[b] < v[a] or (strict and v[b] == v[a]):
            rel = "after" if strict else "on or after"
            errors.append(
                r.where(b, f"{b} {v[b]} must be {rel} {a} {v[a]} (baseline, installation, then reporting)")
            )
            return


def _check_prices(r: Row, types: list[str] | None, errors: list[RowError]) -> None:
    text = r.values.get("prices")
    if not text or text is _BAD:
        r.values["prices"] = None if not text else text
        return
    out = []
    for part in _split(text):
        et, sep, price = part.partition("=")
        et, price = et.strip(), price.strip()
        try:
            et = parse_code(et, codes.ENERGY_TYPES, "energy_type")
            value = float(price) if sep else math.nan
        except CellError as exc:
            errors.append(r.where("prices", str(exc)))
            return
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value < 0:
            errors.append(
                r.where("prices", f"'{part}' is not energy_type=price (yuan per canonical unit, ≥ 0)")
            )
            return
        if types is not None and et not in types:
            errors.append(r.where("prices", f"price for {et}, which is not in energy_types"))
            return
        out.append(f"{et}={price}")
    r.values["prices"] = ";".join(out)


def parse_prices(text: str | None) -> dict[str, float]:
    """A stored ``prices`` cell as {energy type: yuan per canonical unit}."""
    out: dict[str, float] = {}
    for part in _split(text or ""):
        et, _, price = part.partition("=")
        out[et.strip()] = float(price)
    return out
