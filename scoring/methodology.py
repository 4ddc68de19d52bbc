"""Methodology files: load, validate, hash (docs/design.md §6).

A methodology is a TOML file under scoring/methodologies/: coefficients (with their GB/T 2589 basis),
peer groups and the fallback chain, blocks with points, quota values per peer group, targets, vetoes,
the threshold and the leader rule. It is identified by name, version and the sha256 of its bytes; a run
stores the text, so it can be recomputed years later. Every problem is reported, each as
``file:key: message``, in one `MethodologyError`.
"""

from __future__ import annotations

import hashlib
import math
import tomllib
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from store import codes

METHODOLOGY_DIR = Path(__file__).resolve().parent / "methodologies"
DEFAULT_METHODOLOGY = "jiangsu-2026"

# Energy types a coefficient may be given for: store.codes' energy types less water (its own indicator, in m³).
ENERGY_TYPES = tuple(et for et in codes.ENERGY_TYPES if et not in codes.NON_ENERGY_TYPES)
BASES = ("当量值", "等价值")
# Units a coefficient may be given per: store.codes' unit codes (a unit added there is accepted here).
UnitCode = Literal[tuple(codes.UNITS)]

# Indicators the pure core computes (scoring/indicators.py); blocks, quotas, targets and tie-breaks name them.
LEVEL_INDICATORS = {
    "area_energy_kgce_m2": ("单位建筑面积能耗", "kgce/m²"),
    "capita_energy_kgce": ("人均综合能耗", "kgce/人"),
    "capita_water_m3": ("人均用水量", "m³/人"),
    "area_carbon_kgco2_m2": ("单位建筑面积碳排放", "kgCO₂/m²"),
}
CHANGE_SUFFIXES = {
    "_change_baseline_pct": "比基准年变化",
    "_change_previous_pct": "比上年变化",
    "_change_prior_pct": "上年比前年变化",
}
QUALITY_INDICATORS = {"coverage_min": ("计量数据完整率(最低表)", "0..1")}


def all_indicator_codes() -> list[str]:
    out = list(LEVEL_INDICATORS)
    for base in LEVEL_INDICATORS:
        out += [base + s for s in CHANGE_SUFFIXES]
    return out + list(QUALITY_INDICATORS)


PEER_FIELDS = ("category", "subdivision", "climate_zone")
TIE_BREAK_FIELDS = ("total_points", "institution_id", *LEVEL_INDICATORS)


class MethodologyError(ValueError):
    """A methodology file that does not load; `errors` holds every problem as ``file:key: message``."""

    def __init__(self, errors: list[str]):
        self.errors = errors
        super().__init__("invalid methodology:\n" + "\n".join(errors))


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Header(_M):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    version: str = Field(min_length=1)
    description: str = ""
    energy_basis: Literal["当量值", "等价值"]
    default_baseline_year: int = Field(ge=2000, le=2100)


class Coefficient(_M):
    unit: UnitCode
    kgce_per_unit: float = Field(gt=0)
    basis: Literal["当量值", "等价值"]
    source: str = Field(min_length=1)
    density_kg_per_l: float | None = Field(None, gt=0)
    density_source: str | None = None
    kgco2_per_unit: float = Field(ge=0)
    carbon_source: str = Field(min_length=1)
    carbon_factor_year: int | None = Field(None, ge=2000, le=2100, description="the year the factor is for")
    carbon_factor_scope: Literal["national", "provincial", "other"] | None = None


class Peers(_M):
    min_size: int = Field(ge=1)
    subdivision: dict[str, Literal["admin_level", "sub_kind", "none"]]
    levels: list[list[Literal["category", "subdivision", "climate_zone"]]] = Field(min_length=1)


class Item(_M):
    code: str = Field(pattern=r"^[a-z0-9_]+$")
    label: str
    points: float = Field(gt=0)
    star: bool = False


class Block(_M):
    code: str = Field(pattern=r"^[a-z0-9_]+$")
    label: str
    kind: Literal["measured", "assessed", "bonus"]
    points: float = Field(gt=0)
    method: Literal["indicator", "target", "annual_target", "coverage", "assessed"]
    indicator: str | None = None
    items: list[Item] = Field(default_factory=list)
    maps_to: str = Field(
        "", description="the part of the national evaluation (35/29/20/9/7 + 10) it stands for"
    )


