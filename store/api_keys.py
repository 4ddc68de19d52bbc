"""API keys: creation (the token shown once), hashing, authentication, listing and revocation (0006_api.sql)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg.rows import dict_row

from store.scope import Scope

ROLES = ("admin", "assessor", "city_assessor", "institution")
KEY_PREFIX_CHARS = string.ascii_lowercase + string.digits
KEY_PREFIX_LEN = 10


class KeyError_(ValueError):
    """A key cannot be created as asked (unknown role, region or institution)."""


@dataclass
class ApiKey:
    id: int
    prefix: str
    name: str
    role: str
    region_code: str | None
    institution_id: str | None
    created_at: datetime
    revoked_at: datetime | None
    expires_at: datetime | None = None

    @property
    def scope(self) -> Scope:
        return Scope(self.role, self.region_code, self.institution_id)


KEY_COLS = "id, prefix, name, role, region_code, institution_id, created_at, revoked_at, expires_at"

_REGION_EXISTS = """
SELECT 1 FROM region WHERE code = %(code)s
"""

_INSTITUTION_EXISTS = """
SELECT 1 FROM institution WHERE id = %(id)s
"""

_INSERT_KEY = f"""
INSERT INTO api_key (prefix, secret_sha256, name, role, region_code, institution_id, expires_at)
VALUES (%(prefix)s, %(secret_sha256)s, %(name)s, %(role)s, %(region_code)s, %(institution_id)s, %(expires_at)s)
RETURNING {KEY_COLS}
"""

_KEY_BY_PREFIX = f"""
SELECT {KEY_COLS}, secret_sha256, expires_at <= now() AS expired FROM api_key WHERE prefix = %(prefix)s
"""

_LIST_KEYS = f"""
SELECT {KEY_COLS} FROM api_key WHERE %(include_revoked)s OR revoked_at IS NULL ORDER BY id
"""

_REVOKE_KEY = """
UPDATE api_key SET revoked_at = now() WHERE id = %(id)s AND revoked_at IS NULL
"""


def _hash_secret(secret: str) -> str:
    # The secret is 256 bits from `secrets`, so a fast hash is enough: nobody can brute-force that
    # space, and a slow KDF (bcrypt/argon2) would only add latency to every request.
    return hashlib.sha256(secret.encode()).hexdigest()


def create_key(
    conn: psycopg.Connection,
    *,
    role: str,
    name: str,
    region_code: str | None = None,
    institution_id: str | None = None,
    expires_at: datetime | None = None,
) -> tuple[ApiKey, str]:
    """Create a key; returns it and the full token ``jn_<prefix>_<secret>`` (shown once, never stored).
    ``expires_at``: when it stops working (None: until revoked)."""
    if role not in ROLES:
        raise KeyError_(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    if not name.strip():
        raise KeyError_("a key needs a name (who or what uses it)")
    if role == "city_assessor":
        if not region_code or institution_id:
            raise KeyError_("a city_assessor key needs --region and no --institution")
        if conn.execute(_REGION_EXISTS, {"code": region_code}).fetchone() is None:
            raise KeyError_(f"unknown region {region_code!r}")
    elif role == "institution":
        if not institution_id or region_code:
            raise KeyError_("an institution key needs --institution and no --region")
        if conn.execute(_INSTITUTION_EXISTS, {"id": institution_id}).fetchone() is None:
            raise KeyError_(f"unknown institution {institution_id!r}")
    elif region_code or institution_id:
        raise KeyError_(f"a {role} key sees everything: give no --region or --institution")
    prefix = "".join(secrets.choice(KEY_PREFIX_CHARS) for _ in range(KEY_PREFIX_LEN))
    secret = secrets.token_urlsafe(32)
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            _INSERT_KEY,
            {
                "prefix": prefix,
                "secret_sha256": _hash_secret(secret),
                "name": name.strip(),
                "role": role,
                "region_code": region_code,
                "institution_id": institution_id,
                "expires_at": expires_at,
            },
        ).fetchone()
    return ApiKey(**row), f"jn_{prefix}_{secret}"


class KeyRefused(Exception):
    """A well-formed token whose key exists and matches but may not be used (expired), with the reason."""


def authenticate(conn: psycopg.Connection, token: str) -> ApiKey | None:
    """The live key for a ``jn_<prefix>_<secret>`` token, or None (malformed, unknown, wrong, revoked).
    Raises KeyRefused for a key past its expiry (the secret was right, so the holder may be told)."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != "jn" or len(parts[1]) != KEY_PREFIX_LEN or not parts[2]:
        return None
    if any(c not in KEY_PREFIX_CHARS for c in parts[1]):
        return None
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(_KEY_BY_PREFIX, {"prefix": parts[1]}).fetchone()
    if row is None or row["revoked_at"] is not None:
        return None
    if not hmac.compare_digest(row.pop("secret_sha256"), _hash_secret(parts[2])):
        return None
    if row.pop("expired"):
        raise KeyRefused(f"API key expired at {row['expires_at'].isoformat()}")
    return ApiKey(**row)


def list_keys(conn: psycopg.Connection, *, include_revoked: bool = True) -> list[ApiKey]:
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(_LIST_KEYS, {"include_revoked": include_revoked}).fetchall()
    return [ApiKey(**r) for r in rows]


def revoke_key(conn: psycopg.Connection, key_id: int) -> bool:
    """Revoke a key now; False when there is no such live key."""
    cur = conn.execute(_REVOKE_KEY, {"id": key_id})
    return cur.rowcount == 1
