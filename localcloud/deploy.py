"""A stack deployed on the local servers: its schema (a PostgreSQL database, a Cassandra keyspace,
a Redis database) and the AWS resources of its template."""

from __future__ import annotations

from localcloud.aws_resources import deploy_resources
from localcloud.connections import postgres, redis_db
from localcloud.services.servers import Servers
from localcloud.settings import Stack
from localcloud.template import StackContext
from recsys.schema.migrate import ensure_keyspace, migrate_cassandra, migrate_postgres


def apply_schema(servers: Servers, stack: Stack, *, fresh: bool = False) -> None:
    """Create and migrate the stack's database and keyspace; fresh: dropped first, and its Redis
    database emptied."""
    servers.postgres.ensure_database(stack.database, recreate=fresh)
    with postgres(servers.ports.postgres, stack.database) as conn:
        migrate_postgres(conn)

    with servers.cassandra.session() as session:
        if fresh:
            session.execute(f"DROP KEYSPACE IF EXISTS {stack.keyspace}")
        ensure_keyspace(session, stack.keyspace)
        migrate_cassandra(session, stack.keyspace)

    if fresh:
        redis_db(servers.ports.redis, stack.redis_db).flushdb()


def deploy(servers: Servers, stack: Stack, *, fresh: bool = False) -> StackContext:
    """Apply the schema and create the template's AWS resources for `stack`.

    fresh=True first wipes the stack's data (the test suite starts from empty stores).
    """
    apply_schema(servers, stack, fresh=fresh)
    context = stack.context(servers.ports, servers.layout)
    deploy_resources(context, servers.aws_client, fresh=fresh)
    return context
