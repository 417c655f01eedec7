"""The stores, each behind a small interface named after what it holds, one adapter per engine:
every Redis, PostgreSQL, Cassandra and AWS call of the service lives in this package (the clients
themselves in recsys.connections, wired to the rest in recsys.api.dependencies)."""
