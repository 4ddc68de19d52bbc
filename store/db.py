"""The one place that opens database connections."""

from __future__ import annotations

from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import ConnectionPool


def connect(url: str, *, autocommit: bool = False) -> psycopg.Connection:
    return psycopg.connect(url, autocommit=autocommit)


def make_pool(url: str, *, min_size: int = 1, max_size: int = 10, name: str = "jieneng") -> ConnectionPool:
    """A psycopg_pool pool; opened and waited on so a bad URL fails here, not at first use."""
    pool = ConnectionPool(url, min_size=min_size, max_size=max_size, name=name, open=False)
    pool.open(wait=True, timeout=30)
    return pool


def with_dbname(url: str, dbname: str) -> str:
    """The same server, user and options as ``url``, connected to database ``dbname``.

    A ``postgresql://`` URL stays a URL (migrations and the settings take URLs): the path becomes
    ``dbname``, and a ``dbname`` query parameter, which libpq would let override the path, is dropped.
    A ``key=value`` connection string goes through psycopg's ``make_conninfo``. Either way libpq's
    own parser reads the result back, so a URL it would read otherwise (a Unix-socket ``?host=``,
    several hosts, an escaped name) raises instead of connecting to another database.
    """
    if "://" not in url:
        return make_conninfo(url, dbname=dbname)
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    kept = [(k, v) for k, v in query if k != "dbname"]
    out = urlunsplit(
        (
            parts.scheme,
            parts.netloc,
            "/" + quote(dbname, safe=""),
            parts.query if len(kept) == len(query) else urlencode(kept, quote_via=quote),
            parts.fragment,
        )
    )
    libpq_url = "postgresql://" + out.split("://", 1)[1]  # libpq does not know yoyo's postgresql+psycopg://
    if conninfo_to_dict(libpq_url).get("dbname") != dbname:
        raise ValueError(f"cannot point {url!r} at database {dbname!r}")
    return out
