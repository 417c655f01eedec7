"""The composition root: the stores a function uses, built on first use from the function's
settings and then reused (a PostgreSQL store for as long as its connection lives: a broken one
is replaced, and so is it). Routes receive them through FastAPI `Depends` (`injected`), so a test
swaps any of them with `app.dependency_overrides[injected(provider)]`; consumers and workers
call the providers directly.

Each store's module (and so its driver) is imported only when an endpoint first asks for it:
a function that never touches Cassandra or Kinesis never pays for importing their clients.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends

from recsys.config import get_settings
from recsys.connections import aws_client, cassandra_session, postgres_connection, redis_client

if TYPE_CHECKING:
    import psycopg
    from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer

    from recsys.engine.bundle import CatalogSnapshot
    from recsys.engine.serving import ModelSource
    from recsys.logic.recommend import Stores as RecommendationStores
    from recsys.stores.api_keys import PostgresApiKeyStore
    from recsys.stores.catalog import CachedCatalog, Catalog, PostgresCatalog
    from recsys.stores.catalog_imports import CatalogImportProgress, RedisImportProgress
    from recsys.stores.event_claims import EventClaims, RedisEventClaims
    from recsys.stores.experiments import (
        AssignmentCounts,
        Assignments,
        CachedExperiments,
        ExperimentDefinitions,
        PostgresExperimentStore,
        RankingExperiments,
        RedisAssignments,
    )
    from recsys.stores.failure_queue import QueueDepth, SqsFailureQueue
    from recsys.stores.feature_store import AppliedEvents, FeatureStore, RedisFeatureStore
    from recsys.stores.feedback import FeedbackStore, PostgresFeedbackStore
    from recsys.stores.index_artifacts import PublishedModels, S3IndexArtifacts
    from recsys.stores.interaction_imports import (
        ImportFiles,
        ImportRegistry,
        PostgresImportRegistry,
        S3ImportFiles,
    )
    from recsys.stores.interaction_log import CassandraInteractionLog, InteractionLog
    from recsys.stores.interaction_stream import InteractionStream, KinesisInteractionStream
    from recsys.stores.item_features import PostgresItemFeatureStore
    from recsys.stores.precomputed import PostgresPrecomputedStore
    from recsys.stores.preferences import PostgresPreferenceStore
    from recsys.stores.queues import MessageQueue, SqsQueue
    from recsys.stores.rate_limits import RedisRateLimits
    from recsys.stores.recommendation_cache import RecommendationCache, RedisRecommendationCache
    from recsys.stores.refresh_trigger import (
        LambdaRefreshTrigger,
        RedisRefreshHold,
        RefreshHold,
        RefreshTrigger,
    )
    from recsys.stores.spark_jobs import EmrServerlessJobs
    from recsys.stores.user_signals import PostgresUserSignals


def per_connection[S](build: Callable[[psycopg.Connection], S]) -> Callable[[], S]:
    """A PostgreSQL store built once per connection: reused while the connection lives, built
    again on the one that replaces it."""
    kept: tuple[psycopg.Connection, S] | None = None

    def store() -> S:
        nonlocal kept
        conn = postgres_connection(get_settings())
        if kept is None or kept[0] is not conn:  # first use, or the connection was replaced
            kept = (conn, build(conn))
        return kept[1]

    store.__name__, store.__qualname__, store.__doc__ = build.__name__, build.__qualname__, build.__doc__
    return store


def api_keys() -> PostgresApiKeyStore:
    from recsys.stores.api_keys import PostgresApiKeyStore

    return PostgresApiKeyStore(postgres_connection(get_settings()))


@per_connection
def catalog(conn: psycopg.Connection) -> PostgresCatalog:
    from recsys.stores.catalog import PostgresCatalog

    return PostgresCatalog(conn)


@cache
def cached_catalog() -> CachedCatalog:
    """The catalog as the request path reads it, kept in this environment's memory."""
    from recsys.stores.catalog import CachedCatalog

    return CachedCatalog(catalog, get_settings().cache_check_seconds, snapshot=_loaded_catalog)


def _loaded_catalog() -> CatalogSnapshot | None:
    """The catalog published with the model this environment has loaded, if it loaded one (this
    never loads one: a function that serves no model never builds the model source)."""
    if model_source.cache_info().currsize == 0:
        return None
    bundle = model_source().loaded
    return bundle.catalog if bundle is not None else None


@per_connection
def feedback_store(conn: psycopg.Connection) -> PostgresFeedbackStore:
    from recsys.stores.feedback import PostgresFeedbackStore

    return PostgresFeedbackStore(conn)


@per_connection
def preference_store(conn: psycopg.Connection) -> PostgresPreferenceStore:
    from recsys.stores.preferences import PostgresPreferenceStore

    return PostgresPreferenceStore(conn)


