"""The stores an endpoint uses, built on first use from the function's settings and then reused."""

from __future__ import annotations

from functools import cache

from recsys.api.rate_limit import RateLimiter
from recsys.config import get_settings
from recsys.connections import aws_client, cassandra_session, postgres_connection, redis_client
from recsys.stores.api_keys import PostgresApiKeyStore
from recsys.stores.catalog import PostgresCatalog
from recsys.stores.feature_store import RedisFeatureStore
from recsys.stores.feedback import PostgresFeedbackStore
from recsys.stores.interaction_log import CassandraInteractionLog
from recsys.stores.interaction_stream import KinesisInteractionStream
from recsys.stores.item_features import PostgresItemFeatureStore
from recsys.stores.preferences import PostgresPreferenceStore


def api_keys() -> PostgresApiKeyStore:
    return PostgresApiKeyStore(postgres_connection(get_settings()))


def catalog() -> PostgresCatalog:
    return PostgresCatalog(postgres_connection(get_settings()))


def feedback_store() -> PostgresFeedbackStore:
    return PostgresFeedbackStore(postgres_connection(get_settings()))


def preference_store() -> PostgresPreferenceStore:
    return PostgresPreferenceStore(postgres_connection(get_settings()))


def item_feature_store() -> PostgresItemFeatureStore:
    return PostgresItemFeatureStore(postgres_connection(get_settings()))


def feature_store() -> RedisFeatureStore:
    return RedisFeatureStore(redis_client(get_settings()))


@cache
def rate_limiter() -> RateLimiter:
    return RateLimiter(redis_client(get_settings()))


@cache
def _interaction_log(session_id: int) -> CassandraInteractionLog:
    return CassandraInteractionLog(cassandra_session(get_settings()))


def interaction_log() -> CassandraInteractionLog:
    # Prepared statements belong to a session; a replaced session gets a new adapter.
    return _interaction_log(id(cassandra_session(get_settings())))


def interaction_stream() -> KinesisInteractionStream:
    return KinesisInteractionStream(aws_client("kinesis"), get_settings().interaction_stream_name)
