"""API keys made from outside the API (`make api-key`, bench, eval, chaos, the tests)."""

from __future__ import annotations

from localcloud.connections import postgres
from localcloud.services.base import ServiceError
from localcloud.settings import SERVED_STACK, Ports, Stack


def create_api_key(
    ports: Ports, tier: str, scopes: list[str], name: str | None, stack: Stack = SERVED_STACK
) -> str:
    """A new key of `stack`; returns its secret, which is stored only hashed."""
    from recsys.stores.api_keys import PostgresApiKeyStore

    with postgres(ports.postgres, stack.database) as conn:
        try:
            return PostgresApiKeyStore(conn).create(tier, scopes, name)
        except ValueError as exc:
            raise ServiceError(str(exc)) from None
