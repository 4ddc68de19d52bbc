"""Expand a Grafana PostgreSQL query the way Grafana does, so tests can run panel SQL on a real database.

Two passes, in Grafana's order:

1. Template variables (the browser's templateSrv): ``$var``, ``${var}``, ``${var:format}``,
   ``[[var]]``, ``[[var:format]]`` and the built-ins ``$__interval``, ``$__interval_ms``,
   ``$__from``/``$__to``. Without a format, the PostgreSQL datasource's ``interpolateVariable``
   quotes arrays only: ``['a', 'b']`` becomes ``'a','b'`` (``'`` doubled), ``[]`` becomes nothing; a
   string, even of a multi-value or include-All variable, is inserted with ``'`` doubled and no
   quotes (the current datasource.ts and its truth table; older releases quoted a lone string of a
   multi or include-All variable, so the dashboards use only ``${var:sqlstring}`` for those, which
   every release formats alike); a number as is. All without a custom all value means every option's value (an array);
   a custom all value is inserted verbatim. Source: grafana/grafana
   ``public/app/plugins/datasource/grafana-postgresql-datasource/interpolationTruthTable.test.ts``
   and the docs page "Variable syntax / Advanced variable format options".
2. Server-side macros (pkg/tsdb/grafana-postgresql-datasource/macros.go and sqleng's
   ``Interpolate``): ``$__time``, ``$__timeEpoch``, ``$__timeFilter``, ``$__timeFrom()``,
   ``$__timeTo()``, ``$__timeGroup`` (``floor(extract(epoch from col)/N)*N`` or TimescaleDB's
   ``time_bucket('N.000s',col)``), ``$__timeGroupAlias``, ``$__unixEpochFilter``,
   ``$__unixEpochFrom()``/``$__unixEpochTo()``, ``$__unixEpochGroup``/``Alias``.

Fill modes (the optional third ``$__timeGroup`` argument) change how Grafana post-processes the
result frame, not the SQL, so they are validated and otherwise ignored here.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

ALL = "$__all"


class MacroError(ValueError):
    """A macro Grafana would refuse (unknown name, missing argument, bad interval)."""


@dataclass(frozen=True)
class Variable:
    """A dashboard variable's state: its current value(s) and, for All, every option's value."""

    name: str
    current: str | int | float | Sequence[str]
    multi: bool = False
    include_all: bool = False
    options: Sequence[str] = field(default_factory=tuple)
    all_value: str | None = None
    text: str | Sequence[str] | None = None

    def values(self) -> str | int | float | list[str]:
        cur = self.current
        if self.is_all():
            return list(self.options)
        return cur if isinstance(cur, str | int | float) else list(cur)

    def is_all(self) -> bool:
        cur = self.current
        if isinstance(cur, int | float):
            return False
        return cur == ALL or (not isinstance(cur, str) and list(cur) == [ALL])


# --- time formatting (Go's time.RFC3339Nano, gtime.FormatInterval / ParseInterval) ----------------


def rfc3339nano(t: datetime) -> str:
    """Go's ``t.UTC().Format(time.RFC3339Nano)``: trailing zeros of the fraction dropped, ``Z`` suffix."""
    t = t.astimezone(UTC)
    out = t.strftime("%Y-%m-%dT%H:%M:%S")
    if t.microsecond:
        out += "." + f"{t.microsecond:06d}".rstrip("0")
    return out + "Z"


_UNIT_S = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}


def parse_interval(text: str) -> timedelta:
    """gtime.ParseInterval for the units dashboards use: ``20ms``, ``30s``, ``5m``, ``1h``, ``1d``, ``1w``, ``1y``."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w|y)\s*", text)
    if not m:
        raise MacroError(f"error parsing interval {text}")
    return timedelta(seconds=float(m.group(1)) * _UNIT_S[m.group(2)])


def format_interval(d: timedelta) -> str:
    """gtime.FormatInterval: the largest whole unit (y, d, h, m, s, ms), truncating."""
    ms = int(d.total_seconds() * 1000)
    for unit, size in (("y", 365 * 86400_000), ("d", 86400_000), ("h", 3600_000), ("m", 60_000), ("s", 1000)):
        if ms >= size:
            return f"{ms // size}{unit}"
    return f"{ms}ms" if ms >= 1 else "1ms"


def _unix(t: datetime) -> int:
    """Go's ``t.Unix()``: whole seconds, rounded towards negative infinity."""
    return math.floor(t.timestamp())


