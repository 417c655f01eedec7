"""Connections to the local cloud's servers, made here only: their host, user and credentials."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from localcloud.settings import HOST, SUPERUSER, Ports, tooling_aws_environment
from recsys.connections import new_aws_client

if TYPE_CHECKING:
    import psycopg
    import redis
    from botocore.config import Config


def postgres(port: int, database: str, connect_timeout: int | None = None) -> psycopg.Connection:
    """An autocommit connection to a database of the local cluster, as its superuser."""
    import psycopg

    return psycopg.connect(
        host=HOST,
        port=port,
        user=SUPERUSER,
        dbname=database,
        autocommit=True,
        connect_timeout=connect_timeout,
    )


def redis_db(
    port: int, db: int = 0, socket_timeout: float | None = None, retries: bool = True
) -> redis.Redis:
    """A client of one numbered database of the local Redis. `retries=False` asks once: redis-py's
    default retries (three, with backoff up to 10 s) keep a probe waiting on a server that is
    still replaying its append-only file."""
    import redis

    if retries:
        return redis.Redis(host=HOST, port=port, db=db, socket_timeout=socket_timeout)
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return redis.Redis(
        host=HOST, port=port, db=db, socket_timeout=socket_timeout, retry=Retry(NoBackoff(), 0)
    )


@cache
def aws_client(
    ports: Ports, service: str, endpoint_url: str | None = None, config: Config | None = None
) -> Any:
    """A client with the emulator's region and credentials, made once for these arguments: of the
    emulator (moto's server, or LocalStack through localstack-client), or of `endpoint_url` (a
    runtime's Lambda Invoke API). Made where every AWS client is: recsys.connections."""
    return new_aws_client(service, tooling_aws_environment(ports), endpoint_url, config)
