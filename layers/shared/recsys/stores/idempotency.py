"""Where writes sent with an Idempotency-Key keep their first response: Powertools' idempotency
records, in Redis, for 24 hours (the spec's `idempotency:{key}`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer


def redis_idempotency_records(url: str) -> BasePersistenceLayer:
    """Powertools' cache persistence layer on the Redis at `url` (its module pulls in boto3,
    which most functions never need: it is imported when a function first takes a key)."""
    import redis
    from aws_lambda_powertools.utilities.idempotency.persistence.cache import CachePersistenceLayer

    # Powertools reads the records it stored back as text.
    client = redis.Redis.from_url(url, decode_responses=True, socket_connect_timeout=2, socket_timeout=2)
    return CachePersistenceLayer(client=client)  # type: ignore[arg-type]  # redis-py's own client type
