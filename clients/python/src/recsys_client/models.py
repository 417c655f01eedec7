"""The API's request and response bodies, as `openapi.json` (the repository's generated document)
has them: one model per schema of its `components`, with the same name, fields, required fields
and types (tests/unit/test_client_drift.py fails when they part).

Requests forbid unknown fields as the API does; their value limits (id patterns, lengths) are the
API's to check, so that every refusal reaches the caller as the same `RecsysError`. Responses
ignore fields they do not know, so a field the API adds later breaks no deployed client.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

Action = Literal["impression", "click", "add_to_cart", "purchase", "watch", "like", "dislike"]
FeedbackType = Literal["not_interested", "like", "dislike", "report"]
ContextValue = str | int | float | bool


class RequestBody(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ResponseBody(BaseModel):
    model_config = ConfigDict(extra="ignore")


# -- recommendations -----------------------------------------------------------------------
class ItemMetadata(ResponseBody):
    title: str
    category: str | None = None
    thumbnail_url: str | None = None
    rating: float | None = None


class RecommendedItem(ResponseBody):
    item_id: str
    score: float
    rank: int
    metadata: ItemMetadata
    explanation: dict[str, Any]


class RecommendationsResponse(ResponseBody):
    recommendations: list[RecommendedItem]
    request_id: str
    model_version: str
    generated_at: datetime


class SourceItem(ResponseBody):
    item_id: str
    title: str


class SimilarItem(ResponseBody):
    item_id: str
    similarity_score: float
    metadata: ItemMetadata
    similarity_reason: str


class SimilarItemsResponse(ResponseBody):
    source_item: SourceItem
    similar_items: list[SimilarItem]
    request_id: str
    model_version: str
    generated_at: datetime


class ContributingFactor(ResponseBody):
    factor: str
    weight: float
    contribution: float | None = None
    description: str


class Explanation(ResponseBody):
    primary_reason: str
    description: str | None = None
    would_be_recommended: bool | None = None
    score: float | None = None
    contributing_factors: list[ContributingFactor]
    similar_items_watched: list[str]
    predicted_rating: float | None


class ExplanationResponse(ResponseBody):
    item_id: str
    user_id: str
    explanation: Explanation
    request_id: str
    model_version: str
    generated_at: datetime


# -- interactions --------------------------------------------------------------------------
class InteractionRequest(RequestBody):
    user_id: str
    item_id: str
    action: Action
    context: dict[str, ContextValue] = Field(default_factory=dict)
    timestamp: datetime | None = None


class InteractionEvent(InteractionRequest):
    """One event of a batch: an interaction and its own event id (the client assigns one when
    absent). Not a schema of the document: its batch events are free-form objects, each checked
    by the API as an InteractionRequest with an `event_id`."""

    event_id: str | None = None


class InteractionAccepted(ResponseBody):
    status: Literal["accepted"] = "accepted"
    event_id: str
    duplicate: bool = False
    request_id: str


class InteractionBatchRequest(RequestBody):
    events: list[dict[str, Any]]


class EventResult(ResponseBody):
    index: int
    event_id: str | None
    status: Literal["accepted", "duplicate", "rejected", "failed"]
    error: dict[str, Any] | None = None


class InteractionBatchAccepted(ResponseBody):
    accepted: int
    duplicates: int
    rejected: int
    failed: int
    results: list[EventResult]
    request_id: str


class InteractionImportRequest(RequestBody):
    format: Literal["csv", "jsonl"] = "csv"


class InteractionImportCreated(ResponseBody):
    import_id: str
    status: Literal["awaiting_upload"] = "awaiting_upload"
    upload_url: str
    upload_method: Literal["PUT"] = "PUT"
    expires_in: int
    request_id: str


class ImportRowError(ResponseBody):
    line: int
    code: str
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


class InteractionImportStatus(ResponseBody):
    import_id: str
    status: Literal["awaiting_upload", "processing", "applying", "completed", "failed"]
    format: str
    rows_read: int
    accepted: int
    duplicates: int
    rejected: int
    errors: list[ImportRowError]
    failure: str | None = None
    created_at: datetime
    read_at: datetime | None
    completed_at: datetime | None
    request_id: str


# -- feedback ------------------------------------------------------------------------------
class FeedbackRequest(RequestBody):
    user_id: str
    item_id: str
    feedback_type: FeedbackType
    reason: str | None = None


class FeedbackUpdate(RequestBody):
    feedback_type: FeedbackType
    reason: str | None = None
    version: int | None = None


class FeedbackResponse(ResponseBody):
    status: Literal["recorded", "updated"]
    action_taken: str
    feedback_id: UUID
    user_id: str
    item_id: str
    feedback_type: str
    reason: str | None
    version: int
    request_id: str


# -- users, preferences --------------------------------------------------------------------
class UserRequest(RequestBody):
    preferred_categories: list[str] = Field(default_factory=list)
    language: str | None = None
    country: str | None = None


class UserResponse(ResponseBody):
    user_id: str
    preferred_categories: list[str]
    language: str | None
    country: str | None
    total_interactions: int
    is_new_user: bool
    created_at: datetime | None
    request_id: str


class PreferencesRequest(RequestBody):
    favorite_categories: list[str] = Field(default_factory=list)
    excluded_items: list[str] = Field(default_factory=list)
    language: str | None = None
    version: int | None = None


class PreferencesResponse(ResponseBody):
    user_id: str
    version: int
    favorite_categories: list[str]
    excluded_items: list[str]
    language: str | None
    updated_at: datetime
    request_id: str


# -- catalog and item features -------------------------------------------------------------
class ItemRequest(RequestBody):
    title: str
    description: str | None = None
    category: str | None = None
    subcategory: str | None = None
    tags: list[str] = Field(default_factory=list)
    content_features: dict[str, Any] = Field(default_factory=dict)
    thumbnail_url: str | None = None
    avg_rating: float | None = None
    is_active: bool = True


class ItemResponse(ResponseBody):
    item_id: str
    title: str
    description: str | None
    category: str | None
    subcategory: str | None
    tags: list[str]
    content_features: dict[str, Any]
    thumbnail_url: str | None
    avg_rating: float | None
    interaction_count: int
    is_active: bool
    request_id: str


class CatalogImportItem(ItemRequest):
    item_id: str


class CatalogImportRequest(RequestBody):
    items: list[CatalogImportItem]


class CatalogImportAccepted(ResponseBody):
    import_id: str
    items: int
    chunks: int
    status: Literal["queued"] = "queued"
    request_id: str


class CatalogImportStatus(ResponseBody):
    import_id: str
    items: int
    imported: int
    status: Literal["queued", "completed"]
    request_id: str


class ItemFeaturesRequest(RequestBody):
    content_features: dict[str, Any] = Field(default_factory=dict)
    popularity_features: dict[str, Any] = Field(default_factory=dict)
    engagement_features: dict[str, Any] = Field(default_factory=dict)
    version: int | None = None


class ItemFeaturesResponse(ResponseBody):
    item_id: str
    version: int
    content_features: dict[str, Any]
    popularity_features: dict[str, Any]
    engagement_features: dict[str, Any]
    updated_at: datetime
    request_id: str


# -- experiments ---------------------------------------------------------------------------
class Variant(RequestBody):
    name: str
    weight: float
    blend: dict[str, float] | None = None


class ExperimentRequest(RequestBody):
    variants: list[Variant]
    is_active: bool = True


class ExperimentResponse(ResponseBody):
    experiment_id: str
    variants: list[Variant]
    is_active: bool
    request_id: str


class AssignmentRequest(RequestBody):
    user_id: str


class AssignmentResponse(ResponseBody):
    experiment_id: str
    user_id: str
    variant: str
    assigned_at: datetime
    request_id: str


# Every schema of the document's components, by name (the drift test walks this).


# -- what the console reads: a user's history, experiments, the model, ingest ------------------
class HistoryEvent(ResponseBody):
    event_id: str
    item_id: str
    title: str | None
    category: str | None
    action: str
    event_time: datetime
    session_id: str | None = None


class UserHistoryResponse(ResponseBody):
    user_id: str
    events: list[HistoryEvent]
    request_id: str


class VariantSummary(ResponseBody):
    name: str
    weight: float
    share: float
    blend: dict[str, float] | None = None
    assignments: int


class ExperimentSummary(ResponseBody):
    experiment_id: str
    is_active: bool
    routes_recommendations: bool
    created_at: datetime
    variants: list[VariantSummary]


class ExperimentListResponse(ResponseBody):
    experiments: list[ExperimentSummary]
    request_id: str


class IndexSummary(ResponseBody):
    kind: str
    items: int
    dimensions: int
    nlist: int | None = None
    nprobe: int | None = None
    recall_at_50: float
    sample_queries: int


class ModelVersionEntry(ResponseBody):
    model_version: str
    trained_at: datetime | None
    current: bool


class ModelResponse(ResponseBody):
    model_version: str | None
    algorithm: str | None = None
    trained_at: datetime | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    blend: dict[str, Any] = Field(default_factory=dict)
    counts: dict[str, Any] = Field(default_factory=dict)
    index: IndexSummary | None = None
    timings: dict[str, Any] = Field(default_factory=dict)
    spark: dict[str, Any] | None = None
    eval: dict[str, Any] | None = None
    versions: list[ModelVersionEntry]
    request_id: str


class ModelRefreshRequest(RequestBody):
    training: Literal["auto", "lambda", "spark"] = "auto"


class ModelRefreshAccepted(ResponseBody):
    status: Literal["started"] = "started"
    invocation_id: str
    hold_seconds: int
    request_id: str


class MinuteCount(ResponseBody):
    minute: datetime
    events: int


class FailureQueueDepth(ResponseBody):
    waiting: int
    in_flight: int


class IngestStatsResponse(ResponseBody):
    events_applied: int
    events_last_minute: int
    per_minute: list[MinuteCount]
    failure_queue: FailureQueueDepth | None
    request_id: str


SCHEMAS: dict[str, type[BaseModel]] = {
    model.__name__: model
    for model in (
        AssignmentRequest,
        AssignmentResponse,
        CatalogImportAccepted,
        CatalogImportItem,
        CatalogImportRequest,
        CatalogImportStatus,
        ContributingFactor,
        EventResult,
        ExperimentListResponse,
        ExperimentRequest,
        ExperimentResponse,
        ExperimentSummary,
        Explanation,
        ExplanationResponse,
        FailureQueueDepth,
        FeedbackRequest,
        FeedbackResponse,
        FeedbackUpdate,
        HistoryEvent,
        ImportRowError,
        IndexSummary,
        IngestStatsResponse,
        InteractionAccepted,
        InteractionBatchAccepted,
        InteractionBatchRequest,
        InteractionImportCreated,
        InteractionImportRequest,
        InteractionImportStatus,
        InteractionRequest,
        ItemFeaturesRequest,
        ItemFeaturesResponse,
        ItemMetadata,
        ItemRequest,
        ItemResponse,
        MinuteCount,
        ModelRefreshAccepted,
        ModelRefreshRequest,
        ModelResponse,
        ModelVersionEntry,
        PreferencesRequest,
        PreferencesResponse,
        RecommendationsResponse,
        RecommendedItem,
        SimilarItem,
        SimilarItemsResponse,
        SourceItem,
        UserHistoryResponse,
        UserRequest,
        UserResponse,
        Variant,
        VariantSummary,
    )
}
