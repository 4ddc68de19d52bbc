"""The savings methodology (savings/methodology.toml): degree-day bases, CalTRACK model and sufficiency rules,
uncertainty and indicative prices, validated on load and identified by the sha256 of the file's bytes."""

from __future__ import annotations

import functools
import hashlib
import tomllib
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

DEFAULT_PATH = Path(__file__).resolve().parent / "methodology.toml"


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DegreeDays(_M):
    hdd_base_c: float
    cdd_base_c: float
    source: str = Field(min_length=1)


class ModelRules(_M):
    balance_point_min_c: float
    balance_point_max_c: float
    balance_point_step_c: float = Field(gt=0)
    max_p_value: float = Field(gt=0, le=1)
    min_nonzero_degree_days: int = Field(ge=0)
    min_total_degree_days_c: float = Field(ge=0)
    day_types: bool = True
    min_days_per_day_type: int = Field(ge=1)

    @model_validator(mode="after")
    def _range(self) -> ModelRules:
        if self.balance_point_max_c <= self.balance_point_min_c:
            raise ValueError("balance_point_max_c must be above balance_point_min_c")
        return self


class Sufficiency(_M):
    baseline_min_days: int = Field(ge=1)
    baseline_max_days: int = Field(ge=1)
    min_coverage: float = Field(gt=0, le=1)
    min_monthly_coverage: float = Field(ge=0, le=1)
    reporting_min_coverage: float = Field(gt=0, le=1)


class Uncertainty(_M):
    confidence_level: float = Field(gt=0, lt=1)


class Spec(_M):
    name: str
    version: str
    degree_days: DegreeDays
    model: ModelRules
    sufficiency: Sufficiency
    uncertainty: Uncertainty
    prices: dict[str, float | str]

    def price(self, energy_type: str) -> float | None:
        v = self.prices.get(energy_type)
        return float(v) if isinstance(v, int | float) else None


@dataclass(frozen=True)
class SavingsMethodology:
    spec: Spec
    sha256: str
    path: Path


class MethodologyError(ValueError):
    pass


def load(path: Path | None = None) -> SavingsMethodology:
    """The methodology at ``path`` (default: the shipped one); MethodologyError names each bad key.

    Parsed again only when the file changed (its size or modification time): every report reads it.
    """
    p = path or DEFAULT_PATH
    st = p.stat()
    return _load(p, st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=16)
def _load(p: Path, mtime_ns: int, size: int) -> SavingsMethodology:
    raw = p.read_bytes()
    try:
        spec = Spec.model_validate(tomllib.loads(raw.decode("utf-8")))
    except tomllib.TOMLDecodeError as exc:
        raise MethodologyError(f"{p}: not valid TOML: {exc}") from exc
    except ValidationError as exc:
        msgs = "; ".join(f"{p}:{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise MethodologyError(msgs) from exc
    return SavingsMethodology(spec, hashlib.sha256(raw).hexdigest(), p)
