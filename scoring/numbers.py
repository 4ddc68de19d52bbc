"""How scoring writes a number into its explanations (docs/design.md §6): the one rule for every reason,
formula, veto and `jieneng score --explain` line.

Four decimals, trailing zeros and a bare decimal point dropped (``0.1229``, ``12.5``, ``85``). The texts
are part of each stored result, so the results hash covers them: changing this rule changes every hash.
"""

from __future__ import annotations

from functools import lru_cache


def fmt(x: float | None, missing: str = "?", *, grouped: bool = False) -> str:
    """A number as explanations write it.

    Parameters
    ----------
    x : float or None
        The number, in whatever unit the text around it names; an int is written the same way.
    missing : str, default "?"
        What stands for a missing figure (None).
    grouped : bool, default False
        Thousands separated by commas (``12,345.5``), as the --explain report prints them.

    Returns
    -------
    str
        At most four decimals, trailing zeros and a trailing point removed; -0.0 prints as ``-0``.
    """
    if x is None:
        return missing
    return (f"{x:,.4f}" if grouped else f"{x:.4f}").rstrip("0").rstrip(".")


@lru_cache(maxsize=4096)
def _fmt_cached(x: float) -> str:
    return fmt(x)


def fmt_constant(x: float) -> str:
    """`fmt` for methodology constants and assessors' points, which take few distinct values: formatting
    them anew was a tenth of a 10,000-institution run. Zero bypasses the cache (-0.0 == 0.0 but prints
    as -0)."""
    return _fmt_cached(x) if x else fmt(x)


def fmt_report(x: float | None) -> str:
    """`fmt` as the --explain report prints it: thousands grouped, a missing figure as ``—``."""
    return fmt(x, "—", grouped=True)
