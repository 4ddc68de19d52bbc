"""Canonical JSON of a result: the text `results_hash` covers, and `scoring_result.detail` holds with the run's
repeated strings as references (StoredWriter, store/result_detail.py).

The canonical form is fixed (changing it would change every stored hash): keys sorted, no spaces, UTF-8
(no \\u escapes beyond the JSON-mandatory ones), every field the model declares present (defaults filled
in), every float-typed field coerced to float and rounded to 6 decimals (-0.0 written as 0.0, a
non-finite value as null, as pydantic writes it), floats in Python's `repr` spelling (`1e-06`, `100.0`).

The scoring core builds results as plain dicts shaped like `scoring.model.InstitutionResult` (building
~50 pydantic models per institution and re-parsing their JSON was about 40% of a 10,000-institution run,
bench/README.md). Which fields are floats and which are nested models is read once from the pydantic
models themselves, so the rounding can never drift from the model. orjson writes the text: with sorted
keys it spells everything as `json.dumps(..., sort_keys=True, ensure_ascii=False, separators=(",", ":"))`
does, except floats between 0 and 1e-4 in magnitude (`1e-6` against `1e-06`): those few are passed as
pre-written fragments. tests/scoring/test_canonical.py checks the bytes against the pydantic route.
"""

from __future__ import annotations

import hashlib
import operator
import types
import typing
from typing import Any

import orjson
import pydantic
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from scoring.model import InstitutionResult
from store.result_detail import REF_CHAR, reference

ROUND_DIGITS = 6


def _strip_optional(tp: Any) -> Any:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def canonical_value(x: Any) -> float | None:
    """The figure the canonical text writes for `x`: round(float(x), 6), -0.0 as 0.0; None (null) for None or
    a non-finite figure. For a column stored beside the detail, so it holds what the detail holds."""
    if x is None:
        return None
    v = round(x if x.__class__ is float else float(x), ROUND_DIGITS) + 0.0  # + 0.0 turns -0.0 into 0.0
    return None if v - v != 0.0 else v  # inf - inf and nan - nan are nan


def _canonical_float(x: Any) -> float | orjson.Fragment | None:
    v = canonical_value(x)
    if v is not None and -1e-4 < v < 1e-4 and v != 0.0:
        return orjson.Fragment(float.__repr__(v))  # orjson would write 1e-6 where repr writes 1e-06
    return v


# Results repeat many figures (coefficients, maximum points, assessors' points, zero): the first values seen are
# kept, which holds every methodology constant, and spares ~40% of the round() calls. Equal numbers give equal
# canonical values (-0.0 and 0.0 both give 0.0; an int and its float the same float), so a hit is exact.
_MEMO: dict[Any, Any] = {}
_MEMO_SIZE = 4096
_MISSING = object()


def canonical_float(x: Any) -> float | orjson.Fragment | None:
    """round(float(x), 6) as the canonical text spells it; non-finite → None (null)."""
    if x is None:
        return None
    v = _MEMO.get(x, _MISSING)
    if v is _MISSING:
        v = _canonical_float(x)
        if len(_MEMO) < _MEMO_SIZE:
            _MEMO[x] = v
    return v


