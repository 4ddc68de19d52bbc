"""Pointing a server URL at another database: libpq reads the URL, not string splitting."""

from __future__ import annotations

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from store.db import with_dbname
from tests.conftest import _with_dbname


@pytest.mark.parametrize("build", [with_dbname, _with_dbname], ids=["store", "conftest"])
@pytest.mark.parametrize(
    "url",
    [
        "postgresql://postgres@127.0.0.1:5432/postgres",
        "postgresql://postgres:@/postgres?host=/tmp/jieneng-test-pg-x/pg",  # pgserver's socket URL
        "postgresql://postgres@/postgres?host=/run/pg&dbname=postgres",  # libpq: the query's dbname wins
        "postgresql://postgres@h1:5432,h2:5433/postgres?target_session_attrs=read-write",
        "postgresql+psycopg://postgres@127.0.0.1/postgres",
        "host=/run/pg user=postgres dbname=postgres",
    ],
)
@pytest.mark.parametrize("name", ["jieneng_test_ab12", "odd/name?x=1 ü"])
def test_with_dbname_names_the_database_libpq_connects_to(build, url, name):
    out = build(url, name)
    libpq = "postgresql://" + out.split("://", 1)[1] if "://" in out else out
    info = conninfo_to_dict(libpq)
    assert info["dbname"] == name
    assert info.get("user") == "postgres"
    before = conninfo_to_dict("postgresql://" + url.split("://", 1)[1] if "://" in url else url)
    assert {k: v for k, v in info.items() if k != "dbname"} == {
        k: v for k, v in before.items() if k != "dbname"
    }


def test_with_dbname_connects_to_that_database(pg_admin_url, db_url):
    name = conninfo_to_dict(db_url)["dbname"]
    with psycopg.connect(with_dbname(pg_admin_url, name)) as conn:
        assert conn.execute("SELECT current_database()").fetchone()[0] == name


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://jieneng:s3cret@db.internal:5432/jieneng",
        "postgresql://jieneng@db.internal/jieneng?password=s3cret&sslmode=require",
        "postgresql://jieneng@/jieneng?host=/run/pg&password=s3cret",
    ],
)
def test_demo_prints_the_database_url_without_its_password(url):
    from jieneng.demo import _redact

    shown = _redact(url)
    assert "s3cret" not in shown
    info = conninfo_to_dict(shown)
    assert info["password"] == "***"
    assert {k: v for k, v in info.items() if k != "password"} == {
        k: v for k, v in conninfo_to_dict(url).items() if k != "password"
    }
