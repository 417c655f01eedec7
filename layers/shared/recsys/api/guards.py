"""Per-route guarantees: scopes, and the replay of writes sent with an idempotency key."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from functools import cache
from typing import TYPE_CHECKING, Any

from fastapi import Header, Request
from fastapi.encoders import jsonable_encoder

from recsys.api import errors
from recsys.api.models import HEADER_ID_PATTERN
from recsys.observability import logger
from recsys.stores.api_keys import ApiKey
from recsys.stores.failures import is_store_failure

if TYPE_CHECKING:  # Powertools idempotency pulls in boto3: imported on first use, not with the API
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig
    from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer

IDEMPOTENCY_TTL = 86400


def requires(scope: str) -> Callable[[Request], Awaitable[ApiKey]]:
    """A dependency: the caller's key must carry `scope` (admin implies every scope)."""

    async def check(request: Request) -> ApiKey:
        key: ApiKey = request.state.api_key
        if scope not in key.scopes and "admin" not in key.scopes:
            raise errors.Forbidden(f"This API key lacks the '{scope}' scope", {"required_scope": scope})
        return key

    check.__name__ = f"requires_{scope}"
    return check


async def idempotency_key(
    idempotency_key: str | None = Header(default=None, alias="Idempotency-Key", pattern=HEADER_ID_PATTERN),
    x_idempotency_key: str | None = Header(
        default=None, alias="X-Idempotency-Key", pattern=HEADER_ID_PATTERN
    ),
) -> str | None:
    """The client's idempotency key, from Idempotency-Key or the spec's X-Idempotency-Key."""
    return idempotency_key or x_idempotency_key


def request_hash(body: Any) -> str:
    return hashlib.sha256(json.dumps(jsonable_encoder(body), sort_keys=True).encode()).hexdigest()


def replay_or_run(
    records: BasePersistenceLayer,
    request: Request,
    key: str | None,
    body: Any,
    write: Callable[[], tuple[int, Any]],
) -> tuple[int, Any]:
    """(status, payload) of a write run once per idempotency key for 24 hours: the one
    idempotency path (Powertools idempotency on Redis, `_write_once`), with the database's
    uniqueness on the key as its backstop.

    The same key returns the first response and status; the same key with another body is
    refused (409 IDEMPOTENCY_KEY_REUSED); while the first request runs, a second one gets 409
    CONFLICT with Retry-After (as the IETF Idempotency-Key draft has it) rather than waiting.
    Keys belong to the API key that sent them, per method and path."""
    if key is None:
        return write()
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyPersistenceConnectionError,
        IdempotencyPersistenceLayerError,
    )

    fingerprint = request_hash(body)
    scoped = f"{request.state.api_key.key_prefix}:{request.method}:{request.url.path}:{key}"
    once = _write_once(records)
    if request.scope.get("aws.context") is not None:  # an in-progress record expires with the invocation
        _config().register_lambda_context(request.scope["aws.context"])
    try:
        result = once(request={"key": scoped}, write=write, fingerprint=fingerprint)
    except IdempotencyAlreadyInProgressError:
        raise errors.Conflict(
            "A request with this idempotency key is still in progress; retry shortly",
            {"field": "Idempotency-Key", "reason": "in progress"},
            {"Retry-After": "1"},
        ) from None
    except Exception as exc:
        cause = exc.__cause__ or exc
        persistence = isinstance(
            exc, (IdempotencyPersistenceConnectionError, IdempotencyPersistenceLayerError)
        )
        if not (persistence or is_store_failure(cause) or is_store_failure(exc)):
            raise
        # Without Redis the write still runs; the database's idempotency index keeps it single.
        logger.warning("idempotency store unavailable; running the write without replay")
        return write()
    if result.get("fingerprint", fingerprint) != fingerprint:
        raise errors.IdempotencyKeyReused(
            "This idempotency key was already used with a different request body",
            {"field": "Idempotency-Key", "reason": "reused with a different body"},
        )
    return int(result["status"]), result["body"]


@cache
def _config() -> IdempotencyConfig:
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig

    return IdempotencyConfig(event_key_jmespath="key", expires_after_seconds=IDEMPOTENCY_TTL)


@cache
def _write_once(records: BasePersistenceLayer) -> Callable[..., dict[str, Any]]:
    """The write, made idempotent once per environment. The request's fingerprint is kept
    with the response (not hashed into the key) so that a reused key is told from a replay."""
    from aws_lambda_powertools.utilities.idempotency import idempotent_function

    @idempotent_function(  # type: ignore[untyped-decorator]
        data_keyword_argument="request", persistence_store=records, config=_config(), key_prefix="idempotency"
    )
    def write_once(
        request: dict[str, str], write: Callable[[], tuple[int, Any]], fingerprint: str
    ) -> dict[str, Any]:
        status, payload = write()
        return {"status": status, "body": jsonable_encoder(payload), "fingerprint": fingerprint}

    return write_once  # type: ignore[no-any-return]