def _go_float(x: float) -> str:
    """Go's ``%v`` for a float64 of whole seconds (300 -> ``300``, 0.02 -> ``0.02``)."""
    return str(int(x)) if float(x).is_integer() else repr(x)


# --- pass 1: template variables ---------------------------------------------------------------------

# templateSrv's variable regex: $var | [[var(:fmt)]] | ${var(.fieldPath)(:fmt)}
_VAR_RE = re.compile(r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^}]+))?(?::([^}]+))?\}")


def _sql_quote(v: str) -> str:
    return "'" + v.replace("'", "''") + "'"


def _sql_default(value: str | int | float | list[str], var: Variable) -> str:
    """The PostgreSQL datasource's interpolateVariable (its default formatting).

    A string is inserted with ``'`` doubled and no quotes around it, whether or not the variable
    is multi-value or include-All (Grafana's PostgreSQL interpolation truth table); a number as
    is; an array as its values single-quoted (``'`` doubled) and joined by ``,``, and an empty
    array as ``''``.
    """
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return value.replace("'", "''")
    # An empty array joins to nothing, as in Grafana: `IN ($var)` over no values is `IN ()`, a syntax
    # error, so the dashboards never rely on it (ARRAY[${var:sqlstring}] with a custom all value instead).
    return ",".join(_sql_quote(str(v)) for v in value)


def _regex_escape(v: str) -> str:
    return re.sub(r"[\\^$*+?.()|{}\[\]/]", lambda m: "\\" + m.group(0), v)


def _format(value: str | list[str], fmt: str, var: Variable) -> str:
    """The documented ``${var:format}`` options (Advanced variable format options)."""
    vals = [value] if isinstance(value, str) else list(value)
    if fmt == "csv":
        return ",".join(vals)
    if fmt == "sqlstring":
        return ",".join(_sql_quote(v) for v in vals)
    if fmt == "singlequote":
        return ",".join("'" + v.replace("'", "\\'") + "'" for v in vals)
    if fmt == "doublequote":
        return ",".join('"' + v.replace('"', '\\"') + '"' for v in vals)
    if fmt == "pipe":
        return "|".join(vals)
    if fmt == "raw":
        return value if isinstance(value, str) else ",".join(vals)
    if fmt == "json":
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if fmt == "regex":
        esc = [_regex_escape(v) for v in vals]
        return esc[0] if len(esc) == 1 else "(" + "|".join(esc) + ")"
    if fmt == "glob":
        return "{" + ",".join(vals) + "}" if len(vals) > 1 else ",".join(vals)
    if fmt == "text":
        text = var.text if var.text is not None else value
        return text if isinstance(text, str) else " + ".join(text)
    # Grafana: "If any invalid formatting option is specified, then glob is the default/fallback option."
    return _format(value, "glob", var)


def interpolate_variables(
    sql: str,
    variables: Mapping[str, Variable],
    *,
    interval: timedelta | None = None,
    time_from: datetime | None = None,
    time_to: datetime | None = None,
) -> str:
    """templateSrv.replace(sql, scopedVars, datasource.interpolateVariable)."""
    builtins: dict[str, str] = {}
    if interval is not None:
        builtins["__interval"] = format_interval(interval)
        builtins["__interval_ms"] = str(int(interval.total_seconds() * 1000))
    if time_from is not None and time_to is not None:
        builtins["__from"] = str(int(time_from.timestamp() * 1000))
        builtins["__to"] = str(int(time_to.timestamp() * 1000))

    def repl(m: re.Match) -> str:
        name = m.group(1) or m.group(2) or m.group(4)
        fmt = m.group(3) or m.group(6)
        if name in builtins:
            if name in ("__from", "__to") and fmt:
                t = time_from if name == "__from" else time_to
                if fmt == "date:iso" or fmt == "date":
                    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"
                if fmt == "date:seconds":
                    return str(int(t.timestamp()))
            return builtins[name]
        var = variables.get(name)
        if var is None:
            return m.group(0)  # unknown: left as is (server macros such as $__timeFilter go to pass 2)
        if var.is_all() and var.all_value is not None:
            return var.all_value  # a custom all value is inserted verbatim, unquoted
        value = var.values()
        if fmt:
            return _format(value, fmt, var)
        return _sql_default(value, var)

    return _VAR_RE.sub(repl, sql)