@per_connection
def user_signals(conn: psycopg.Connection) -> PostgresUserSignals:
    from recsys.stores.user_signals import PostgresUserSignals

    return PostgresUserSignals(conn)


def item_feature_store() -> PostgresItemFeatureStore:
    from recsys.stores.item_features import PostgresItemFeatureStore

    return PostgresItemFeatureStore(postgres_connection(get_settings()))


@cache
def feature_store() -> RedisFeatureStore:
    from recsys.stores.feature_store import RedisFeatureStore

    return RedisFeatureStore(redis_client(get_settings()))


@cache
def rate_limits() -> RedisRateLimits:
    from recsys.stores.rate_limits import RedisRateLimits

    return RedisRateLimits(redis_client(get_settings()))


@cache
def recommendation_cache() -> RedisRecommendationCache:
    """The model's rankings kept per user: read by the recommendations function, and dropped for a
    user by whatever changes their recommendations."""
    from recsys.stores.recommendation_cache import RedisRecommendationCache

    settings = get_settings()
    return RedisRecommendationCache(redis_client(settings), settings.recommendation_cache_seconds)


@cache
def event_claims() -> RedisEventClaims:
    from recsys.stores.event_claims import RedisEventClaims

    return RedisEventClaims(redis_client(get_settings()))


@cache
def idempotency_records() -> BasePersistenceLayer:
    from recsys.stores.idempotency import redis_idempotency_records

    return redis_idempotency_records(get_settings().redis_url)


@cache
def import_progress() -> RedisImportProgress:
    from recsys.stores.catalog_imports import RedisImportProgress

    return RedisImportProgress(redis_client(get_settings()))


def catalog_chunks() -> SqsQueue:
    """Where a catalog import's chunks wait for the import worker."""
    from recsys.stores.queues import SqsQueue

    return SqsQueue(aws_client("sqs"), get_settings().catalog_import_queue_url)


def interaction_import_hand_overs() -> SqsQueue:
    """Where an interaction import worker near its time limit leaves the rest to the next one."""
    from recsys.stores.queues import SqsQueue

    return SqsQueue(aws_client("sqs"), get_settings().interaction_import_queue_url or "")


@cache
def _interaction_log(session_id: int) -> CassandraInteractionLog:
    from recsys.stores.interaction_log import CassandraInteractionLog

    return CassandraInteractionLog(cassandra_session(get_settings()))


def interaction_log() -> CassandraInteractionLog:
    # Prepared statements belong to a session; a replaced session gets a new adapter.
    return _interaction_log(id(cassandra_session(get_settings())))


@cache
def interaction_stream() -> KinesisInteractionStream:
    """Kept per environment: it caches the stream's shard map."""
    from recsys.stores.interaction_stream import KinesisInteractionStream

    return KinesisInteractionStream(aws_client("kinesis"), get_settings().interaction_stream_name)


def import_registry() -> PostgresImportRegistry:
    from recsys.stores.interaction_imports import PostgresImportRegistry

    return PostgresImportRegistry(postgres_connection(get_settings()))


def import_files() -> S3ImportFiles:
    from recsys.stores.interaction_imports import S3ImportFiles

    return S3ImportFiles(aws_client("s3"), get_settings().interaction_import_bucket)


@per_connection
def precomputed_store(conn: psycopg.Connection) -> PostgresPrecomputedStore:
    from recsys.stores.precomputed import PostgresPrecomputedStore

    return PostgresPrecomputedStore(conn)


def index_artifacts() -> S3IndexArtifacts:
    from recsys.stores.index_artifacts import S3IndexArtifacts

    return S3IndexArtifacts(aws_client("s3"), get_settings().index_bucket_name)


def spark_jobs() -> EmrServerlessJobs | None:
    """Where a refresh trains a log too large for the function (None: no application configured)."""
    settings = get_settings()
    if not settings.spark_application_id:
        return None
    from recsys.stores.spark_jobs import EmrServerlessJobs

    return EmrServerlessJobs(
        aws_client("emr-serverless"), settings.spark_application_id, settings.spark_job_role_arn
    )


@cache
def model_source() -> ModelSource:
    """The model this execution environment serves, shared by its invocations (one per environment)."""
    from pathlib import Path

    from recsys.engine.serving import ModelSource

    settings = get_settings()
    return ModelSource(index_artifacts(), Path(settings.model_cache_dir), settings.model_check_seconds)


@per_connection
def experiment_store(conn: psycopg.Connection) -> PostgresExperimentStore:
    from recsys.stores.experiments import PostgresExperimentStore

    return PostgresExperimentStore(conn)


@cache
def assignments() -> RedisAssignments:
    from recsys.stores.experiments import RedisAssignments

    return RedisAssignments(redis_client(get_settings()))


