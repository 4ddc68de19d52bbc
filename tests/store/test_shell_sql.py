"""The shell runs no SQL of its own: queries live behind store functions (embedded.py's server bootstrap aside)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_shell_calls_store_functions_instead_of_writing_sql():
    sql = re.compile(r"\.execute\(|\b(SELECT|INSERT INTO|UPDATE \w+ SET|DELETE FROM)\b")
    found = [
        str(p.relative_to(ROOT))
        for p in sorted((ROOT / "jieneng").glob("*.py"))
        if p.name != "embedded.py" and sql.search(p.read_text(encoding="utf-8"))
    ]
    assert found == [], f"SQL in the shell: {found}"


def test_store_statements_take_named_parameters():
    # store/'s statements are named module-level constants with %(name)s parameters bound by a dict
    # (ingest/rollup.py's style); a positional %s placeholder is a statement written another way.
    found = [
        f"{p.relative_to(ROOT)}:{n}"
        for p in sorted((ROOT / "store").glob("*.py"))
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if re.search(r"%s\b|Placeholder\(\)", line)
    ]
    assert found == [], f"positional SQL parameters in store/: {found}"
