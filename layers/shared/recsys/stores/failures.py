"""Which exceptions mean "a store cannot be reached right now" (answered with 503, not 500).

Matched by class name along the exception's MRO, so no function has to import every store's
driver (cassandra-driver, psycopg, redis, botocore) just to recognise its errors.
"""

from __future__ import annotations

_UNREACHABLE = frozenset(
    {
        ("psycopg", "OperationalError"),
        ("psycopg", "InterfaceError"),
        ("redis.exceptions", "ConnectionError"),
        ("redis.exceptions", "TimeoutError"),
        ("cassandra.cluster", "NoHostAvailable"),
        ("cassandra", "OperationTimedOut"),
        ("cassandra", "RequestExecutionException"),  # unavailable, read/write timeouts and failures
        # An AWS service that answers with an error (a stream being re-created, throttling) or not at
        # all: the request can succeed later, so it is a 503 to a caller and a retry to a consumer.
        ("botocore.exceptions", "ClientError"),
        ("botocore.exceptions", "BotoCoreError"),
    }
)


def _is(exc: BaseException, names: frozenset[tuple[str, str]]) -> bool:
    return any((cls.__module__, cls.__name__) in names for cls in type(exc).__mro__)


def is_store_failure(exc: BaseException) -> bool:
    return _is(exc, _UNREACHABLE)


def is_invalid_value(exc: BaseException) -> bool:
    """PostgreSQL refused a value (class 22, data exception): the caller's input, not a fault."""
    return _is(exc, frozenset({("psycopg", "DataError")}))
