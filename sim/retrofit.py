"""A simulated retrofit: from a local day on, an institution uses a known share less of some energy types.

The truth a savings verification should find (docs/savings.md): the cut applies to every part of the
institution's use of those types (base load and HVAC alike), so main meters and sub-meters all show it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Retrofit:
    institution_id: str
    start: dt.date  # first local day with the lower use
    share: float  # fraction of use cut, 0 ≤ share < 1
    energy_types: tuple[str, ...] = ("electricity",)

    def factor(self, energy_type: str, ordinal: np.ndarray) -> np.ndarray:
        """Multiplier of use on each local day ``ordinal`` (proleptic Gregorian)."""
        if energy_type not in self.energy_types:
            return np.ones(len(ordinal))
        return np.where(ordinal >= self.start.toordinal(), 1.0 - self.share, 1.0)


def parse(text: str) -> Retrofit:
    """``INSTITUTION:YYYY-MM-DD:SHARE[:TYPE,TYPE…]``, e.g. ``nj-fgw:2026-01-01:0.2:electricity``."""
    parts = text.split(":")
    if len(parts) not in (3, 4):
        raise ValueError(f"{text!r}: expected INSTITUTION:YYYY-MM-DD:SHARE[:TYPE,TYPE]")
    try:
        start = dt.date.fromisoformat(parts[1])
        share = float(parts[2])
    except ValueError as exc:
        raise ValueError(f"{text!r}: {exc}") from None
    if not 0.0 <= share < 1.0:
        raise ValueError(f"{text!r}: share must be at least 0 and below 1, got {share}")
    types = tuple(t for t in parts[3].split(",") if t) if len(parts) == 4 else ("electricity",)
    return Retrofit(parts[0], start, share, types or ("electricity",))
