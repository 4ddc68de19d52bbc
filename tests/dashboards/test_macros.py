"""The macro expander against Grafana's own documented examples and its macro tests.

Sources:
- [PG-DOCS] Grafana docs, PostgreSQL data source, "Macros" table
  (https://grafana.com/docs/grafana/latest/datasources/postgres/query-editor/): e.g.
  ``$__timeFilter(dateColumn)`` → ``dateColumn BETWEEN '2017-04-21T05:01:17Z' AND '2017-04-21T05:01:17Z'``,
  ``$__timeFrom()`` → ``'2017-04-21T05:01:17Z'``, ``$__unixEpochFilter(dateColumn)`` →
  ``dateColumn >= 1494410783 AND dateColumn <= 1494497183``.
- [PG-TEST] grafana/grafana pkg/tsdb/grafana-postgresql-datasource/macros_test.go (the behaviour
  the server implements; the docs' ``$__timeGroup`` example still shows the pre-7 ``::bigint`` form,
  the code and its test give ``floor(extract(epoch from col)/300)*300``).
- [FMT-DOCS] Grafana docs, "Advanced variable format options"
  (https://grafana.com/docs/grafana/latest/dashboards/variables/variable-syntax/).
- [PG-TRUTH] grafana/grafana public/app/plugins/datasource/grafana-postgresql-datasource/
  interpolationTruthTable.test.ts: what the PostgreSQL datasource's interpolateVariable gives for
  single, multi and include-All variables (a lone string is never quoted, only arrays are).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dashboards.macros import (
    ALL,
    MacroError,
    Variable,
    expand,
    format_interval,
    interpolate_macros,
    interpolate_variables,
)

# [PG-TEST] "Given a time range between 2018-04-12 00:00 and 2018-04-12 00:05" (18:00 UTC + 5 min)
FROM = datetime(2018, 4, 12, 18, 0, tzinfo=UTC)
TO = FROM + timedelta(minutes=5)


def m(sql: str, **kw) -> str:
    kw.setdefault("time_from", FROM)
    kw.setdefault("time_to", TO)
    return interpolate_macros(sql, **kw)


# --- server-side macros ----------------------------------------------------------------------------


def test_time_filter_docs_example():
    # [PG-DOCS] example range 2017-04-21T05:01:17Z for both ends
    t = datetime(2017, 4, 21, 5, 1, 17, tzinfo=UTC)
    assert m("$__timeFilter(dateColumn)", time_from=t, time_to=t) == (
        "dateColumn BETWEEN '2017-04-21T05:01:17Z' AND '2017-04-21T05:01:17Z'"
    )
    assert m("$__timeFrom()", time_from=t, time_to=t) == "'2017-04-21T05:01:17Z'"
    assert m("$__timeTo()", time_from=t, time_to=t) == "'2017-04-21T05:01:17Z'"


def test_unix_epoch_filter_docs_example():
    # [PG-DOCS] $__unixEpochFilter(dateColumn) → dateColumn >= 1494410783 AND dateColumn <= 1494497183
    f = datetime.fromtimestamp(1494410783, UTC)
    t = datetime.fromtimestamp(1494497183, UTC)
    assert m("$__unixEpochFilter(dateColumn)", time_from=f, time_to=t) == (
        "dateColumn >= 1494410783 AND dateColumn <= 1494497183"
    )
    assert m("$__unixEpochFrom() $__unixEpochTo()", time_from=f, time_to=t) == "1494410783 1494497183"


def test_macro_engine_cases():
    # [PG-TEST] TestMacroEngine, one assertion per t.Run
    assert m("select $__time(time_column)") == 'select time_column AS "time"'
    assert m("select min($__time(time_column))") == 'select min(time_column AS "time")'
    assert m("WHERE $__timeFilter(time_column)") == (
        "WHERE time_column BETWEEN '2018-04-12T18:00:00Z' AND '2018-04-12T18:05:00Z'"
    )
    assert m("select $__timeFrom()") == "select '2018-04-12T18:00:00Z'"
    assert m("select $__timeTo()") == "select '2018-04-12T18:05:00Z'"
    assert m("SELECT $__timeGroup(time_column,'5m'), value") == (
        'SELECT floor(extract(epoch from time_column)/300)*300 AS "time", value'
    )
    assert m("SELECT $__timeGroup(time_column,'5m') as time, value") == (
        "SELECT floor(extract(epoch from time_column)/300)*300 as time, value"
    )
    assert (
        m("SELECT $__timeGroup(time_column,'5m')") == "SELECT floor(extract(epoch from time_column)/300)*300"
    )
    assert m("SELECT $__timeGroupAlias(time_column,'5m')") == (
        'SELECT floor(extract(epoch from time_column)/300)*300 AS "time"'
    )
    assert m("$__timeGroup(time_column , '5m')") == "floor(extract(epoch from time_column)/300)*300"
    assert m("GROUP BY $__timeGroup(time_column,'5m')", timescaledb=True) == (
        "GROUP BY time_bucket('300.000s',time_column)"
    )
    assert m("GROUP BY $__timeGroup(time_column , '12d')", timescaledb=True) == (
        "GROUP BY time_bucket('1036800.000s',time_column)"
    )
    assert m("GROUP BY $__timeGroup(time_column , '20ms')", timescaledb=True) == (
        "GROUP BY time_bucket('0.020s',time_column)"
    )
    assert m("select $__unixEpochFilter(time)") == "select time >= 1523556000 AND time <= 1523556300"
    assert m("SELECT $__unixEpochGroup(time_column+time_adjustment,'5m')") == (
        "SELECT floor((time_column+time_adjustment)/300)*300"
    )
    assert m("SELECT $__unixEpochGroupAlias(time_column+time_adjustment,'5m')") == (
        'SELECT floor((time_column+time_adjustment)/300)*300 AS "time"'
    )


def test_fractional_seconds_and_old_dates():
    # [PG-TEST] "1960-02-01 07:00:00.5": RFC3339Nano drops trailing zeros; Go's Unix() floors
    f = datetime(1960, 2, 1, 7, 0, 0, 500000, tzinfo=UTC)
    t = datetime(1980, 2, 3, 8, 0, 0, 500000, tzinfo=UTC)
    assert m("WHERE $__timeFilter(time_column)", time_from=f, time_to=t) == (
        "WHERE time_column BETWEEN '1960-02-01T07:00:00.5Z' AND '1980-02-03T08:00:00.5Z'"
    )
    assert (
        m("select $__unixEpochFilter(time)", time_from=f, time_to=t)
        == "select time >= -312915600 AND time <= 318412800"
    )


def test_interval_macros():
    # [PG-TEST] TestInterpolateSQLCommenter: Interval 10m → "SELECT 10m"; sqleng: $__interval_ms in ms
    assert m("SELECT $__interval", interval=timedelta(minutes=10)) == "SELECT 10m"
    assert m("SELECT $__interval_ms", interval=timedelta(minutes=10)) == "SELECT 600000"
    assert (
        m("$__timeGroup(t, $__interval)", interval=timedelta(hours=1))
        == "floor(extract(epoch from t)/3600)*3600"
    )
    assert [format_interval(timedelta(seconds=s)) for s in (0.02, 30, 300, 7200, 86400 * 3)] == [
        "20ms",
        "30s",
        "5m",
        "2h",
        "3d",
    ]


def test_fill_argument_is_accepted_and_bad_ones_refused():
    assert m("$__timeGroup(t, '1h', 0)") == "floor(extract(epoch from t)/3600)*3600"
    assert m("$__timeGroup(t, '1h', NULL)") == "floor(extract(epoch from t)/3600)*3600"
    assert m("$__timeGroup(t, '1h', previous)") == "floor(extract(epoch from t)/3600)*3600"
    with pytest.raises(MacroError):
        m("$__timeGroup(t, '1h', sideways)")


def test_errors_like_grafana():
    with pytest.raises(MacroError, match="unknown macro"):
        m("$__nope(x)")
    with pytest.raises(MacroError, match="needs time column and interval"):
        m("$__timeGroup(t)")
    with pytest.raises(MacroError, match="error parsing interval"):
        m("$__timeGroup(t, 'soon')")
    with pytest.raises(MacroError, match="missing time column"):
        m("$__timeFilter()")


# --- template variables ----------------------------------------------------------------------------

SERVERS = Variable("servers", ["test1", "test2"], multi=True)


@pytest.mark.parametrize(
    ("fmt", "value", "expected"),
    [
        # [FMT-DOCS] servers = ['test1', 'test2'] unless noted
        ("csv", ["test1", "test2"], "test1,test2"),
        ("doublequote", ["test1", "test2"], '"test1","test2"'),
        ("singlequote", ["test1", "test2"], "'test1','test2'"),
        ("glob", ["test1", "test2"], "{test1,test2}"),
        ("pipe", ["test1.", "test2"], "test1.|test2"),
        ("regex", ["test1.", "test2"], r"(test1\.|test2)"),
        ("sqlstring", ["test'1", "test2"], "'test''1','test2'"),
        ("unknownformat", ["test1", "test2"], "{test1,test2}"),  # "glob is the default/fallback option"
    ],
)
def test_format_options_docs_examples(fmt, value, expected):
    v = {"servers": Variable("servers", value, multi=True)}
    assert interpolate_variables(f"'${{servers:{fmt}}}'", v) == f"'{expected}'"
    assert interpolate_variables(f"'[[servers:{fmt}]]'", v) == f"'{expected}'"


def test_sql_datasource_default_quoting():
    # [PG-TRUTH]: an array → each value quoted, quotes doubled, joined by ','; a string, also of a multi or
    # include-All variable → quotes doubled, no quotes added; a custom all value → inserted verbatim.
    v = {
        "multi": Variable("multi", ["a", "b'c"], multi=True),
        "one_of_multi": Variable("one_of_multi", "x", multi=True),
        "single": Variable("single", "o'brien"),
        "allish": Variable("allish", ALL, multi=True, include_all=True, options=["p", "q"]),
        "custom_all": Variable(
            "custom_all", ALL, multi=True, include_all=True, options=["p"], all_value=".*"
        ),
    }
    assert interpolate_variables("IN ($multi)", v) == "IN ('a','b''c')"
    assert interpolate_variables("IN (${multi})", v) == "IN ('a','b''c')"
    assert interpolate_variables("IN ([[multi]])", v) == "IN ('a','b''c')"
    assert interpolate_variables("= $one_of_multi", v) == "= x"
    assert interpolate_variables("= '$single'", v) == "= 'o''brien'"
    assert interpolate_variables("IN ($allish)", v) == "IN ('p','q')"
    assert interpolate_variables("~ '$custom_all'", v) == "~ '.*'"


@pytest.mark.parametrize(
    ("sql", "var", "expected"),
    [
        # [PG-TRUTH] interpolationTruthTable.test.ts, one row per case that reaches interpolateVariable
        ("WHERE host = $host", Variable("host", "server01"), "WHERE host = server01"),
        ("WHERE host = '$host'", Variable("host", "server01"), "WHERE host = 'server01'"),
        ("WHERE latency_ms < $host", Variable("host", 150), "WHERE latency_ms < 150"),
        (
            "WHERE host IN ($host)",
            Variable("host", ["srv1", "srv2"], multi=True),
            "WHERE host IN ('srv1','srv2')",
        ),
        (
            "WHERE host IN ('$host')",
            Variable("host", ["srv1", "srv2"], multi=True),
            "WHERE host IN (''srv1','srv2'')",
        ),
        ("WHERE hostname = $host", Variable("host", ["app1"], multi=True), "WHERE hostname = 'app1'"),
        (
            "WHERE region IN ($host)",
            Variable("host", ["us", "eu"], include_all=True),
            "WHERE region IN ('us','eu')",
        ),
        (
            "WHERE name IN ($host)",
            Variable("host", ["O'Brien", "D'Angelo"], multi=True),
            "WHERE name IN ('O''Brien','D''Angelo')",
        ),
        (
            "WHERE name = '$host'",
            Variable("host", "It's a test's message"),
            "WHERE name = 'It''s a test''s message'",
        ),
        ("WHERE name = '$host'", Variable("host", "O'Brien", multi=True), "WHERE name = 'O''Brien'"),
        ("WHERE region = '$host'", Variable("host", "us-east", include_all=True), "WHERE region = 'us-east'"),
        (
            "WHERE d.region = ANY(ARRAY[$host])",
            Variable("host", ["us", "eu"], multi=True),
            "WHERE d.region = ANY(ARRAY['us','eu'])",
        ),
    ],
)
def test_postgres_interpolation_truth_table(sql, var, expected):
    assert interpolate_variables(sql, {"host": var}) == expected


def test_unknown_variables_and_server_macros_pass_through():
    v = {"region": Variable("region", ["320100"], multi=True)}
    sql = "WHERE $__timeFilter(ts) AND r IN ($region) AND $nothere"
    assert interpolate_variables(sql, v) == "WHERE $__timeFilter(ts) AND r IN ('320100') AND $nothere"


def test_builtin_interval_and_range_variables():
    out = interpolate_variables(
        "$__interval $__interval_ms ${__from} ${__to:date:seconds}",
        {},
        interval=timedelta(minutes=5),
        time_from=FROM,
        time_to=TO,
    )
    assert out == "5m 300000 1523556000000 1523556300"


def test_expand_runs_both_passes_in_grafanas_order():
    v = {"region": Variable("region", ALL, multi=True, include_all=True, options=["320100", "320200"])}
    sql = "SELECT $__timeGroupAlias(ts, $__interval), count(*) FROM t WHERE $__timeFilter(ts) AND r IN ($region) GROUP BY 1"
    assert expand(sql, v, time_from=FROM, time_to=TO, interval=timedelta(minutes=5)) == (
        'SELECT floor(extract(epoch from ts)/300)*300 AS "time", count(*) FROM t '
        "WHERE ts BETWEEN '2018-04-12T18:00:00Z' AND '2018-04-12T18:05:00Z' AND r IN ('320100','320200') GROUP BY 1"
    )


def test_empty_array_default_format_is_nothing_as_in_grafana():
    # Every release of the PostgreSQL datasource's interpolateVariable joins the quoted values of an array:
    # [].map(quoteLiteral).join(',') is '', so `IN ($var)` over no values is `IN ()` (a syntax error), which
    # is why the dashboards filter with ARRAY[${var:sqlstring}] and a custom all value instead.
    v = {
        "none": Variable("none", ALL, multi=True, include_all=True, options=[]),
        "chosen_none": Variable("chosen_none", [], multi=True),
    }
    assert interpolate_variables("IN ($none)", v) == "IN ()"
    assert interpolate_variables("IN ($chosen_none)", v) == "IN ()"
    assert interpolate_variables("ARRAY[${chosen_none:sqlstring}]", v) == "ARRAY[]"


def test_regex_and_glob_of_one_value_are_the_value():
    # Grafana's formatRegistry: regex gives the escaped value alone for a one-element array and
    # "(a|b)" for more; glob gives "{a,b}" only for more than one value, else the value as is.
    one = {"v": Variable("v", ["a.b"], multi=True)}
    none = {"v": Variable("v", [], multi=True)}
    assert interpolate_variables("${v:regex}", one) == r"a\.b"
    assert interpolate_variables("${v:glob}", one) == "a.b"
    assert interpolate_variables("${v:glob}", none) == ""
