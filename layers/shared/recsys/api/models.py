"""Request and response bodies of the public API (they make the OpenAPI document)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from recsys.domain import ACTION_WEIGHTS

# Identifiers fit the catalog's VARCHAR(50) and stay printable and URL-safe.
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,49}$"
Identifier = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
# Ids that travel in headers (X-Event-ID, Idempotency-Key, X-Session-Id): the same characters, longer.
HEADER_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,254}$"
# The largest body any endpoint accepts (a catalog import of 1,000 items fits); larger is 413.
MAX_BODY_BYTES = 1024 * 1024
ContextKey = Annotated[str, StringConstraints(min_length=1, max_length=50)]
ContextValue = Annotated[str, StringConstraints(max_length=500)] | int | float | bool
Category = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Action = Literal["impression", "click", "add_to_cart", "purchase", "watch", "like", "dislike"]
FeedbackType = Literal["not_interested", "like", "dislike", "report"]
assert set(Action.__args__) == set(ACTION_WEIGHTS)  # type: ignore[attr-defined]


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("timestamp must include a timezone, e.g. 2024-01-20T15:30:00Z")
    return value


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- recommendations -----------------------------------------------------------------------
class ItemMetadata(BaseModel):
    title: str
    category: str | None = None
    thumbnail_url: str | None = None
    rating: float | None = None


class RecommendedItem(BaseModel):
    item_id: str
    score: float
    rank: int
    metadata: ItemMetadata
    explanation: dict[str, Any]


class RecommendationsResponse(BaseModel):
    recommendations: list[RecommendedItem]
    request_id: str
    model_version: str
    generated_at: datetime = Field(
        description="When the list was ranked: earlier than the request when a kept ranking answered it"
    )


class SourceItem(BaseModel):
    item_id: str
    title: str


class SimilarItem(BaseModel):
    item_id: str
    similarity_score: float
    metadata: ItemMetadata
    similarity_reason: str


class SimilarItemsResponse(BaseModel):
    source_item: SourceItem
    similar_items: list[SimilarItem]
    request_id: str
    model_version: str
    generated_at: datetime


class ContributingFactor(BaseModel):
    factor: str
    weight: float = Field(description="This factor's share of the score; the shares sum to 1")
    contribution: float | None = Field(default=None, description="The factor's term of the score itself")
    description: str


class Explanation(BaseModel):
    primary_reason: str
    description: str | None = Field(default=None, description="Why the item would not be shown, if so")
    would_be_recommended: bool | None = None
    score: float | None = Field(default=None, description="The model's score: the sum of the contributions")
    contributing_factors: list[ContributingFactor]
    similar_items_watched: list[str]
    predicted_rating: float | None = Field(
        description="The rating users gave, in training, to items scored alike (isotonic calibration); "
        "null when the log holds no ratings"
    )


class ExplanationResponse(BaseModel):
    item_id: str
    user_id: str
    explanation: Explanation
    request_id: str
    model_version: str
    generated_at: datetime


# -- interactions --------------------------------------------------------------------------
class InteractionRequest(Strict):
    user_id: Identifier
    item_id: Identifier
    action: Action
    context: dict[ContextKey, ContextValue] = Field(
        default_factory=dict,
        max_length=20,
        description="At most 20 entries; keys up to 50 characters, text values up to 500",
    )
    timestamp: Annotated[datetime, AfterValidator(_aware)] | None = None


MAX_BATCH_EVENTS = 500
EventId = Annotated[str, StringConstraints(pattern=HEADER_ID_PATTERN)]


class BatchedInteraction(InteractionRequest):
    """One event of a batch: an interaction and its own event id (the spec's sha256 fallback of
    user, item, action and timestamp when absent)."""

    event_id: EventId | None = None


class InteractionBatchRequest(Strict):
    # Events stay raw here so that one bad event is refused alone, not the whole request.
    events: list[dict[str, Any]] = Field(
        min_length=1,
        max_length=MAX_BATCH_EVENTS,
        description=f"1 to {MAX_BATCH_EVENTS} interactions, each with its own event_id",
    )


class EventResult(BaseModel):
    index: int
    event_id: str | None
    status: Literal["accepted", "duplicate", "rejected", "failed"]
    error: dict[str, Any] | None = Field(
        default=None,
        description="For a rejected or failed event: the error envelope's code, message and details",
    )


class InteractionBatchAccepted(BaseModel):
    accepted: int
    duplicates: int
    rejected: int
    failed: int = Field(description="Events that could not be published now: send them again")
    results: list[EventResult]
    request_id: str


class InteractionImportRequest(Strict):
    format: Literal["csv", "jsonl"] = Field(
        default="csv",
        description="csv: user_id,item_id,action,timestamp[,context] (a header line is optional; context is a"
        " JSON object); jsonl: one JSON object per line with those fields (and optionally event_id)."
        " timestamp: ISO 8601 with a zone, or epoch seconds",
    )


class InteractionImportCreated(BaseModel):
    import_id: str
    status: Literal["awaiting_upload"] = "awaiting_upload"
    upload_url: str = Field(
        description="PUT the file here (a presigned S3 URL); processing starts when it lands"
    )
    upload_method: Literal["PUT"] = "PUT"
    expires_in: int = Field(description="Seconds the upload URL stays valid")
    request_id: str


class ImportRowError(BaseModel):
    line: int = Field(description="Line number in the file, from 1")
    code: str
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


class InteractionImportStatus(BaseModel):
    import_id: str
    status: Literal["awaiting_upload", "processing", "applying", "completed", "failed"] = Field(
        description="applying: every row is read and accepted onto the stream; completed: every accepted"
        " row is stored (interaction log, real-time features, counters)"
    )
    format: str
    rows_read: int
    accepted: int
    duplicates: int = Field(
        description="Rows seen before: earlier in the file, or accepted in the last 24 hours"
    )
    rejected: int
    errors: list[ImportRowError] = Field(description="The first rejected rows")
    failure: str | None = None
    created_at: datetime
    read_at: datetime | None
    completed_at: datetime | None
    request_id: str


class InteractionAccepted(BaseModel):
    status: Literal["accepted"] = "accepted"
    event_id: str
    duplicate: bool = False
    request_id: str


# -- feedback ------------------------------------------------------------------------------
class FeedbackRequest(Strict):
    user_id: Identifier
    item_id: Identifier
    feedback_type: FeedbackType
    reason: Annotated[str, StringConstraints(max_length=500)] | None = None


class FeedbackUpdate(Strict):
    feedback_type: FeedbackType
    reason: Annotated[str, StringConstraints(max_length=500)] | None = None
    version: int | None = Field(default=None, ge=1, description="The version you read; refused if it changed")


class FeedbackResponse(BaseModel):
    status: Literal["recorded", "updated"]
    action_taken: str
    feedback_id: UUID
    user_id: str
    item_id: str
    feedback_type: str
    reason: str | None
    version: int
    request_id: str


# -- users, preferences, items, features ---------------------------------------------------
class PreferencesRequest(Strict):
    favorite_categories: list[Category] = Field(default_factory=list, max_length=50)
    excluded_items: list[Identifier] = Field(default_factory=list, max_length=1000)
    language: Annotated[str, StringConstraints(min_length=2, max_length=10)] | None = None
    version: int | None = Field(default=None, ge=0, description="The version you read; refused if it changed")


class PreferencesResponse(BaseModel):
    user_id: str
    version: int
    favorite_categories: list[str]
    excluded_items: list[str]
    language: str | None
    updated_at: datetime
    request_id: str


class HistoryEvent(BaseModel):
    event_id: str
    item_id: str
    title: str | None = Field(description="The item's title (null: no longer in the catalog)")
    category: str | None
    action: str
    event_time: datetime
    session_id: str | None = None


class UserHistoryResponse(BaseModel):
    user_id: str
    events: list[HistoryEvent] = Field(
        description="The user's newest events in the interaction log, newest first"
    )
    request_id: str


class UserRequest(Strict):
    preferred_categories: list[Category] = Field(default_factory=list, max_length=50)
    language: Annotated[str, StringConstraints(min_length=2, max_length=10)] | None = None
    country: Annotated[str, StringConstraints(min_length=2, max_length=3)] | None = None


class UserResponse(BaseModel):
    user_id: str
    preferred_categories: list[str]
    language: str | None
    country: str | None
    total_interactions: int
    is_new_user: bool
    created_at: datetime | None
    request_id: str


class ItemRequest(Strict):
    title: Annotated[str, StringConstraints(min_length=1, max_length=500)]
    description: str | None = Field(default=None, max_length=10000)
    category: Category | None = None
    subcategory: Category | None = None
    tags: list[Annotated[str, StringConstraints(max_length=100)]] = Field(
        default_factory=list, max_length=100
    )
    content_features: dict[str, Any] = Field(default_factory=dict)
    thumbnail_url: Annotated[str, StringConstraints(max_length=2000)] | None = None
    avg_rating: float | None = Field(default=None, ge=0, le=5)
    is_active: bool = True


class ItemResponse(BaseModel):
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
    item_id: Identifier


class CatalogImportRequest(Strict):
    items: list[CatalogImportItem] = Field(min_length=1, max_length=10000)


class CatalogImportAccepted(BaseModel):
    import_id: str
    items: int
    chunks: int
    status: Literal["queued"] = "queued"
    request_id: str


class CatalogImportStatus(BaseModel):
    import_id: str
    items: int
    imported: int
    status: Literal["queued", "completed"]
    request_id: str


class ItemFeaturesRequest(Strict):
    content_features: dict[str, Any] = Field(default_factory=dict)
    popularity_features: dict[str, Any] = Field(default_factory=dict)
    engagement_features: dict[str, Any] = Field(default_factory=dict)
    version: int | None = Field(default=None, ge=0, description="The version you read; refused if it changed")


class ItemFeaturesResponse(BaseModel):
    item_id: str
    version: int
    content_features: dict[str, Any]
    popularity_features: dict[str, Any]
    engagement_features: dict[str, Any]
    updated_at: datetime
    request_id: str


# -- experiments ---------------------------------------------------------------------------
class Variant(Strict):
    name: Annotated[str, StringConstraints(min_length=1, max_length=50)]
    weight: float = Field(gt=0, le=1000)
    blend: dict[str, float] | None = Field(
        default=None,
        max_length=20,
        description="Ranking parameters this variant overrides (e.g. recent_weight, popularity_weight); "
        "an active experiment with a blend routes GET /v1/recommendations, whose model_version then names "
        "the experiment and variant",
    )


class ExperimentRequest(Strict):
    variants: list[Variant] = Field(min_length=2, max_length=20)
    is_active: bool = True


class ExperimentResponse(BaseModel):
    experiment_id: str
    variants: list[Variant]
    is_active: bool
    request_id: str


class AssignmentRequest(Strict):
    user_id: Identifier


class AssignmentResponse(BaseModel):
    experiment_id: str
    user_id: str
    variant: str
    assigned_at: datetime
    request_id: str


class VariantSummary(BaseModel):
    name: str
    weight: float
    share: float = Field(description="The variant's share of the traffic: its weight over the sum of weights")
    blend: dict[str, float] | None = None
    assignments: int = Field(
        description="First assignments made to it (POST .../assignments); a user assigned again after "
        "their 24-hour assignment expired counts again"
    )


class ExperimentSummary(BaseModel):
    experiment_id: str
    is_active: bool
    routes_recommendations: bool = Field(
        description="Whether this is the ranking experiment GET /v1/recommendations routes users by "
        "(the newest active one with a blend)"
    )
    created_at: datetime
    variants: list[VariantSummary]


class ExperimentListResponse(BaseModel):
    experiments: list[ExperimentSummary] = Field(description="Newest first")
    request_id: str


# -- the model -----------------------------------------------------------------------------
class IndexSummary(BaseModel):
    kind: str = Field(description="flat (exact) or ivf")
    items: int
    dimensions: int
    nlist: int | None = None
    nprobe: int | None = None
    recall_at_50: float = Field(description="Recall@50 against exact search on sampled real user vectors")
    sample_queries: int


class ModelVersionEntry(BaseModel):
    model_version: str
    trained_at: datetime | None = Field(description="From the version's name")
    current: bool


class ModelResponse(BaseModel):
    model_version: str | None = Field(
        description="The version latest.json points at, which serving loads within ModelCheckSeconds; "
        "null before the first refresh (popularity-v1 answers)"
    )
    algorithm: str | None = None
    trained_at: datetime | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    blend: dict[str, Any] = Field(default_factory=dict, description="The ranking parameters it serves with")
    counts: dict[str, Any] = Field(default_factory=dict, description="What it was trained on")
    index: IndexSummary | None = None
    timings: dict[str, Any] = Field(default_factory=dict, description="Seconds of each step of its refresh")
    spark: dict[str, Any] | None = Field(
        default=None, description="The Spark run that trained it, if one did"
    )
    eval: dict[str, Any] | None = Field(
        default=None, description="Offline evaluation figures published beside it (make eval), if any"
    )
    versions: list[ModelVersionEntry] = Field(description="Versions in S3, newest first")
    request_id: str


class ModelRefreshRequest(Strict):
    training: Literal["auto", "lambda", "spark"] = Field(
        default="auto", description="Where it trains: by the log's size, or forced"
    )


class ModelRefreshAccepted(BaseModel):
    status: Literal["started"] = "started"
    invocation_id: str = Field(
        description="The refresh function's asynchronous invocation; GET /v1/model names the new version "
        "once it is published"
    )
    hold_seconds: int = Field(
        description="Another request within this time is refused (409) rather than queued"
    )
    request_id: str


# -- ingest --------------------------------------------------------------------------------
class MinuteCount(BaseModel):
    minute: datetime
    events: int


class FailureQueueDepth(BaseModel):
    waiting: int = Field(description="Records parked, ready for make replay (ApproximateNumberOfMessages)")
    in_flight: int = Field(description="Records being replayed (ApproximateNumberOfMessagesNotVisible)")


class IngestStatsResponse(BaseModel):
    events_applied: int = Field(description="Events the real-time features have applied, ever (each once)")
    events_last_minute: int = Field(description="Events applied in the last complete minute")
    per_minute: list[MinuteCount] = Field(
        description="Events applied in each minute, oldest first; the last minute is still filling"
    )
    failure_queue: FailureQueueDepth | None = Field(
        description="The interaction failure queue's depth (null: no queue configured)"
    )
    request_id: str
