"""Every operation of the API as the client calls it: one entry per path and method of
`openapi.json`, named after the client method that sends it (the drift test compares the two)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from pydantic import BaseModel

from recsys_client import models as m

EVENT_ID_HEADER: Final = "X-Event-ID"
IDEMPOTENCY_HEADER: Final = "Idempotency-Key"
# Headers the document lists that the client does not send: the spec's alias of Idempotency-Key.
ALIAS_HEADERS = frozenset({"X-Idempotency-Key"})
# The largest body the API takes (its 413 "Request body over the limit (1 MiB)"), and a batch's
# most events (InteractionBatchRequest.events maxItems).
MAX_BODY_BYTES = 1024 * 1024
MAX_BATCH_EVENTS = 500


@dataclass(frozen=True)
class Endpoint:
    name: str  # the client method
    method: str
    path: str  # with {placeholders}
    status: int  # the success status
    response: type[BaseModel] | None
    request: type[BaseModel] | None = None
    query: tuple[str, ...] = ()  # query parameters, named as the method's arguments
    headers: dict[str, str] = field(default_factory=dict)  # method argument -> header
    # The header that makes a retry of this write safe, filled in per logical call when absent.
    key_header: str | None = None


def _endpoints(*entries: Endpoint) -> dict[str, Endpoint]:
    return {entry.name: entry for entry in entries}


_SESSION = {"session_id": "x-session-id"}
_KEY = {"idempotency_key": IDEMPOTENCY_HEADER}

ENDPOINTS = _endpoints(
    Endpoint(
        "get_recommendations",
        "GET",
        "/v1/recommendations",
        200,
        m.RecommendationsResponse,
        query=("user_id", "context", "limit", "category", "exclude"),
        headers={**_SESSION, "device_type": "x-device-type"},
    ),
    Endpoint(
        "explain_recommendation",
        "GET",
        "/v1/recommendations/{item_id}/explain",
        200,
        m.ExplanationResponse,
        query=("user_id",),
    ),
    Endpoint(
        "get_similar_items",
        "GET",
        "/v1/items/{item_id}/similar",
        200,
        m.SimilarItemsResponse,
        query=("limit",),
    ),
    Endpoint(
        "record_interaction",
        "POST",
        "/v1/interactions",
        202,
        m.InteractionAccepted,
        m.InteractionRequest,
        headers={"event_id": EVENT_ID_HEADER, **_SESSION},
        key_header=EVENT_ID_HEADER,
    ),
    Endpoint(
        "record_interactions_batch",
        "POST",
        "/v1/interactions/batch",
        202,
        m.InteractionBatchAccepted,
        m.InteractionBatchRequest,
    ),
    Endpoint(
        "start_interaction_import",
        "POST",
        "/v1/interactions/imports",
        202,
        m.InteractionImportCreated,
        m.InteractionImportRequest,
    ),
    Endpoint(
        "get_interaction_import",
        "GET",
        "/v1/interactions/imports/{import_id}",
        200,
        m.InteractionImportStatus,
    ),
    Endpoint(
        "create_feedback",
        "POST",
        "/v1/feedback",
        201,
        m.FeedbackResponse,
        m.FeedbackRequest,
        headers=_KEY,
        key_header=IDEMPOTENCY_HEADER,
    ),
    Endpoint(
        "update_feedback",
        "PUT",
        "/v1/feedback/{feedback_id}",
        200,
        m.FeedbackResponse,
        m.FeedbackUpdate,
        headers=_KEY,
        key_header=IDEMPOTENCY_HEADER,
    ),
    Endpoint("delete_feedback", "DELETE", "/v1/feedback/{feedback_id}", 204, None),
    Endpoint("get_user", "GET", "/v1/users/{user_id}", 200, m.UserResponse),
    Endpoint(
        "get_user_history", "GET", "/v1/users/{user_id}/history", 200, m.UserHistoryResponse, query=("limit",)
    ),
    Endpoint("get_preferences", "GET", "/v1/users/{user_id}/preferences", 200, m.PreferencesResponse),
    Endpoint("put_user", "PUT", "/v1/users/{user_id}", 200, m.UserResponse, m.UserRequest),
    Endpoint(
        "put_preferences",
        "PUT",
        "/v1/users/{user_id}/preferences",
        200,
        m.PreferencesResponse,
        m.PreferencesRequest,
        headers=_KEY,
        key_header=IDEMPOTENCY_HEADER,
    ),
    Endpoint("get_item", "GET", "/v1/items/{item_id}", 200, m.ItemResponse),
    Endpoint("put_item", "PUT", "/v1/items/{item_id}", 200, m.ItemResponse, m.ItemRequest),
    Endpoint(
        "put_item_features",
        "PUT",
        "/v1/items/{item_id}/features",
        200,
        m.ItemFeaturesResponse,
        m.ItemFeaturesRequest,
        headers=_KEY,
        key_header=IDEMPOTENCY_HEADER,
    ),
    Endpoint(
        "start_catalog_import",
        "POST",
        "/v1/catalog/imports",
        202,
        m.CatalogImportAccepted,
        m.CatalogImportRequest,
    ),
    Endpoint("get_catalog_import", "GET", "/v1/catalog/imports/{import_id}", 200, m.CatalogImportStatus),
    Endpoint(
        "put_experiment",
        "PUT",
        "/v1/experiments/{experiment_id}",
        200,
        m.ExperimentResponse,
        m.ExperimentRequest,
    ),
    Endpoint("list_experiments", "GET", "/v1/experiments", 200, m.ExperimentListResponse),
    Endpoint("get_model", "GET", "/v1/model", 200, m.ModelResponse, query=("versions",)),
    Endpoint(
        "refresh_model", "POST", "/v1/model/refresh", 202, m.ModelRefreshAccepted, m.ModelRefreshRequest
    ),
    Endpoint("get_ingest_stats", "GET", "/v1/ingest", 200, m.IngestStatsResponse, query=("minutes",)),
    Endpoint(
        "assign_variant",
        "POST",
        "/v1/experiments/{experiment_id}/assignments",
        200,
        m.AssignmentResponse,
        m.AssignmentRequest,
    ),
)
