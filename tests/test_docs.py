"""The README stays true about the test suite: every program a test looks for is in its table of skips."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_readme_names_every_program_a_test_skips_without():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split("| without | what skips |", 1)
    assert len(table) == 2, "README has no table of the programs tests skip without"
    table_text = table[1].split("\n\n", 1)[0]
    wanted: set[str] = set()
    for path in (ROOT / "tests").rglob("*.py"):
        wanted |= set(re.findall(r"""shutil\.which\(\s*["']([\w.-]+)["']""", path.read_text(encoding="utf-8")))
    assert wanted, "found no shutil.which() in the tests: the scan is broken"
    missing = sorted(p for p in wanted if f"`{p}`" not in table_text)
    assert not missing, f"README's table of skips does not name {missing}"