def _writer_source(cls: type[BaseModel], out: dict[str, str], *, stored: bool = False) -> str:
    """Source of a function `_w_<Model>(d) -> dict` that copies a model-shaped dict, filling defaults,
    coercing and rounding float fields and recursing into nested models (generated once, at import).

    `stored`: `_s_<Model>(d, _s, _m)` instead, which writes every string value as `_m` (a dict of strings
    already decided) or else `_s` (StoredWriter.string) says, so the run's shared strings are written as
    references."""
    fn = f"_{'s' if stored else 'w'}_{cls.__name__}"
    args = "d, _s, _m" if stored else "d"
    if fn in out:
        return fn
    out[fn] = ""  # reserved: a model nested in itself
    items = []
    for name, f in cls.model_fields.items():
        tp = _strip_optional(f.annotation)
        origin = typing.get_origin(tp)
        if f.default_factory is not None:
            get = f"(d[{name!r}] if {name!r} in d else _defaults[{cls.__name__ + '.' + name!r}]())"
            _defaults[cls.__name__ + "." + name] = f.default_factory
        elif f.default is not PydanticUndefined:
            if f.default is not None and not isinstance(f.default, bool | str):
                raise TypeError(
                    f"{cls.__name__}.{name}: only None/True/False/str defaults have a canonical rule"
                )
            get = f"d.get({name!r}, {f.default!r})"
        else:
            get = f"d[{name!r}]"
        if tp is float:
            expr = f"_float({get})"
        elif _is_model(tp):
            sub = _writer_source(tp, out, stored=stored)
            expr = f"(None if (v := {get}) is None else {sub}(v{', _s, _m' if stored else ''}))"
        elif origin is list and _is_model(typing.get_args(tp)[0]):
            sub = _writer_source(typing.get_args(tp)[0], out, stored=stored)
            expr = f"[{sub}(e{', _s, _m' if stored else ''}) for e in {get}]"
        elif stored and (tp is str or origin is typing.Literal):
            expr = f"(_m.get(v := {get}) or _s(v))"
        elif stored and origin is list and typing.get_args(tp)[0] is str:
            expr = f"(None if (v := {get}) is None else [_m.get(e) or _s(e) for e in v])"
        elif (
            tp in (int, str, bool)
            or origin is typing.Literal
            or (origin is list and typing.get_args(tp)[0] is str)
        ):
            expr = get
        else:
            # a float inside a list or dict, a union of models…: needs a decision here, not a silent unrounded float
            raise TypeError(f"{cls.__name__}.{name}: {f.annotation!r} has no canonical JSON rule")
        items.append(f"        {name!r}: {expr},")
    out[fn] = f"def {fn}({args}):\n    return {{\n" + "\n".join(items) + "\n    }\n"
    return fn


_defaults: dict[str, Any] = {}


def _compile_writer(cls: type[BaseModel], *, stored: bool = False) -> tuple[Any, str]:
    """(the writer of `cls`, its generated source): written out from the model's own field list, so a field
    added to the model is rounded and written without anyone remembering to edit this module."""
    sources: dict[str, str] = {}
    top = _writer_source(cls, sources, stored=stored)
    source = "\n".join(sources.values())
    namespace = {"_float": canonical_float, "_defaults": _defaults}
    exec(compile(source, f"<canonical writer of {cls.__name__}>", "exec"), namespace)  # noqa: S102
    return namespace[top], source


_write_result, WRITER_SOURCE = _compile_writer(InstitutionResult)
_write_stored_result, _ = _compile_writer(InstitutionResult, stored=True)

#: The format of the details this code writes, stored with each run (scoring_run.detail_format, migration 0027): a
#: digest of InstitutionResult's JSON schema, the writer generated from it, its rounding and the pydantic that
#: validates and dumps the model. A detail of this format holds exactly the model's fields, defaults filled in
#: and floats as the canonical text rounds them, so its canonical JSON is, as a JSON value, what validating it
#: and dumping the model gives: a reader may pass it through (the report, api/routers/reports.py). A run of
#: another format (an older model or writer, details written as dicts) is validated and dumped.
DETAIL_FORMAT = hashlib.sha256(
    orjson.dumps(
        [InstitutionResult.model_json_schema(), WRITER_SOURCE, ROUND_DIGITS, pydantic.VERSION],
        option=orjson.OPT_SORT_KEYS,
    )
).hexdigest()


def canonical_bytes(result: InstitutionResult | dict) -> bytes:
    """The canonical JSON of a result (a model, or a dict shaped like one: unknown keys are not checked
    here — `score` validates the same dicts with extra="forbid"), as UTF-8 bytes."""
    d = result.model_dump() if isinstance(result, BaseModel) else result
    return orjson.dumps(_write_result(d), option=orjson.OPT_SORT_KEYS)


def canonical_json(result: InstitutionResult | dict) -> str:
    """canonical_bytes as text."""
    return canonical_bytes(result).decode()


