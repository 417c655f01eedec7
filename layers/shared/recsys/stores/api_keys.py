"""API keys (PostgreSQL): only the SHA-256 of a key is stored, with its tier and scopes."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import psycopg

TIER_LIMITS = {"free": 60, "pro": 1000, "enterprise": 10000}  # requests per minute
SCOPES = ("read", "write", "admin")


@dataclass(frozen=True)
class ApiKey:
    key_prefix: str
    tier: str
    scopes: frozenset[str]

    @property
    def limit_per_minute(self) -> int:
        return TIER_LIMITS[self.tier]


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiKeyStore(Protocol):
    def create(self, tier: str, scopes: list[str], name: str | None = None) -> str: ...
    def find(self, secret: str) -> ApiKey | None: ...


class PostgresApiKeyStore:
    def __init__(self, conn: psycopg.Connection) -> None:
        self._conn = conn

    def create(self, tier: str, scopes: list[str], name: str | None = None) -> str:
        """Store a new key and return it; this is the only time the secret is seen."""
        if tier not in TIER_LIMITS:
            raise ValueError(f"tier must be one of {sorted(TIER_LIMITS)}")
        unknown = set(scopes) - set(SCOPES)
        if not scopes or unknown:
            raise ValueError(f"scopes must be a non-empty subset of {list(SCOPES)}")
        prefix = secrets.token_hex(4)
        secret = f"rk_{prefix}_{secrets.token_urlsafe(32)}"
        self._conn.execute(
            "INSERT INTO api_keys (key_prefix, key_hash, name, tier, scopes) VALUES (%s, %s, %s, %s, %s)",
            (prefix, hash_key(secret), name, tier, sorted(set(scopes))),
        )
        return secret

    def find(self, secret: str) -> ApiKey | None:
        row = self._conn.execute(
            "SELECT key_prefix, tier, scopes FROM api_keys WHERE key_hash = %s AND revoked_at IS NULL",
            (hash_key(secret),),
        ).fetchone()
        return ApiKey(row[0], row[1], frozenset(row[2])) if row else None
