import uuid

import psycopg
import pytest

from recsys.connections import cassandra_session, postgres_connection
from recsys.schema.migrate import load_migrations, migrate_cassandra, migrate_postgres


def test_postgres_migrations_are_recorded_and_reapplying_is_a_no_op(settings):
    conn = postgres_connection(settings)
    assert migrate_postgres(conn) == []
    recorded = [row[0] for row in conn.execute("SELECT name FROM schema_migrations ORDER BY version")]
    assert recorded == [m.name for m in load_migrations("postgres")]


def test_postgres_has_the_tables_and_indexes_the_api_needs(settings):
    conn = postgres_connection(settings)
    tables = {row[0] for row in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert {
        "users",
        "items",
        "user_preferences",
        "item_features",
        "feedback",
        "precomputed_recommendations",
        "api_keys",
        "experiments",
    } <= tables
    indexes = {row[0] for row in conn.execute("SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")}
    assert {
        "idx_users_active",
        "idx_users_engagement",
        "idx_items_category",
        "idx_items_popularity",
        "idx_items_new",
        "idx_user_preferences_idempotency_key",
        "idx_item_features_idempotency_key",
        "idx_precomputed_expiry",
    } <= indexes


def test_preference_idempotency_key_is_unique_per_user(settings):
    conn = postgres_connection(settings)
    user_id = f"user_{uuid.uuid4().hex[:8]}"
    conn.execute("INSERT INTO users (user_id) VALUES (%s)", (user_id,))
    insert = "INSERT INTO user_preferences (user_id, version, idempotency_key) VALUES (%s, %s, %s)"
    conn.execute(insert, (user_id, 1, "key-1"))
    conn.execute(insert, (user_id, 2, None))
    conn.execute(insert, (user_id, 3, None))  # many rows without a key are fine
    with pytest.raises(psycopg.errors.UniqueViolation):
        conn.execute(insert, (user_id, 4, "key-1"))


def test_api_key_tier_and_scopes_are_constrained(settings):
    conn = postgres_connection(settings)
    insert = "INSERT INTO api_keys (key_prefix, key_hash, tier, scopes) VALUES (%s, %s, %s, %s)"
    conn.execute(insert, ("pfx1" + uuid.uuid4().hex[:8], uuid.uuid4().hex * 2, "pro", ["read", "write"]))
    with pytest.raises(psycopg.errors.CheckViolation):
        conn.execute(insert, ("pfx2" + uuid.uuid4().hex[:8], uuid.uuid4().hex * 2, "platinum", ["read"]))
    with pytest.raises(psycopg.errors.CheckViolation):
        conn.execute(insert, ("pfx3" + uuid.uuid4().hex[:8], uuid.uuid4().hex * 2, "free", ["root"]))


def test_cassandra_migrations_are_recorded_and_reapplying_is_a_no_op(settings):
    session = cassandra_session(settings)
    assert migrate_cassandra(session, settings.cassandra_keyspace) == []
    tables = {
        row.table_name
        for row in session.execute(
            "SELECT table_name FROM system_schema.tables WHERE keyspace_name = %s",
            (settings.cassandra_keyspace,),
        )
    }
    assert {"interactions", "item_interactions", "interaction_event_ids", "schema_migrations"} <= tables
    clustering = {
        row.column_name: row.clustering_order
        for row in session.execute(
            "SELECT column_name, clustering_order FROM system_schema.columns"
            " WHERE keyspace_name = %s AND table_name = 'interactions'",
            (settings.cassandra_keyspace,),
        )
    }
    assert clustering["event_time"] == "desc"