class _Shared(str):
    """A string value the run keeps once: itself in the canonical text, `reference` in the stored one."""

    reference: orjson.Fragment


_reference_of = operator.attrgetter("reference")


def _stored_default(o: Any) -> orjson.Fragment:
    if o.__class__ is _Shared:
        return o.reference
    # Any other subclass of int, list or dict (an enum's value, say) is spelt as in the canonical text.
    return orjson.Fragment(orjson.dumps(o, option=orjson.OPT_SORT_KEYS))


class StoredWriter:
    """Writes one run's results in both forms: the canonical JSON (what `results_hash` covers, as
    `canonical_bytes` writes it) and the stored detail (store/result_detail.py), in which a string that an
    earlier institution of the run already held is a reference to the run's table of strings, `strings`.

    One pass over each result: the strings are decided while the result is copied and rounded (a shared one
    becomes a `_Shared`, a str that carries its reference), and orjson writes the copy twice, the second time
    with the references in place of the shared strings.

    Which strings are shared is decided as the results go by, so the table holds only strings seen in at least
    two institutions (labels, sources, reasons without an institution's own figures), not every name and
    address; a string repeated inside one institution's detail stays in it, where its row's compression sees
    it. Strings of fewer than `MIN_CHARS` characters are never shared (the reference would be as long), except
    those beginning with U+0001, which always are (store/result_detail.py).
    """

    MIN_CHARS = 12
    #: Bound on the strings seen in one institution so far (remembered until a second one holds them) and on
    #: the strings already decided: every institution brings its own, so each is forgotten all at once when
    #: full (the strings every institution repeats are seen again in the next one).
    REMEMBERED = 100_000

    def __init__(self) -> None:
        self.strings: list[bytes] = []
        self._shared: dict[str, _Shared] = {}
        self._seen: dict[str, int] = {}
        self._decided: dict[str, Any] = {}
        self._result = 0

    def _share(self, x: str) -> _Shared:
        r = _Shared(x)
        r.reference = orjson.Fragment(reference(len(self.strings)))
        self.strings.append(orjson.dumps(x))
        self._shared[x] = self._decided[x] = r
        return r

    def string(self, x: Any) -> Any:
        """The value to write for a string field: `x`, or the _Shared that stands for it."""
        if x.__class__ is not str:
            if not isinstance(x, str):
                return x
            x = str.__str__(x)  # the canonical text spells a subclass as its characters
        r = self._shared.get(x)
        if r is not None:
            return r
        if x[:1] == REF_CHAR:
            return self._share(x)
        if len(x) < self.MIN_CHARS:
            if len(self._decided) >= self.REMEMBERED:
                self._decided.clear()  # the writer holds this same dict: cleared, not replaced
                if len(self._shared) < self.REMEMBERED // 2:  # else refilling would fill it again at once
                    self._decided.update(self._shared)
            self._decided[x] = x
            return x
        seen = self._seen.get(x)
        if seen is None:
            if len(self._seen) >= self.REMEMBERED:
                self._seen.clear()
            self._seen[x] = self._result
            return x
        if seen == self._result:
            return x
        del self._seen[x]
        return self._share(x)

    def write(self, result: InstitutionResult | dict) -> tuple[bytes, bytes]:
        """(canonical JSON, stored detail) of the run's next result, as UTF-8 bytes."""
        self._result += 1
        d = result.model_dump() if isinstance(result, BaseModel) else result
        w = _write_stored_result(d, self.string, self._decided)
        canonical = orjson.dumps(w, option=orjson.OPT_SORT_KEYS)
        passthrough = orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_SUBCLASS
        try:
            stored = orjson.dumps(w, default=_reference_of, option=passthrough)
        except orjson.JSONEncodeError:  # a subclass of int, list or dict somewhere in the result
            stored = orjson.dumps(w, default=_stored_default, option=passthrough)
        return canonical, stored


__all__ = [
    "DETAIL_FORMAT",
    "ROUND_DIGITS",
    "WRITER_SOURCE",
    "StoredWriter",
    "canonical_bytes",
    "canonical_float",
    "canonical_json",
    "canonical_value",
]
