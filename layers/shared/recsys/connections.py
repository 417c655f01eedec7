"""Clients of the stores, created on first use and reused across warm invocations.

Nothing connects at import time; each client is built from the typed settings, and AWS
clients take their endpoint from the environment (AWS_ENDPOINT_URL locally, none on AWS); their
calls are traced wherever the Tracer is on (recsys.observability).
"""

from __future__ import annotations

import threading
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any

from recsys.observability import trace_aws_calls

if TYPE_CHECKING:
    import psycopg
    import redis
    from cassandra.cluster import Session

    from recsys.config import Settings

_lock = threading.Lock()
_postgres: dict[tuple[str, int, str, str], psycopg.Connection] = {}
_cassandra: dict[tuple[tuple[str, ...], int, str], Session] = {}


@cache
def aws_client(service: str) -> Any:
    trace_aws_calls()  # before botocore's first client: each call a subsegment of the trace
    import boto3

    return boto3.session.Session().client(service)


def new_postgres_connection(settings: Settings) -> psycopg.Connection:
    """A new autocommit connection of its own (postgres_connection shares one)."""
    import psycopg

    return psycopg.connect(
        host=settings.postgres_host,
        port=settings.postgres_port,
        dbname=settings.postgres_db,
        user=settings.postgres_user,
        password=settings.postgres_password or None,
        autocommit=True,
        connect_timeout=3,
        application_name=f"recsys-{settings.stage}",
    )


def postgres_connection(settings: Settings) -> psycopg.Connection:
    """An autocommit connection shared by this process; a broken one is replaced on the next call."""
    key = (settings.postgres_host, settings.postgres_port, settings.postgres_db, settings.postgres_user)
    with _lock:
        conn = _postgres.get(key)
        if conn is None or conn.closed or conn.broken:
            conn = _postgres[key] = new_postgres_connection(settings)
        return conn


@lru_cache(maxsize=8)
def _redis_for_url(url: str) -> redis.Redis:
    import redis

    return redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2, health_check_interval=30)


def redis_client(settings: Settings) -> redis.Redis:
    return _redis_for_url(settings.redis_url)


def cassandra_session(settings: Settings) -> Session:
    """A session bound to the configured keyspace, token-aware within the local datacenter."""
    from cassandra import ConsistencyLevel
    from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
    from cassandra.policies import DCAwareRoundRobinPolicy, ExponentialReconnectionPolicy, TokenAwarePolicy

    key = (settings.cassandra_contact_points, settings.cassandra_port, settings.cassandra_keyspace)
    with _lock:
        session = _cassandra.get(key)
        if session is None or session.is_shutdown:
            profile = ExecutionProfile(
                load_balancing_policy=TokenAwarePolicy(
                    DCAwareRoundRobinPolicy(local_dc=settings.cassandra_local_dc)
                ),
                request_timeout=5,
                # an acknowledged write is on a quorum of the local replicas (with RF 3, a node
                # that dies before its commit log is synced loses nothing); one node locally
                consistency_level=ConsistencyLevel.LOCAL_QUORUM,
            )
            cluster = Cluster(
                list(settings.cassandra_contact_points),
                port=settings.cassandra_port,
                execution_profiles={EXEC_PROFILE_DEFAULT: profile},
                protocol_version=5,
                connect_timeout=5,
                # back within seconds of a node's return (the default backs off to 10 minutes)
                reconnection_policy=ExponentialReconnectionPolicy(base_delay=0.5, max_delay=2.0),
            )
            session = cluster.connect(settings.cassandra_keyspace)
            _cassandra[key] = session
        return session
