"""The stored form of a result's `detail` (0025_result_strings.sql): canonical JSON whose repeated strings are
held once per run.

A run's details repeat the same strings in every institution (the carbon factor's source, the methodology's
labels and reasons, "missing input: …"); each detail is compressed on its own, so TOAST cannot share them
across rows. The writer (`scoring.canonical.StoredWriter`) keeps a string that has appeared in an earlier
institution of the run once, in `scoring_run_string(run_id, n, encoded)`, and writes the string value as a
reference in its place:

- a reference is the JSON string value ``"\\u0001<n>"`` (the control character U+0001 then ``n`` in decimal),
  ``encoded`` the string's JSON encoding exactly as the canonical text spells it, quotes included;
- every string value that begins with U+0001 is always stored as a reference, so a string value of that
  shape in a stored detail is never anything else;
- a reference stands only where a value stands (after ``:`` ``,`` or ``[``, followed by ``,`` ``}`` or ``]``):
  object keys are never replaced, and the same characters inside a longer string never match, because
  inside a string a quote is always escaped.

`expand` turns a stored detail back into the canonical JSON byte for byte, so `results_hash` can be checked
against what is stored. A run stored before 0025 has no strings, and its detail (jsonb before 0025) reads
back as it was stored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

#: The first character of a reference's string value; JSON writes it escaped, as ``\\u0001``.
REF_CHAR = "\x01"

# The quote first, then the character before it: a literal first lets the search skip ahead (3x faster).
_REF = re.compile(rb'"(?<=[:,\[]")\\u0001(0|[1-9][0-9]*)"(?=[,}\]])')

#: For SQL's regexp_matches: the reference numbers a stored detail holds, by the same rule as `expand`
#: (PostgreSQL ARE syntax). At most nine digits, so the number always fits an integer: a reference's number is
#: below the run's count of strings, and a longer one is text (a run stored before migration 0025).
REF_NUMBERS_SQL_PATTERN = r'(?<=[:,\[])"\\u0001(0|[1-9][0-9]{0,8})"(?=[,}\]])'


def reference(n: int) -> bytes:
    """The stored text of a reference to string `n` of the run."""
    return b'"\\u0001%d"' % n


def expand(stored: bytes | str, strings: Sequence[bytes] | Mapping[int, bytes]) -> bytes:
    """The canonical JSON of a stored detail, as UTF-8 bytes.

    Parameters
    ----------
    stored : bytes or str
        `scoring_result.detail` as stored.
    strings : sequence or mapping of bytes
        The run's `scoring_run_string.encoded` by `n` (all of the run's, or at least those the detail refers
        to). Empty for a run stored without strings: the detail is returned as stored.

    Raises
    ------
    ValueError
        If the detail refers to a string the run does not have (a damaged row).
    """
    data = stored.encode("utf-8") if isinstance(stored, str) else bytes(stored)
    if not strings:
        return data
    parts = _REF.split(data)  # text, number, text, number, …, text
    if len(parts) == 1:
        return data
    try:
        parts[1::2] = [strings[int(n)] for n in parts[1::2]]
    except (IndexError, KeyError):
        missing = next(
            n
            for n in map(int, parts[1::2])
            if n not in (strings if isinstance(strings, Mapping) else range(len(strings)))
        )
        raise ValueError(f"stored detail refers to string {missing}, which its run does not have") from None
    return b"".join(parts)


__all__ = ["REF_CHAR", "REF_NUMBERS_SQL_PATTERN", "expand", "reference"]
