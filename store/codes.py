"""Registry codes with their Chinese labels, allowed units, and unit conversion.

The one module every part imports for these codes (registry import, ingest unit conversion, scoring,
API, dashboards). The codes are the values stored in the database (store/migrations/0001_core.sql
CHECK constraints); the Chinese labels are the terms of the public-institution energy statistics
(公共机构能源资源消费统计) and appear in files and reports.

Unit factors are exact SI relations (1 kWh = 3.6 MJ, 1 m³ = 1000 L, 1 t = 1000 kg), kept as
fractions so that chained conversions do not pick up rounding error.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

# --- institutions ----------------------------------------------------------------------------------

CATEGORIES: dict[str, str] = {
    "government": "机关",
    "school": "学校",
    "hospital": "医院",
    "venue": "场馆",
    "other": "其他",
}

# Sub-kinds per category; government and other have none (the column stays empty).
SUB_KINDS: dict[str, dict[str, str]] = {
    "government": {},
    "school": {
        "university": "高等学校",
        "vocational": "职业学校",
        "secondary": "中学",
        "primary": "小学",
        "kindergarten": "幼儿园",
    },
    "hospital": {
        "grade3": "三级",
        "grade2": "二级",
        "grade1": "一级",
    },
    "venue": {
        "sports": "体育场馆",
        "culture": "文化场馆",  # museum, library, theatre
        "exhibition": "会展",
    },
    "other": {},
}

ADMIN_LEVELS: dict[str, str] = {
    "province": "省级",
    "city": "市级",
    "county": "县级",
    "township": "乡镇",
}

CLIMATE_ZONES: dict[str, str] = {
    "cold": "寒冷",
    "hot_summer_cold_winter": "夏热冬冷",
}

# --- meters ----------------------------------------------------------------------------------------

ENERGY_TYPES: dict[str, str] = {
    "electricity": "电力",
    "water": "水",
    "natural_gas": "天然气",
    "heat": "热力",
    "steam": "蒸汽",
    "coal": "煤",
    "gasoline": "汽油",
    "diesel": "柴油",
    "lpg": "液化石油气",
    "other": "其他",
}

# Water is not energy (docs/design.md §5): it is its own indicator in m³.
NON_ENERGY_TYPES: frozenset[str] = frozenset({"water"})

REGISTERS: dict[str, str] = {
    "cumulative": "累计读数",  # a counter; consumption is the difference between readings
    "interval": "区间用量",  # each value is the consumption of the interval ending at ts
}

END_USES: dict[str, str] = {
    "main": "总表",
    "lighting_sockets": "照明插座",
    "hvac": "空调",
    "power": "动力",
    "special": "特殊用电",
    "vehicle": "公务用车",
}

# End uses that are 分项 sub-metering under a main meter.
SUB_METER_END_USES: frozenset[str] = frozenset({"lighting_sockets", "hvac", "power", "special"})

# meter.accounting: how a meter's use enters the totals beyond end_use and parent_meter_id (0013 migration).
METER_ACCOUNTING: dict[str, str] = {
    "own_supply": "独立供能(计入总量)",  # a sub-metering end use on its own feed, no parent: counted
    "excluded_area": "扣除面积用量",  # dormitories, leased-out space: deducted (建筑面积 excludes them)
}

# institution_year.students_counted: whether occupants (用能人数) include the students.
STUDENTS_COUNTED: dict[str, str] = {"yes": "含学生", "no": "不含学生"}


# Expected reading interval of a meter (meter.read_interval_s): how often data are due, so coverage (share of
# expected intervals holding a reading) is judged against what the meter is meant to send. 0 is event-based:
# one reading per fill-up or delivery, where coverage means nothing.
EVENT_BASED = 0
HOURLY_S = 3600
DAILY_S = 86_400
# Delivered fuels are read per delivery or fill-up, not on a clock.
EVENT_ENERGY_TYPES: frozenset[str] = frozenset({"gasoline", "diesel", "lpg", "coal"})


def default_read_interval_s(energy_type: str, end_use: str, register: str | None = None) -> int:
    """The expected reading interval of a meter whose registry row leaves `read_interval_s` empty.

    The one rule for every part (scoring's coverage, dashboards' silence alerts, ingest): official-vehicle
    meters and delivered fuels are event-based (0); water meters are read daily (86,400 s: remote-read water
    meters commonly report once a day); everything else hourly (3,600 s, the platform's collection interval).
    `register` (cumulative or interval) does not change the default today; it is taken so that a rule by
    register kind can be added in this one place.

    Parameters
    ----------
    energy_type : str
        ENERGY_TYPES code.
    end_use : str
        END_USES code.
    register : str, optional
        REGISTERS code.

    Returns
    -------
    int
        Seconds between expected readings; 0 for event-based meters.
    """
    del register
    if end_use == "vehicle" or energy_type in EVENT_ENERGY_TYPES:
        return EVENT_BASED
    if energy_type == "water":
        return DAILY_S
    return HOURLY_S


def read_interval_s(value: int | None, energy_type: str, end_use: str, register: str | None = None) -> int:
    """A meter's expected reading interval: its registry value, or the default rule when it has none."""
    return default_read_interval_s(energy_type, end_use, register) if value is None else value


# --- units -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Unit:
    code: str
    dimension: str  # energy | volume | mass
    factor: Fraction  # how many of the dimension's base unit one of this unit is
    label: str


_BASE = {"energy": "MJ", "volume": "L", "mass": "kg"}

UNITS: dict[str, Unit] = {
    u.code: u
    for u in (
        Unit("Wh", "energy", Fraction(36, 10_000), "瓦时"),
        Unit("kWh", "energy", Fraction(36, 10), "千瓦时"),
        Unit("MWh", "energy", Fraction(3600), "兆瓦时"),
        Unit("MJ", "energy", Fraction(1), "兆焦"),
        Unit("GJ", "energy", Fraction(1000), "吉焦"),
        Unit("L", "volume", Fraction(1), "升"),
        Unit("m3", "volume", Fraction(1000), "立方米"),
        Unit("kg", "mass", Fraction(1), "千克"),
        Unit("t", "mass", Fraction(1000), "吨"),
    )
}

# Spellings people write for the same unit; files and payloads may use them, the database stores the code.
UNIT_ALIASES: dict[str, str] = {
    "wh": "Wh",
    "kwh": "kWh",
    "kw·h": "kWh",
    "kw.h": "kWh",
    "度": "kWh",
    "千瓦时": "kWh",
    "mwh": "MWh",
    "mj": "MJ",
    "gj": "GJ",
    "l": "L",
    "升": "L",
    "m3": "m3",
    "m³": "m3",
    "立方米": "m3",
    "方": "m3",
    "kg": "kg",
    "千克": "kg",
    "公斤": "kg",
    "t": "t",
    "吨": "t",
}

# Units a meter of each energy type may be registered in (the first is the canonical one).
ENERGY_UNITS: dict[str, tuple[str, ...]] = {
    "electricity": ("kWh", "MWh"),
    "water": ("m3", "L"),
    "natural_gas": ("m3",),
    "heat": ("GJ", "MJ", "kWh"),
    "steam": ("t", "kg"),
    "coal": ("t", "kg"),
    "gasoline": ("L", "kg"),
    "diesel": ("L", "kg"),
    "lpg": ("kg", "m3"),
    "other": ("kWh", "MWh", "m3", "L", "GJ", "MJ", "t", "kg"),
}

# The unit in which usage of each energy type is reported and scored; None: no single one ("other").
CANONICAL_UNITS: dict[str, str | None] = {
    "electricity": "kWh",
    "water": "m3",
    "natural_gas": "m3",
    "heat": "GJ",
    "steam": "t",
    "coal": "t",
    "gasoline": "L",
    "diesel": "L",
    "lpg": "kg",
    "other": None,
}


class UnitError(ValueError):
    """An unknown unit, or two units of different dimensions (e.g. L and kg: needs a density)."""


def normalize_unit(text: str) -> str:
    """The unit code for a spelling ('kwh', 'm³', '吨' …); raises UnitError when unknown."""
    s = text.strip()
    if s in UNITS:
        return s
    code = UNIT_ALIASES.get(s.lower())
    if code is None:
        raise UnitError(f"unknown unit {text!r} (known: {', '.join(UNITS)})")
    return code


def conversion_factor(from_unit: str, to_unit: str) -> float:
    """Multiply a value in ``from_unit`` by this to get ``to_unit`` (SI: 1 kWh = 3.6 MJ, 1 m³ = 1000 L, 1 t = 1000 kg).

    Raises UnitError for an unknown unit or units of different dimensions: volume and mass of a
    fuel convert only through its density, which is methodology data, not a unit relation.
    """
    src, dst = UNITS.get(from_unit), UNITS.get(to_unit)
    if src is None or dst is None:
        unknown = from_unit if src is None else to_unit
        raise UnitError(f"unknown unit {unknown!r} (known: {', '.join(UNITS)})")
    if src.dimension != dst.dimension:
        raise UnitError(f"cannot convert {from_unit} ({src.dimension}) to {to_unit} ({dst.dimension})")
    return float(src.factor / dst.factor)


def convert(value: float, from_unit: str, to_unit: str) -> float:
    """``value`` in ``from_unit`` expressed in ``to_unit`` (exact SI factors; see conversion_factor)."""
    if from_unit == to_unit:
        return value
    return value * conversion_factor(from_unit, to_unit)


def to_canonical(value: float, energy_type: str, unit: str) -> tuple[float, str]:
    """``value`` in the canonical unit of ``energy_type`` (CANONICAL_UNITS), with that unit.

    For "other", or a fuel metered by mass whose canonical unit is a volume (or the reverse), the
    value comes back unchanged in its own unit: converting it needs a density from the methodology.
    """
    canonical = CANONICAL_UNITS[energy_type]
    if canonical is None or UNITS[unit].dimension != UNITS[canonical].dimension:
        return value, unit
    return convert(value, unit, canonical), canonical


def unit_allowed(energy_type: str, unit: str) -> bool:
    return unit in ENERGY_UNITS.get(energy_type, ())
