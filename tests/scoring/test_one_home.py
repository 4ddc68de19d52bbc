"""Rules and records of scoring with one home: a second definition fails here, naming where it is."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _py(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def test_numbers_in_explanations_are_formatted_in_one_place():
    """scoring/numbers.py writes every number of a reason, formula or --explain line."""
    rule = re.compile(r"""\.4f\}["']\s*\)?\s*\.rstrip\(\s*["']0""")
    helper = re.compile(r"^def _f(?:c|4|_cached)?\(", re.M)
    hits = []
    for path in _py("scoring"):
        if path.name == "numbers.py":
            continue
        text = path.read_text(encoding="utf-8")
        hits += [f"{path.relative_to(ROOT)}: {m.group(0)}" for m in rule.finditer(text)]
        hits += [f"{path.relative_to(ROOT)}: {m.group(0)}" for m in helper.finditer(text)]
    assert not hits, "number formatting outside scoring/numbers.py:\n" + "\n".join(hits)


def test_the_formatting_rule():
    from scoring.numbers import fmt, fmt_constant, fmt_report

    assert [fmt(x) for x in (0.1229, 12.5, 85.0, 85, 1 / 3, -0.0, 1e-5)] == [
        "0.1229",
        "12.5",
        "85",
        "85",
        "0.3333",
        "-0",
        "0",
    ]
    assert fmt(None) == "?" and fmt_report(None) == "—"
    assert fmt_report(12345.678) == "12,345.678" and fmt_constant(0.9) == "0.9" and fmt_constant(-0.0) == "-0"