class Plan(_M):
    """The five-year plan period a methodology scores: its years, baseline year and where targets come from."""

    name: str = Field(min_length=1)
    first_year: int = Field(ge=2000, le=2100)
    last_year: int = Field(ge=2000, le=2100)
    baseline_year: int = Field(ge=2000, le=2100)
    source: str = Field(min_length=1)
    # cumulative targets are for the plan's last year; pro-rated, year Y needs target × (Y − baseline) / (last − baseline)
    prorate_targets: bool = False


class Annual(_M):
    """Annual target completion over the last `years` years, each against its previous year (近两年度)."""

    years: int = Field(2, ge=1, le=2)
    source: str = Field(min_length=1)


class Occupants(_M):
    """Whose heads 用能人数 counts for schools, and where the rule comes from."""

    school_students: Literal["included", "excluded"]
    source: str = Field(min_length=1)


class Carbon(_M):
    """How per-area carbon is defined (a statement with its source; vehicle fuel is always left out of it)."""

    vehicle_fuel: Literal["excluded"]
    source: str = Field(min_length=1)


class Quota(_M):
    peer_group: str
    indicator: str
    advanced: float = Field(description="先进值: full points at or below")
    constraint: float = Field(description="约束值: zero points at or above; above it is a veto")
    source: str = Field(min_length=1)


class Target(_M):
    indicator: str
    reduction_pct: float = Field(gt=0, lt=100)
    source: str = Field(min_length=1)


class Vetoes(_M):
    star_item_zero: bool
    missing_statistics: bool
    failed_annual_target: bool
    quota_exceeded: bool
    min_coverage: float = Field(ge=0, le=1)
    # cumulative change against the plan baseline short of its (pro-rated) target; only with [[annual_targets]],
    # without them failed_annual_target covers the cumulative targets (methodologies before plan periods)
    failed_plan_target: bool = False


class Eligibility(_M):
    threshold: float = Field(gt=0)


class Leader(_M):
    enabled: bool
    min_total: float = Field(ge=0)
    top_share_of_peer_group: float = Field(gt=0, le=1)
    source: str = ""


class Ranking(_M):
    tie_break: list[str] = Field(min_length=1)


class Spec(_M):
    methodology: Header
    coefficients: dict[str, Coefficient]
    water: dict[str, str] = Field(default_factory=dict)
    peers: Peers
    blocks: list[Block] = Field(min_length=1)
    quotas: list[Quota] = Field(default_factory=list)
    targets: list[Target] = Field(default_factory=list)
    plan: Plan | None = None
    annual: Annual | None = None
    annual_targets: list[Target] = Field(default_factory=list)
    occupants: Occupants | None = None
    carbon: Carbon | None = None
    vetoes: Vetoes
    eligibility: Eligibility
    leader: Leader
    ranking: Ranking
    base_points: float = 100.0
    bonus_points: float = 10.0


class Methodology:
    """A validated methodology: `spec` (the parsed file), `text`, `hash`, and lookups the core needs."""

    def __init__(self, spec: Spec, text: str, path: str):
        self.spec = spec
        self.text = text
        self.path = path
        self.hash = hashlib.sha256(text.encode("utf-8")).hexdigest()

    @property
    def name(self) -> str:
        return self.spec.methodology.name

    @property
    def version(self) -> str:
        return self.spec.methodology.version

    @cached_property
    def quota_index(self) -> dict[tuple[str, str], Quota]:
        return {(q.peer_group, q.indicator): q for q in self.spec.quotas}

    @cached_property
    def items(self) -> dict[str, Item]:
        return {i.code: i for b in self.spec.blocks for i in b.items}

    def check_year(self, year: int) -> None:
        """Raise ValueError when `year` lies outside the methodology's plan period (e.g. 2026 with a plan
        whose baseline is 2020): its baseline and targets would be the wrong plan's."""
        p = self.spec.plan
        if p is not None and not p.first_year <= year <= p.last_year:
            raise ValueError(
                f"methodology {self.name} scores {p.first_year}-{p.last_year} ({p.name}, baseline "
                f"{p.baseline_year}); {year} is outside it: use a methodology for {year}'s plan period"
            )

    def check_assessed_item(self, item_code: str, points: float) -> None:
        """Raise ValueError unless `item_code` is an assessed item here and 0 ≤ points ≤ its maximum."""
        item = self.items.get(item_code)
        if item is None:
            raise ValueError(
                f"unknown assessed item {item_code!r} in {self.name} (known: {', '.join(self.items)})"
            )
        if not (0 <= points <= item.points) or math.isnan(points):
            raise ValueError(f"{item_code}: points must be between 0 and {item.points:g}, got {points:g}")