@cache
def cached_experiments() -> CachedExperiments:
    """The active ranking experiment as the request path reads it, kept in this environment."""
    from recsys.stores.experiments import CachedExperiments

    return CachedExperiments(experiment_store, get_settings().cache_check_seconds)


def failure_queue() -> SqsFailureQueue | None:
    """Where a consumer parks records that can never succeed (None: the function has no queue)."""
    url = get_settings().failure_queue_url
    if not url:
        return None
    from recsys.stores.failure_queue import SqsFailureQueue

    return SqsFailureQueue(aws_client("sqs"), url)


def refresh_trigger() -> LambdaRefreshTrigger:
    """Starts the refresh function (POST /v1/model/refresh)."""
    from recsys.stores.refresh_trigger import LambdaRefreshTrigger

    return LambdaRefreshTrigger(aws_client("lambda"), get_settings().refresh_function_name)


@cache
def refresh_hold() -> RedisRefreshHold:
    from recsys.stores.refresh_trigger import RedisRefreshHold

    return RedisRefreshHold(redis_client(get_settings()))


def recommendation_stores() -> RecommendationStores:
    """What ranking reads: the catalog and experiments as cached here, the real-time features,
    the user's signals, the precomputed rows and the model."""
    from recsys.logic.recommend import Stores

    return Stores(
        catalog=cached_catalog(),
        features=feature_store(),
        signals=user_signals(),
        precomputed=precomputed_store(),
        models=model_source(),
        cache=recommendation_cache() if get_settings().recommendation_cache_seconds > 0 else None,
    )


# -- what routes declare ------------------------------------------------------------------------
@cache
def injected[S](provider: Callable[[], S]) -> Callable[[], Any]:
    """The route dependency for a provider: one per provider (so that it is the key a test
    overrides), resolved on the event loop (FastAPI runs a plain `def` dependency in a worker
    thread, a thread handoff on every request for a call that returns a kept object)."""

    async def provide() -> S:
        return provider()

    provide.__name__ = provider.__name__
    return provide


def overridable[S](app: Any, provider: Callable[[], S]) -> S:
    """A provider's store as the app's routes get it (a test's override if it set one): for the
    middleware, which sits outside FastAPI's dependency injection."""
    override = app.dependency_overrides.get(injected(provider)) if app is not None else None
    return override() if override is not None else provider()


# Each typed by what the route may rely on (the Protocol, where the route needs no more).
CatalogDep = Annotated["Catalog", Depends(injected(catalog))]
RecommendationStoresDep = Annotated["RecommendationStores", Depends(injected(recommendation_stores))]
RankingExperimentsDep = Annotated["RankingExperiments", Depends(injected(cached_experiments))]
ExperimentStoreDep = Annotated["PostgresExperimentStore", Depends(injected(experiment_store))]
AssignmentsDep = Annotated["Assignments", Depends(injected(assignments))]
FeedbackStoreDep = Annotated["FeedbackStore", Depends(injected(feedback_store))]
PreferenceStoreDep = Annotated["PostgresPreferenceStore", Depends(injected(preference_store))]
ItemFeatureStoreDep = Annotated["PostgresItemFeatureStore", Depends(injected(item_feature_store))]
RecommendationCacheDep = Annotated["RecommendationCache", Depends(injected(recommendation_cache))]
FeatureStoreDep = Annotated["FeatureStore", Depends(injected(feature_store))]
InteractionLogDep = Annotated["InteractionLog", Depends(injected(interaction_log))]
InteractionStreamDep = Annotated["InteractionStream", Depends(injected(interaction_stream))]
EventClaimsDep = Annotated["EventClaims", Depends(injected(event_claims))]
ImportRegistryDep = Annotated["ImportRegistry", Depends(injected(import_registry))]
ImportFilesDep = Annotated["ImportFiles", Depends(injected(import_files))]
CatalogImportProgressDep = Annotated["CatalogImportProgress", Depends(injected(import_progress))]
CatalogChunksDep = Annotated["MessageQueue", Depends(injected(catalog_chunks))]
IdempotencyRecordsDep = Annotated["BasePersistenceLayer", Depends(injected(idempotency_records))]
ExperimentDefinitionsDep = Annotated["ExperimentDefinitions", Depends(injected(experiment_store))]
AssignmentCountsDep = Annotated["AssignmentCounts", Depends(injected(assignments))]
PublishedModelsDep = Annotated["PublishedModels", Depends(injected(index_artifacts))]
RefreshTriggerDep = Annotated["RefreshTrigger", Depends(injected(refresh_trigger))]
RefreshHoldDep = Annotated["RefreshHold", Depends(injected(refresh_hold))]
AppliedEventsDep = Annotated["AppliedEvents", Depends(injected(feature_store))]
FailureQueueDepthDep = Annotated["QueueDepth | None", Depends(injected(failure_queue))]
