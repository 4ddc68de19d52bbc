"""Counter-based random numbers: a value depends only on (seed, key, index), never on how a range is chunked.

That is what makes the simulator deterministic byte for byte whether it backfills a year in one go, day by
day, or live. The mixer is SplitMix64 (Steele, Lea & Flood, "Fast splittable pseudorandom number
generators", OOPSLA 2014), applied to numpy uint64 arrays (multiplication wraps modulo 2**64).
"""

from __future__ import annotations

import hashlib

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _mix(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        z = x + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def key(seed: int, *parts: str | int) -> int:
    """A stable 64-bit key for ``seed`` and names (meter id, purpose...), independent of Python's hash seed."""
    h = hashlib.blake2b(digest_size=8)
    h.update(str(int(seed)).encode())
    for p in parts:
        h.update(b"\x1f")
        h.update(str(p).encode())
    return int.from_bytes(h.digest(), "little")


def uniform(k: int, idx) -> np.ndarray:
    """Uniform [0, 1) for each integer in ``idx`` under key ``k``."""
    i = np.asarray(idx, dtype=np.int64).astype(np.uint64)
    z = _mix(_mix(np.full(i.shape, k, dtype=np.uint64)) ^ i)
    z = _mix(z)
    return (z >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)


def normal(k: int, idx) -> np.ndarray:
    """Standard normal for each integer in ``idx`` under key ``k`` (Box–Muller on two uniforms)."""
    u1 = uniform(k, idx)
    u2 = uniform(k ^ 0x5DEECE66D, idx)
    return np.sqrt(-2.0 * np.log1p(-u1)) * np.cos(2.0 * np.pi * u2)


def scalar_uniform(k: int, i: int = 0) -> float:
    return float(uniform(k, np.array([i]))[0])