def _key(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _semantic_errors(spec: Spec) -> list[tuple[str, str]]:
    from scoring.coal import coef_units_per_metered_unit  # scoring.coal imports this module's models

    errs: list[tuple[str, str]] = []
    known = set(all_indicator_codes())
    basis = spec.methodology.energy_basis
    for et, c in spec.coefficients.items():
        if et not in ENERGY_TYPES:
            errs.append((f"coefficients.{et}", f"unknown energy type (known: {', '.join(ENERGY_TYPES)})"))
        if c.basis != basis:
            errs.append(
                (
                    f"coefficients.{et}.basis",
                    f"{c.basis} mixed with methodology.energy_basis {basis} (GB/T 2589: one basis per run)",
                )
            )
        if (
            et in ("gasoline", "diesel")
            and codes.UNITS[c.unit].dimension == "mass"
            and c.density_kg_per_l is None
        ):
            errs.append(
                (f"coefficients.{et}.density_kg_per_l", "required: vehicle fuel is metered in litres")
            )
        if et in ENERGY_TYPES and not coef_units_per_metered_unit(et, c):
            metered = codes.ENERGY_UNITS.get(et, ())
            errs.append(
                (
                    f"coefficients.{et}.unit",
                    f"{c.unit} ({codes.UNITS[c.unit].dimension}) converts to none of the units {et} is metered in: "
                    + ", ".join(metered),
                )
            )
    for k in ("electricity",):
        if k not in spec.coefficients:
            errs.append((f"coefficients.{k}", "missing"))
    if spec.water.get("unit", "m3") != "m3":
        errs.append(("water.unit", "must be m3"))
    for cat in codes.CATEGORIES:
        if cat not in spec.peers.subdivision:
            errs.append((f"peers.subdivision.{cat}", "missing"))
    for cat in spec.peers.subdivision:
        if cat not in codes.CATEGORIES:
            errs.append((f"peers.subdivision.{cat}", "unknown category"))
    if spec.peers.levels and spec.peers.levels[-1] != []:
        errs.append(
            ("peers.levels", "the last level must be [] (all institutions) so every fallback ends somewhere")
        )
    seen_blocks: set[str] = set()
    seen_items: set[str] = set()
    base = bonus = 0.0
    for i, b in enumerate(spec.blocks):
        k = f"blocks[{i}]"
        if b.code in seen_blocks:
            errs.append((f"{k}.code", f"duplicate block {b.code!r}"))
        seen_blocks.add(b.code)
        if b.kind == "bonus":
            bonus += b.points
        else:
            base += b.points
        if b.method == "indicator":
            if b.indicator is None:
                errs.append((f"{k}.indicator", "required for method = indicator"))
            elif b.indicator not in known:
                errs.append((f"{k}.indicator", f"unknown indicator {b.indicator!r}"))
        if b.kind == "measured" and b.method == "assessed":
            errs.append((f"{k}.method", "a measured block cannot be assessed"))
        if b.kind != "measured" and b.method != "assessed":
            errs.append((f"{k}.method", f"a {b.kind} block must use method = assessed"))
        if b.method == "assessed":
            if not b.items:
                errs.append((f"{k}.items", "an assessed block needs items"))
            total = sum(it.points for it in b.items)
            if b.items and abs(total - b.points) > 1e-9:
                errs.append((f"{k}.items", f"item points add to {total:g}, block has {b.points:g}"))
            for j, it in enumerate(b.items):
                if it.code in seen_items:
                    errs.append((f"{k}.items[{j}].code", f"duplicate item {it.code!r}"))
                seen_items.add(it.code)
        elif b.items:
            errs.append((f"{k}.items", f"only assessed blocks have items (method = {b.method})"))
        if b.method == "target" and not spec.targets:
            errs.append((f"{k}.method", "method = target needs [[targets]]"))
        if b.method == "annual_target" and not (spec.annual_targets and spec.annual):
            errs.append((f"{k}.method", "method = annual_target needs [annual] and [[annual_targets]]"))
    if abs(base - spec.base_points) > 1e-9:
        errs.append(
            ("blocks", f"measured and assessed blocks add to {base:g}, base_points is {spec.base_points:g}")
        )
    if abs(bonus - spec.bonus_points) > 1e-9:
        errs.append(("blocks", f"bonus blocks add to {bonus:g}, bonus_points is {spec.bonus_points:g}"))
    seen_q: set[tuple[str, str]] = set()
    for i, q in enumerate(spec.quotas):
        if q.indicator not in LEVEL_INDICATORS:
            errs.append(
                (
                    f"quotas[{i}].indicator",
                    f"unknown indicator {q.indicator!r} (quota indicators: {', '.join(LEVEL_INDICATORS)})",
                )
            )
        if not q.advanced < q.constraint:
            errs.append(
                (f"quotas[{i}]", f"advanced ({q.advanced:g}) must be below constraint ({q.constraint:g})")
            )
        if (q.peer_group, q.indicator) in seen_q:
            errs.append((f"quotas[{i}]", f"duplicate quota for {q.peer_group} / {q.indicator}"))
        seen_q.add((q.peer_group, q.indicator))
    for i, t in enumerate(spec.targets):
        if t.indicator not in LEVEL_INDICATORS:
            errs.append((f"targets[{i}].indicator", f"unknown indicator {t.indicator!r}"))
    for i, t in enumerate(spec.annual_targets):
        if t.indicator not in LEVEL_INDICATORS:
            errs.append((f"annual_targets[{i}].indicator", f"unknown indicator {t.indicator!r}"))
    if spec.annual_targets and spec.annual is None:
        errs.append(("annual", "[[annual_targets]] need [annual] (how many years, and the rule's source)"))
    p = spec.plan
    if p is not None:
        if not p.baseline_year < p.first_year <= p.last_year:
            errs.append(
                (
                    "plan",
                    f"needs baseline_year < first_year <= last_year, got {p.baseline_year}, "
                    f"{p.first_year}, {p.last_year}",
                )
            )
        if p.baseline_year != spec.methodology.default_baseline_year:
            errs.append(
                (
                    "methodology.default_baseline_year",
                    f"{spec.methodology.default_baseline_year} is not the plan's baseline_year {p.baseline_year}",
                )
            )
    for i, tb in enumerate(spec.ranking.tie_break):
        parts = tb.split()
        if len(parts) != 2 or parts[0] not in TIE_BREAK_FIELDS or parts[1] not in ("asc", "desc"):
            errs.append(
                (
                    f"ranking.tie_break[{i}]",
                    f"{tb!r}: expected '<field> asc|desc' with field in {', '.join(TIE_BREAK_FIELDS)}",
                )
            )
    if spec.ranking.tie_break and spec.ranking.tie_break[-1] != "institution_id asc":
        errs.append(("ranking.tie_break", "must end with 'institution_id asc' so no two institutions tie"))
    if spec.eligibility.threshold > spec.base_points + spec.bonus_points:
        errs.append(("eligibility.threshold", "above the maximum points"))
    return errs


def parse_methodology(text: str, path: str = "<methodology>") -> Methodology:
    """Validate a methodology's text; raises MethodologyError listing every problem as ``file:key: message``."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MethodologyError([f"{path}:(toml): {exc}"]) from exc
    try:
        spec = Spec.model_validate(data)
    except ValidationError as exc:
        errors = []
        for e in exc.errors():
            key = _key(e["loc"]) or "(root)"
            errors.append(f"{path}:{key}: {e['msg']}")
        raise MethodologyError(errors) from exc
    sem = _semantic_errors(spec)
    if sem:
        raise MethodologyError([f"{path}:{k}: {m}" for k, m in sem])
    return Methodology(spec, text, path)


# The shipped Jiangsu methodologies by plan period: without a named methodology a year is scored with the one
# whose plan period holds it (2021-2025: 14th plan, baseline 2020; 2026-2030: 15th plan, baseline 2025).
DEFAULT_BY_PERIOD = ((2021, 2025, "jiangsu-2025"), (2026, 2030, "jiangsu-2026"))


def default_for_year(year: int | None) -> str:
    """The shipped default methodology for `year` (DEFAULT_METHODOLOGY when no period holds it or year is None)."""
    for first, last, name in DEFAULT_BY_PERIOD:
        if year is not None and first <= year <= last:
            return name
    return DEFAULT_METHODOLOGY


def resolve_path(methodology: str | Path | None, year: int | None = None) -> Path:
    """A file path, or a shipped methodology's name (e.g. ``jiangsu-2026``); None is the default for `year`."""
    if methodology is None:
        methodology = default_for_year(year)
    p = Path(methodology)
    if p.suffix != ".toml" and not p.exists():
        p = METHODOLOGY_DIR / f"{methodology}.toml"
    return p


def load_methodology(methodology: str | Path | None = None, *, year: int | None = None) -> Methodology:
    """Load and validate a methodology (a path or shipped name; None: the shipped default for `year`)."""
    p = resolve_path(methodology, year)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise MethodologyError([f"{p}:(file): {exc.strerror or exc}"]) from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MethodologyError([f"{p}:(file): not UTF-8 ({exc})"]) from exc
    return parse_methodology(text, str(p))