# --- pass 2: server-side macros ---------------------------------------------------------------------

_MACRO_RE = re.compile(r"\$([_a-zA-Z0-9]+)\(([^)]*)\)")
_FILL_RE = re.compile(r"^(NULL|previous|-?\d+(\.\d+)?)$")


def interpolate_macros(
    sql: str,
    *,
    time_from: datetime,
    time_to: datetime,
    interval: timedelta = timedelta(minutes=1),
    timescaledb: bool = False,
) -> str:
    """sqleng.Interpolate then postgresMacroEngine.Interpolate."""
    sql = sql.replace("$__interval_ms", str(int(interval.total_seconds() * 1000)))
    sql = sql.replace("$__interval", format_interval(interval))
    sql = sql.replace("$__unixEpochFrom()", str(_unix(time_from)))
    sql = sql.replace("$__unixEpochTo()", str(_unix(time_to)))
    original = sql

    def group(args: list[str], name: str) -> float:
        if len(args) < 2:
            raise MacroError(f"macro {name} needs time column and interval and optional fill value")
        seconds = parse_interval(args[1].strip("'")).total_seconds()
        if len(args) == 3 and not _FILL_RE.match(args[2]):
            raise MacroError(f"error parsing fill value {args[2]}")
        return seconds

    def evaluate(name: str, args: list[str]) -> str:
        need_col = name in ("__time", "__timeEpoch", "__timeFilter", "__unixEpochFilter")
        if need_col and (not args or not args[0]):
            raise MacroError(f"missing time column argument for macro {name}")
        if name == "__time":
            return f'{args[0]} AS "time"'
        if name == "__timeEpoch":
            return f'extract(epoch from {args[0]}) as "time"'
        if name == "__timeFilter":
            return f"{args[0]} BETWEEN '{rfc3339nano(time_from)}' AND '{rfc3339nano(time_to)}'"
        if name == "__timeFrom":
            return f"'{rfc3339nano(time_from)}'"
        if name == "__timeTo":
            return f"'{rfc3339nano(time_to)}'"
        if name == "__timeGroup":
            s = group(args, name)
            if timescaledb:
                return f"time_bucket('{s:.3f}s',{args[0]})"
            return f"floor(extract(epoch from {args[0]})/{_go_float(s)})*{_go_float(s)}"
        if name == "__timeGroupAlias":
            return evaluate("__timeGroup", args) + ' AS "time"'
        if name == "__unixEpochFilter":
            return f"{args[0]} >= {_unix(time_from)} AND {args[0]} <= {_unix(time_to)}"
        if name == "__unixEpochGroup":
            s = group(args, name)
            return f"floor(({args[0]})/{_go_float(s)})*{_go_float(s)}"
        if name == "__unixEpochGroupAlias":
            return evaluate("__unixEpochGroup", args) + ' AS "time"'
        raise MacroError(f'unknown macro "{name}"')

    def repl(m: re.Match) -> str:
        name = m.group(1)
        # Pre-5.3 compatibility, as Grafana does: "$__timeGroup(...)," means the aliased form.
        if name == "__timeGroup":
            idx = original.find(m.group(0))
            if idx >= 0 and original[idx + len(m.group(0)) : idx + len(m.group(0)) + 1] == ",":
                name = "__timeGroupAlias"
        args = [a.strip(" ") for a in m.group(2).split(",")]
        return evaluate(name, args)

    return _MACRO_RE.sub(repl, sql)


def expand(
    sql: str,
    variables: Mapping[str, Variable],
    *,
    time_from: datetime,
    time_to: datetime,
    interval: timedelta = timedelta(minutes=1),
    timescaledb: bool = False,
) -> str:
    """Both passes: what Grafana sends to PostgreSQL for a panel or variable query."""
    sql = interpolate_variables(sql, variables, interval=interval, time_from=time_from, time_to=time_to)
    return interpolate_macros(
        sql, time_from=time_from, time_to=time_to, interval=interval, timescaledb=timescaledb
    )
