"""Fault rates and the ground-truth record of every fault the simulator injects.

Each decision is a counter-based random draw keyed on (seed, meter or institution, local day), so the same
faults land on the same readings however the run is chunked, and a test can check ingest's rejects,
conflicts and quarantines against this record.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields

import numpy as np

from sim import rand

STEPS_PER_DAY = 96

MALFORMED_KINDS = ("bad_json", "unknown_meter", "bad_value_type", "bad_ts")


@dataclass(frozen=True)
class FaultRates:
    """Probabilities. Per meter-day: gap, reset, replacement, jump; per reading: duplicate, conflict;
    per institution-day: backlog, malformed."""

    gap: float = 0.02  # a run of 1–16 readings never sent
    reset: float = 0.002  # the counter restarts from zero
    replacement: float = 0.0005  # meter swapped: 2–7 readings missing, then a new counter from zero
    jump: float = 0.001  # the counter leaps by an implausible amount (ingest quarantines it)
    duplicate: float = 0.001  # a reading sent again with the same value
    conflict: float = 0.0002  # a reading sent again with a different value
    backlog: float = 0.01  # gateway outage of 2–12 h, delivered late, shuffled, in batches
    malformed: float = 0.005  # one malformed message (bad JSON, unknown meter, wrong types)

    @classmethod
    def none(cls) -> FaultRates:
        return cls(**{f.name: 0.0 for f in fields(cls)})

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"fault rate {f.name}={v} is not a probability in [0, 1]")


@dataclass(frozen=True)
class FaultEvent:
    """One injected fault. ``ts`` is the reading timestamp it concerns (ISO 8601), or the window start."""

    kind: str
    institution_id: str
    meter_id: str | None
    ts: str | None
    topic: str | None = None
    detail: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True)


class DayDraws:
    """Uniform draws per (local day, slot) for one meter or institution, one vectorised call per chunk.

    A decision uses fixed slots (e.g. "chosen today?" and "at which step?"), so it depends only on the seed,
    the name and the day.
    """

    SLOTS = 16

    def __init__(self, seed: int, name: str, days: np.ndarray, inverse: np.ndarray, step_of_day: np.ndarray):
        self.u = rand.uniform(rand.key(seed, "day", name), days[:, None] * self.SLOTS + np.arange(self.SLOTS))
        self.inv = inverse
        self.sod = step_of_day

    def pick(self, rate: float, slot: int) -> np.ndarray:
        """True on one step of each chosen day (probability ``rate``); uses slots ``slot`` and ``slot+1``."""
        if rate <= 0.0:
            return np.zeros(len(self.inv), dtype=bool)
        chosen = self.u[:, slot] < rate
        pos = np.floor(self.u[:, slot + 1] * STEPS_PER_DAY).astype(np.int64)
        return chosen[self.inv] & (self.sod == pos[self.inv])

    def window(self, rate: float, slot: int, min_len: int, max_len: int) -> tuple[np.ndarray, np.ndarray]:
        """Steps inside each chosen day's window [start, start+len) (steps, clipped to the day) and, per step,
        the window's end as a step of day; uses slots ``slot`` to ``slot+2``."""
        if rate <= 0.0:
            return np.zeros(len(self.inv), dtype=bool), np.zeros(len(self.inv), dtype=np.int64)
        chosen = self.u[:, slot] < rate
        start = np.floor(self.u[:, slot + 1] * STEPS_PER_DAY).astype(np.int64)
        length = min_len + np.floor(self.u[:, slot + 2] * (max_len - min_len + 1)).astype(np.int64)
        end = np.minimum(start + length, STEPS_PER_DAY)
        inside = chosen[self.inv] & (self.sod >= start[self.inv]) & (self.sod < end[self.inv])
        return inside, end[self.inv]

    def window_before(self, rate: float, slot: int, min_len: int, max_len: int) -> np.ndarray:
        """Steps in [pos - len, pos) where pos is ``pick(rate, slot)``'s step; length from slot ``slot+2``."""
        if rate <= 0.0:
            return np.zeros(len(self.inv), dtype=bool)
        chosen = self.u[:, slot] < rate
        pos = np.floor(self.u[:, slot + 1] * STEPS_PER_DAY).astype(np.int64)
        length = min_len + np.floor(self.u[:, slot + 2] * (max_len - min_len + 1)).astype(np.int64)
        p, n = pos[self.inv], length[self.inv]
        return chosen[self.inv] & (self.sod >= p - n) & (self.sod < p)

    def value(self, slot: int) -> np.ndarray:
        return self.u[:, slot][self.inv]


def per_item(seed: int, rate: float, idx: np.ndarray, *names: str) -> np.ndarray:
    if rate <= 0.0:
        return np.zeros(len(idx), dtype=bool)
    return rand.uniform(rand.key(seed, *names), idx) < rate
