"""Per-route guarantees: scopes, idempotent replay of writes, deprecation headers."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from datetime import time as dtime
from email.utils import format_datetime
from functools import cache
from typing import Any

from fastapi import Header, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from recsys.api import errors
from recsys.api.models import HEADER_ID_PATTERN
from recsys.config import get_settings
from recsys.observability import logger
from recsys.stores.api_keys import ApiKey
from recsys.stores.failures import is_store_failure

IDEMPOTENCY_TTL = 86400
_IN_PROGRESS_WAIT = 10.0


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


@cache
def _persistence(url: str) -> Any:
    """Powertools' Redis persistence, built on first use (importing Powertools idempotency pulls
    in boto3, which most functions never need)."""
    import redis
    from aws_lambda_powertools.utilities.idempotency.persistence.cache import CachePersistenceLayer
    from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord

    class ValidatingCacheLayer(CachePersistenceLayer):
        """Powertools' cache layer (3.x) drops the payload hash when it completes a record, so a
        replay of the same body fails validation; keep the hash on completion."""

        def _update_record(self, data_record: DataRecord) -> None:
            item = {
                self.data_attr: data_record.response_data,
                self.status_attr: data_record.status,
                self.expiry_attr: data_record.expiry_timestamp,
            }
            if self.payload_validation_enabled:
                item[self.validation_key_attr] = data_record.payload_hash
            ttl = self._get_expiry_second(data_record.expiry_timestamp)
            self.client.set(name=data_record.idempotency_key, value=self._json_serializer(item), ex=ttl)

    # Powertools compares the stored hashes as text, so this client decodes responses.
    client = redis.Redis.from_url(url, decode_responses=True, socket_connect_timeout=2, socket_timeout=2)
    return ValidatingCacheLayer(client=client)  # type: ignore[arg-type]


def replayable(
    request: Request, key: str | None, body: Any, run: Callable[[], tuple[int, Any]]
) -> JSONResponse:
    """Run a write once per idempotency key for 24 hours (Powertools idempotency on Redis).

    The same key returns the first response and status; the same key with another body is
    refused; a second request while the first runs waits for its result.
    """
    if key is None:
        status, payload = run()
        return JSONResponse(jsonable_encoder(payload), status_code=status)
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyPersistenceConnectionError,
        IdempotencyPersistenceLayerError,
        IdempotencyValidationError,
    )

    principal = request.state.api_key.key_prefix
    data = {"key": f"{principal}:{request.method}:{request.url.path}:{key}", "body": jsonable_encoder(body)}
    config = IdempotencyConfig(
        event_key_jmespath="key", payload_validation_jmespath="body", expires_after_seconds=IDEMPOTENCY_TTL
    )
    if request.scope.get("aws.context") is not None:
        config.register_lambda_context(request.scope["aws.context"])

    @idempotent_function(  # type: ignore[untyped-decorator]
        data_keyword_argument="data",
        persistence_store=_persistence(get_settings().redis_url),
        config=config,
        key_prefix="idempotency",
    )
    def once(data: dict[str, Any]) -> dict[str, Any]:
        status, payload = run()
        return {"status": status, "body": jsonable_encoder(payload)}

    deadline = time.monotonic() + _IN_PROGRESS_WAIT
    while True:
        try:
            result = once(data=data)
            break
        except IdempotencyAlreadyInProgressError:
            if time.monotonic() > deadline:
                raise errors.Conflict("A request with this idempotency key is still in progress") from None
            time.sleep(0.05)
        except IdempotencyValidationError:
            raise errors.IdempotencyKeyReused(
                "This idempotency key was already used with a different request body",
                {"field": "Idempotency-Key", "reason": "reused with a different body"},
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
            status, payload = run()
            result = {"status": status, "body": jsonable_encoder(payload)}
            break
    return JSONResponse(result["body"], status_code=int(result["status"]))


def deprecated(sunset: date, successor: str | None = None) -> Callable[[Response], None]:
    """A dependency marking a route deprecated: Deprecation and Sunset headers (RFC 9745, 8594)."""
    sunset_at = format_datetime(datetime.combine(sunset, dtime(0, 0), tzinfo=UTC), usegmt=True)

    def mark(response: Response) -> None:
        response.headers["Deprecation"] = "true"
        response.headers["Sunset"] = sunset_at
        if successor:
            response.headers["Link"] = f'<{successor}>; rel="successor-version"'

    return mark
