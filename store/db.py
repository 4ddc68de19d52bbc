"""The one place that opens database connections."""

from __future__ import annotations

import psycopg
from psycopg_pool import ConnectionPool


def connect(url: str, *, autocommit: bool = False) -> psycopg.Connection:
    return psycopg.connect(url, autocommit=autocommit)


def make_pool(url: str, *, min_size: int = 1, max_size: int = 10, name: str = "jieneng") -> ConnectionPool:
    """A psycopg_pool pool; opened and waited on so a bad URL fails here, not at first use."""
    pool = ConnectionPool(url, min_size=min_size, max_size=max_size, name=name, open=False)
    pool.open(wait=True, timeout=30)
    return pool
