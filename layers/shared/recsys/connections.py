"""Clients of the stores, created on first use and reused across warm invocations.

Nothing connects at import time; each client is built from the typed settings, and AWS
clients take their endpoint from the environment (AWS_ENDPOINT_URL locally, none on AWS); their
calls are traced wherever the Tracer is on (recsys.observability).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from recsys.observability import trace_aws_calls

if TYPE_CHECKING:
    import psycopg
    import redis
    from cassandra.cluster import Session

    from recsys.config import Settings

_lock = threading.Lock()
_postgres: dict[tuple[str, int, str, str], psycopg.Connection] = {}
_cassandra: dict[tuple[tuple[str, ...], int, str], Session] = {}


# Names the emulator a local cloud runs when it is LocalStack (`make up AWS=localstack`): its
# clients are then localstack-client's. Never set on AWS, nor in a function's environment.
EMULATOR_VARIABLE = "RECSYS_AWS_EMULATOR"


def endpoint_variable(service: str) -> str:
    """The variable boto3 reads a service's own endpoint from (AWS_ENDPOINT_URL_<SERVICE ID>)."""
    return "AWS_ENDPOINT_URL_" + service.upper().replace("-", "_").replace(" ", "_")


def uses_localstack(service: str, environment: Mapping[str, str], endpoint_url: str | None = None) -> bool:
    """Whether a client of `service` talks to LocalStack: it is the chosen emulator, at
    AWS_ENDPOINT_URL, and neither an explicit endpoint nor the service's own variable sends this
    service elsewhere (EMR Serverless, which LocalStack lacks, has a moto server of its own)."""
    return (
        environment.get(EMULATOR_VARIABLE) == "localstack"
        and bool(environment.get("AWS_ENDPOINT_URL"))
        and endpoint_url is None
        and not environment.get(endpoint_variable(service))
    )


def new_aws_client(
    service: str,
    environment: Mapping[str, str] | None = None,
    endpoint_url: str | None = None,
    config: Any = None,
) -> Any:
    """Every AWS client of the project is made here: the functions', the local cloud's, the tests'.

    environment: the AWS_* variables to use, as boto3 would read them from the process's (the local
    cloud passes its emulator's); None: the process's own, left to boto3 (on AWS: the function's
    role and region, AWS's endpoints; locally: AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE>).
    endpoint_url: an endpoint over every other (a local runtime's Lambda Invoke API).

    When the environment names LocalStack (RECSYS_AWS_EMULATOR=localstack), the client is
    localstack-client's, which is imported only then: on AWS this is plain boto3.
    """
    env = os.environ if environment is None else environment
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    if uses_localstack(service, env, endpoint_url):
        from localstack_client.session import Session as LocalStackSession

        with _lock:  # its clients come from boto3's default session, which is not thread-safe
            return LocalStackSession(
                aws_access_key_id=env.get("AWS_ACCESS_KEY_ID", "test"),
                aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY", "test"),
                region_name=region or "us-east-1",
                localstack_host=urlparse(env["AWS_ENDPOINT_URL"]).netloc,
            ).client(service, config=config)

    import boto3

    if environment is None:
        return boto3.session.Session().client(service, endpoint_url=endpoint_url, config=config)
    return boto3.session.Session(
        aws_access_key_id=env.get("AWS_ACCESS_KEY_ID"),
        aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY"),
        aws_session_token=env.get("AWS_SESSION_TOKEN"),
        region_name=region,
    ).client(
        service,
        endpoint_url=endpoint_url or env.get(endpoint_variable(service)) or env.get("AWS_ENDPOINT_URL"),
        config=config,
    )


@cache
def aws_client(service: str) -> Any:
    """A client of the process's environment, made once (see new_aws_client)."""
    trace_aws_calls()  # before botocore's first client: each call a subsegment of the trace
    return new_aws_client(service)


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
                # v4, not v5: v5 frames every message in segments whose CRCs the driver computes
                # in Python, 12 % of the log writer's CPU while ingesting (py-spy); v4 has all
                # this service uses (unset values, paging, prepared statements)
                protocol_version=4,
                connect_timeout=5,
                # back within seconds of a node's return (the default backs off to 10 minutes)
                reconnection_policy=ExponentialReconnectionPolicy(base_delay=0.5, max_delay=2.0),
            )
            session = cluster.connect(settings.cassandra_keyspace)
            _cassandra[key] = session
        return session
