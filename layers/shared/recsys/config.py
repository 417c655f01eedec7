"""Typed configuration, parsed once from the environment that template.yaml sets."""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator


class ConfigurationError(RuntimeError):
    """The environment lacks a variable the function needs, or holds a malformed one."""


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    stage: str = Field(alias="STAGE")
    postgres_host: str = Field(alias="POSTGRES_HOST")
    postgres_port: int = Field(alias="POSTGRES_PORT")
    postgres_db: str = Field(alias="POSTGRES_DB")
    postgres_user: str = Field(alias="POSTGRES_USER")
    postgres_password: str = Field(default="", alias="POSTGRES_PASSWORD", repr=False)
    redis_url: str = Field(alias="REDIS_URL")
    cassandra_contact_points: tuple[str, ...] = Field(alias="CASSANDRA_CONTACT_POINTS")
    cassandra_port: int = Field(alias="CASSANDRA_PORT")
    cassandra_keyspace: str = Field(alias="CASSANDRA_KEYSPACE")
    cassandra_local_dc: str = Field(alias="CASSANDRA_LOCAL_DC")
    index_bucket_name: str = Field(alias="INDEX_BUCKET_NAME")
    interaction_stream_name: str = Field(alias="INTERACTION_STREAM_NAME")
    catalog_import_queue_url: str = Field(alias="CATALOG_IMPORT_QUEUE_URL")
    # Where interaction history files are uploaded; the queue their workers hand over on (worker only).
    interaction_import_bucket: str = Field(default="", alias="INTERACTION_IMPORT_BUCKET")
    interaction_import_queue_url: str | None = Field(default=None, alias="INTERACTION_IMPORT_QUEUE_URL")
    # Where stream consumers park records that can never succeed; the consumers and the replay only.
    failure_queue_url: str | None = Field(default=None, alias="FAILURE_QUEUE_URL")
    # How often an execution environment looks for a newer model version in S3 (latest.json).
    model_check_seconds: float = Field(default=30.0, alias="MODEL_CHECK_SECONDS", ge=0)
    # How often the request path asks PostgreSQL whether the items and experiments it keeps changed.
    cache_check_seconds: float = Field(default=5.0, alias="CACHE_CHECK_SECONDS", ge=0)
    # How long the recommendations function serves a ranking again while nothing it depends on
    # changed (seconds; 0: rank every request).
    recommendation_cache_seconds: float = Field(default=60.0, alias="RECOMMENDATION_CACHE_SECONDS", ge=0)
    # Training on Spark (refresh only): the EMR Serverless application and the role its runs take,
    # and the logged events above which a refresh trains there rather than in the function.
    spark_application_id: str = Field(default="", alias="SPARK_APPLICATION_ID")
    spark_job_role_arn: str = Field(default="", alias="SPARK_JOB_ROLE_ARN")
    spark_training_threshold: int = Field(default=1_500_000, alias="SPARK_TRAINING_THRESHOLD", ge=0)
    # Catalogs up to this many active items trained on Spark get the item-item models (solved here
    # from the job's items × items statistics), larger ones ALS's factors.
    spark_item_item_max_items: int = Field(default=4096, alias="SPARK_ITEM_ITEM_MAX_ITEMS", ge=0)
    # The function POST /v1/model/refresh invokes (that endpoint's function only).
    refresh_function_name: str = Field(default="", alias="REFRESH_FUNCTION_NAME")
    model_cache_dir: str = Field(default="/tmp/recsys-model", alias="MODEL_CACHE_DIR")  # noqa: S108

    @field_validator("cassandra_contact_points", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(host.strip() for host in value.split(",") if host.strip())
        return value

    @field_validator("cassandra_keyspace")
    @classmethod
    def _plain_identifier(cls, value: str) -> str:
        # The keyspace is interpolated into CQL DDL, which cannot take bind parameters.
        if not value.replace("_", "").isalnum():
            raise ValueError("must contain only letters, digits and underscores")
        return value

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Settings:
        try:
            return cls.model_validate(dict(os.environ if environ is None else environ))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(part) for part in err['loc'])}: {err['msg']}" for err in exc.errors()
            )
            raise ConfigurationError(f"invalid function configuration: {problems}") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this execution environment, parsed on first use (cold start)."""
    return Settings.from_environment()
