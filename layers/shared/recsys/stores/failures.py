"""Exceptions that mean "a store cannot be reached right now" (answered with 503, not 500)."""

from __future__ import annotations

import botocore.exceptions
import psycopg
import redis
from cassandra import OperationTimedOut, Unavailable
from cassandra.cluster import NoHostAvailable

STORE_FAILURES: tuple[type[BaseException], ...] = (
    psycopg.OperationalError,
    psycopg.InterfaceError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    NoHostAvailable,
    OperationTimedOut,
    Unavailable,
    botocore.exceptions.EndpointConnectionError,
    botocore.exceptions.ConnectTimeoutError,
    botocore.exceptions.ReadTimeoutError,
)
