import pytest

from recsys.config import ConfigurationError, Settings

ENV = {
    "STAGE": "local",
    "POSTGRES_HOST": "127.0.0.1",
    "POSTGRES_PORT": "5432",
    "POSTGRES_DB": "recsys",
    "POSTGRES_USER": "recsys",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "CASSANDRA_CONTACT_POINTS": "10.0.0.1, 10.0.0.2",
    "CASSANDRA_PORT": "9042",
    "CASSANDRA_KEYSPACE": "recsys",
    "CASSANDRA_LOCAL_DC": "datacenter1",
    "INDEX_BUCKET_NAME": "bucket",
    "INTERACTION_STREAM_NAME": "stream",
    "CATALOG_IMPORT_QUEUE_URL": "http://queue",
}


def test_parses_types_and_lists():
    settings = Settings.from_environment(ENV)
    assert settings.postgres_port == 5432
    assert settings.cassandra_contact_points == ("10.0.0.1", "10.0.0.2")
    assert "postgres_password" not in repr(settings)


def test_missing_variable_is_named():
    env = {k: v for k, v in ENV.items() if k != "REDIS_URL"}
    with pytest.raises(ConfigurationError, match="REDIS_URL"):
        Settings.from_environment(env)


def test_malformed_values_are_refused():
    with pytest.raises(ConfigurationError, match="POSTGRES_PORT"):
        Settings.from_environment({**ENV, "POSTGRES_PORT": "many"})
    with pytest.raises(ConfigurationError, match="CASSANDRA_KEYSPACE"):
        Settings.from_environment({**ENV, "CASSANDRA_KEYSPACE": "x; DROP"})
