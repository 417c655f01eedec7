"""RecsysClient: one method per operation of the Recommendation API."""

from __future__ import annotations

import http.client
import json
import os
import re
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote, urlencode, urlsplit
from uuid import UUID

from pydantic import BaseModel, ValidationError

from recsys_client import __version__
from recsys_client import models as m
from recsys_client.batch import BatchSummary, body_of, encode_event, send_all
from recsys_client.endpoints import ENDPOINTS, MAX_BATCH_EVENTS, MAX_BODY_BYTES, Endpoint
from recsys_client.errors import CONNECTION_ERROR, TIMEOUT, UNEXPECTED_RESPONSE, RecsysError, error_code
from recsys_client.retry import RetryPolicy, parse_retry_after
from recsys_client.transport import Connection, RawResponse

DEFAULT_BASE_URL = "http://127.0.0.1:3000"
Model = TypeVar("Model", bound=BaseModel)
Query = Mapping[str, str | int | float | Sequence[str] | None]


def _body(model: type[Model], **fields: Any) -> Model:
    """A request body of the arguments the caller set (None: left to the API's default); one
    that cannot be such a body is refused as the API would refuse it, INVALID_INPUT."""
    try:
        return model.model_validate({name: value for name, value in fields.items() if value is not None})
    except ValidationError as exc:
        first = exc.errors()[0]
        raise RecsysError(
            "INVALID_INPUT",
            "Request validation failed",
            details={"field": ".".join(str(part) for part in first["loc"]) or "body", "reason": first["msg"]},
        ) from exc


class RecsysClient:
    """A client of one API origin with one key, on one kept-alive connection.

    Every method sends one logical call: retried on 429, 503 and 409 CONFLICT (honouring
    Retry-After) and when no answer came, with the same X-Event-ID or Idempotency-Key on every
    attempt (generated when not given), so a retry never doubles an effect. Anything else that
    is not a success raises RecsysError. Not for parallel calls from many threads: they take
    turns on the one connection; give each thread a client of its own.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        keep_alive: bool = True,
        user_agent: str | None = None,
    ) -> None:
        self.base_url = base_url
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        self._connection = Connection(base_url, timeout, keep_alive)
        self._headers = {
            "Accept": "application/json",
            "User-Agent": user_agent or f"recsys-client/{__version__}",
        }
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"

    @classmethod
    def from_env(cls, **options: Any) -> RecsysClient:
        """A client from RECSYS_API_URL (default http://127.0.0.1:3000) and RECSYS_API_KEY."""
        return cls(
            os.environ.get("RECSYS_API_URL", DEFAULT_BASE_URL), os.environ.get("RECSYS_API_KEY"), **options
        )

    def close(self) -> None:
        self._connection.close()

    def __enter__(self) -> RecsysClient:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    # -- the raw exchange (what benchmarks time) ----------------------------------------------
    def send(
        self,
        method: str,
        path: str,
        *,
        query: Query | None = None,
        json_body: Any = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
    ) -> RawResponse:
        """Send a request to `path` (e.g. "/v1/items/movie_1") with the retry policy, and return
        the last answer whatever its status, with its headers and timing. Raises RecsysError only
        when no answer came (CONNECTION_ERROR, TIMEOUT) after the retries. Keys for retry-safe
        writes are the caller's to put in `headers` here; the typed methods add them."""
        target = path
        if query:
            pairs = {name: value for name, value in query.items() if value is not None}
            target += ("?" + urlencode(pairs, doseq=True)) if pairs else ""
        sent = {**self._headers, **(headers or {})}
        if json_body is not None:
            body = json.dumps(json_body, separators=(",", ":"), ensure_ascii=False).encode()
        if body is not None:
            sent.setdefault("Content-Type", "application/json")
        try:
            return exchange_with_retries(self._connection, retry or self.retry, method, target, body, sent)
        except RecsysError as error:
            error.path = path
            raise

    def _call(
        self,
        name: str,
        path_params: Mapping[str, str | UUID] | None = None,
        *,
        query: Query | None = None,
        headers: Mapping[str, str | None] | None = None,
        body: BaseModel | None = None,
        raw_body: bytes | None = None,
    ) -> RawResponse:
        endpoint: Endpoint = ENDPOINTS[name]
        path = endpoint.path.format(
            **{key: quote(str(value), safe=":@") for key, value in (path_params or {}).items()}
        )
        sent = {endpoint.headers.get(arg, arg): value for arg, value in (headers or {}).items() if value}
        if endpoint.key_header and not any(h.lower() == endpoint.key_header.lower() for h in sent):
            sent[endpoint.key_header] = str(uuid.uuid4())  # one per logical call, kept across retries
        payload = body.model_dump(mode="json", exclude_unset=True) if body is not None else None
        raw = self.send(endpoint.method, path, query=query, json_body=payload, body=raw_body, headers=sent)
        if not 200 <= raw.status < 300:
            raise RecsysError.from_response(
                raw.status,
                raw.body,
                request_id=raw.request_id,
                retry_after=parse_retry_after(raw.header("Retry-After")),
                attempts=raw.attempts,
                method=endpoint.method,
                path=path,
            )
        return raw

    def _parse(self, raw: RawResponse, model: type[Model]) -> Model:
        try:
            return model.model_validate_json(raw.body)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "body"
            raise RecsysError(
                UNEXPECTED_RESPONSE,
                f"the answer is not a {model.__name__}: {where}: {first['msg']}",
                status=raw.status,
                request_id=raw.request_id,
                attempts=raw.attempts,
            ) from exc

    # -- recommendations -----------------------------------------------------------------------
    def get_recommendations(
        self,
        user_id: str,
        *,
        context: str | None = None,
        limit: int | None = None,
        category: str | None = None,
        exclude: Sequence[str] | None = None,
        session_id: str | None = None,
        device_type: str | None = None,
    ) -> m.RecommendationsResponse:
        """GET /v1/recommendations: the user's personalised list (context defaults to homepage,
        limit to 20; category "all" or None for every category)."""
        raw = self._call(
            "get_recommendations",
            query={
                "user_id": user_id,
                "context": context,
                "limit": limit,
                "category": category,
                "exclude": list(exclude) if exclude else None,
            },
            headers={"session_id": session_id, "device_type": device_type},
        )
        return self._parse(raw, m.RecommendationsResponse)

    def explain_recommendation(self, item_id: str, user_id: str) -> m.ExplanationResponse:
        """GET /v1/recommendations/{item_id}/explain: why the item is (or is not) recommended."""
        raw = self._call("explain_recommendation", {"item_id": item_id}, query={"user_id": user_id})
        return self._parse(raw, m.ExplanationResponse)

    def get_similar_items(self, item_id: str, *, limit: int | None = None) -> m.SimilarItemsResponse:
        """GET /v1/items/{item_id}/similar (limit defaults to 10)."""
        raw = self._call("get_similar_items", {"item_id": item_id}, query={"limit": limit})
        return self._parse(raw, m.SimilarItemsResponse)

    # -- interactions --------------------------------------------------------------------------
    def record_interaction(
        self,
        user_id: str,
        item_id: str,
        action: m.Action,
        *,
        context: Mapping[str, m.ContextValue] | None = None,
        timestamp: datetime | None = None,
        event_id: str | None = None,
        session_id: str | None = None,
    ) -> m.InteractionAccepted:
        """POST /v1/interactions, under `event_id` (X-Event-ID; a new UUID when None), which
        every retry repeats: the API records it once, and answers `duplicate=True` to a repeat."""
        body = _body(
            m.InteractionRequest,
            user_id=user_id,
            item_id=item_id,
            action=action,
            context=context,
            timestamp=timestamp,
        )
        raw = self._call(
            "record_interaction", headers={"event_id": event_id, "session_id": session_id}, body=body
        )
        return self._parse(raw, m.InteractionAccepted)

    def record_interactions_batch(
        self, events: Sequence[m.InteractionEvent | Mapping[str, Any]]
    ) -> m.InteractionBatchAccepted:
        """POST /v1/interactions/batch: one request of 1 to 500 events, a result per event. Events
        without an event_id get one here, so that a retry of the request doubles nothing. For
        any number of events, and the resending of failed ones, use `record_interactions`."""
        return self._post_batch(body_of([encode_event(index, event) for index, event in enumerate(events)]))

    def _post_batch(self, body: bytes) -> m.InteractionBatchAccepted:
        return self._parse(self._call("record_interactions_batch", raw_body=body), m.InteractionBatchAccepted)

    def record_interactions(
        self,
        events: Iterable[m.InteractionEvent | Mapping[str, Any]],
        *,
        resends: int = 3,
        max_events: int = MAX_BATCH_EVENTS,
        max_bytes: int = MAX_BODY_BYTES,
    ) -> BatchSummary:
        """Any number of events (read lazily from any iterable) in batches of at most 500 events
        and 1 MiB; each event without an event_id gets one, kept when it is sent again. Events a
        response reports as `failed` are sent again (up to `resends` rounds, with backoff);
        `rejected` ones are not. Returns the counts, and each rejected or still failed event
        with its error and its position in `events`. Pass your own event ids to make running
        this again after a crash safe."""
        return send_all(
            self._post_batch, events, self.retry, resends=resends, max_events=max_events, max_bytes=max_bytes
        )

    def start_interaction_import(self, format: str = "csv") -> m.InteractionImportCreated:
        """POST /v1/interactions/imports: where to PUT a history file (csv or jsonl)."""
        raw = self._call("start_interaction_import", body=_body(m.InteractionImportRequest, format=format))
        return self._parse(raw, m.InteractionImportCreated)

    def get_interaction_import(self, import_id: str) -> m.InteractionImportStatus:
        """GET /v1/interactions/imports/{import_id}: the import's progress and first errors."""
        raw = self._call("get_interaction_import", {"import_id": import_id})
        return self._parse(raw, m.InteractionImportStatus)

    def upload_interaction_file(self, upload_url: str, data: bytes) -> None:
        """PUT a history file to an import's presigned upload URL (S3, not the API: no key is
        sent); retried on S3's 500 and 503, as S3 asks."""
        parts = urlsplit(upload_url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        storage = Connection(f"{parts.scheme}://{parts.netloc}", self.timeout, keep_alive=False)
        policy = replace(self.retry, statuses=frozenset({500, 503}), conflict_codes=frozenset())
        raw = exchange_with_retries(storage, policy, "PUT", target, data, {"Content-Length": str(len(data))})
        if not 200 <= raw.status < 300:
            raise _storage_error(raw)

    def import_interactions(self, data: bytes, format: str = "csv") -> m.InteractionImportCreated:
        """Start an interaction import and upload its file: follow it with
        `get_interaction_import` or `wait_for_interaction_import`."""
        created = self.start_interaction_import(format)
        self.upload_interaction_file(created.upload_url, data)
        return created

    def wait_for_interaction_import(
        self,
        import_id: str,
        *,
        until: Iterable[str] = ("completed", "failed"),
        timeout: float = 600.0,
        interval: float = 0.2,
        on_status: Callable[[m.InteractionImportStatus], None] | None = None,
    ) -> m.InteractionImportStatus:
        """Poll the import every `interval` seconds until its status is one of `until` (or
        `timeout` seconds passed); `on_status` sees each status read (e.g. to show `rows_read`)."""
        wanted, deadline = set(until), time.monotonic() + timeout
        while True:
            status = self.get_interaction_import(import_id)
            if on_status is not None:
                on_status(status)
            if status.status in wanted or time.monotonic() >= deadline:
                return status
            time.sleep(interval)

    # -- feedback ------------------------------------------------------------------------------
    def create_feedback(
        self,
        user_id: str,
        item_id: str,
        feedback_type: m.FeedbackType,
        *,
        reason: str | None = None,
        idempotency_key: str | None = None,
    ) -> m.FeedbackResponse:
        """POST /v1/feedback under `idempotency_key` (a new UUID when None): a repeat with the
        same key returns the first answer; a repeat with another body is 409
        IDEMPOTENCY_KEY_REUSED."""
        body = _body(
            m.FeedbackRequest, user_id=user_id, item_id=item_id, feedback_type=feedback_type, reason=reason
        )
        raw = self._call("create_feedback", headers={"idempotency_key": idempotency_key}, body=body)
        return self._parse(raw, m.FeedbackResponse)

    def update_feedback(
        self,
        feedback_id: str | UUID,
        feedback_type: m.FeedbackType,
        *,
        reason: str | None = None,
        version: int | None = None,
        idempotency_key: str | None = None,
    ) -> m.FeedbackResponse:
        """PUT /v1/feedback/{feedback_id}; with `version` (the one you read) a change made since
        is refused with 409 VERSION_CONFLICT."""
        body = _body(m.FeedbackUpdate, feedback_type=feedback_type, reason=reason, version=version)
        raw = self._call(
            "update_feedback",
            {"feedback_id": feedback_id},
            headers={"idempotency_key": idempotency_key},
            body=body,
        )
        return self._parse(raw, m.FeedbackResponse)

    def delete_feedback(self, feedback_id: str | UUID) -> None:
        """DELETE /v1/feedback/{feedback_id} (repeating it is harmless)."""
        self._call("delete_feedback", {"feedback_id": feedback_id})

    # -- users and preferences -----------------------------------------------------------------
    def get_user(self, user_id: str) -> m.UserResponse:
        """GET /v1/users/{user_id}."""
        return self._parse(self._call("get_user", {"user_id": user_id}), m.UserResponse)

    def get_user_history(self, user_id: str, *, limit: int | None = None) -> m.UserHistoryResponse:
        """GET /v1/users/{user_id}/history: the user's newest events, newest first."""
        raw = self._call("get_user_history", {"user_id": user_id}, query={"limit": limit})
        return self._parse(raw, m.UserHistoryResponse)

    def get_preferences(self, user_id: str) -> m.PreferencesResponse:
        """GET /v1/users/{user_id}/preferences: the current version (404: none stored)."""
        return self._parse(self._call("get_preferences", {"user_id": user_id}), m.PreferencesResponse)

    def put_user(
        self,
        user_id: str,
        *,
        preferred_categories: Sequence[str] | None = None,
        language: str | None = None,
        country: str | None = None,
    ) -> m.UserResponse:
        """PUT /v1/users/{user_id}: create or replace the profile (what is omitted is cleared)."""
        body = _body(
            m.UserRequest,
            preferred_categories=preferred_categories,
            language=language,
            country=country,
        )
        return self._parse(self._call("put_user", {"user_id": user_id}, body=body), m.UserResponse)

    def put_preferences(
        self,
        user_id: str,
        *,
        favorite_categories: Sequence[str] | None = None,
        excluded_items: Sequence[str] | None = None,
        language: str | None = None,
        version: int | None = None,
        idempotency_key: str | None = None,
    ) -> m.PreferencesResponse:
        """PUT /v1/users/{user_id}/preferences: a new version of the explicit preferences (a
        `version` that is not the current one is 409 VERSION_CONFLICT)."""
        body = _body(
            m.PreferencesRequest,
            favorite_categories=favorite_categories,
            excluded_items=excluded_items,
            language=language,
            version=version,
        )
        raw = self._call(
            "put_preferences", {"user_id": user_id}, headers={"idempotency_key": idempotency_key}, body=body
        )
        return self._parse(raw, m.PreferencesResponse)

    # -- catalog and item features -------------------------------------------------------------
    def get_item(self, item_id: str) -> m.ItemResponse:
        """GET /v1/items/{item_id}."""
        return self._parse(self._call("get_item", {"item_id": item_id}), m.ItemResponse)

    def put_item(
        self,
        item_id: str,
        title: str,
        *,
        description: str | None = None,
        category: str | None = None,
        subcategory: str | None = None,
        tags: Sequence[str] | None = None,
        content_features: Mapping[str, Any] | None = None,
        thumbnail_url: str | None = None,
        avg_rating: float | None = None,
        is_active: bool | None = None,
    ) -> m.ItemResponse:
        """PUT /v1/items/{item_id}: create or replace an item (admin scope)."""
        body = _body(
            m.ItemRequest,
            title=title,
            description=description,
            category=category,
            subcategory=subcategory,
            tags=tags,
            content_features=content_features,
            thumbnail_url=thumbnail_url,
            avg_rating=avg_rating,
            is_active=is_active,
        )
        return self._parse(self._call("put_item", {"item_id": item_id}, body=body), m.ItemResponse)

    def put_item_features(
        self,
        item_id: str,
        *,
        content_features: Mapping[str, Any] | None = None,
        popularity_features: Mapping[str, Any] | None = None,
        engagement_features: Mapping[str, Any] | None = None,
        version: int | None = None,
        idempotency_key: str | None = None,
    ) -> m.ItemFeaturesResponse:
        """PUT /v1/items/{item_id}/features: a new version of the item's features (admin scope)."""
        body = _body(
            m.ItemFeaturesRequest,
            content_features=content_features,
            popularity_features=popularity_features,
            engagement_features=engagement_features,
            version=version,
        )
        raw = self._call(
            "put_item_features", {"item_id": item_id}, headers={"idempotency_key": idempotency_key}, body=body
        )
        return self._parse(raw, m.ItemFeaturesResponse)

    def start_catalog_import(
        self, items: Iterable[m.CatalogImportItem | Mapping[str, Any]]
    ) -> m.CatalogImportAccepted:
        """POST /v1/catalog/imports: up to 10,000 items (within 1 MiB) imported asynchronously."""
        body = _body(m.CatalogImportRequest, items=list(items))
        return self._parse(self._call("start_catalog_import", body=body), m.CatalogImportAccepted)

    def get_catalog_import(self, import_id: str) -> m.CatalogImportStatus:
        """GET /v1/catalog/imports/{import_id}."""
        return self._parse(self._call("get_catalog_import", {"import_id": import_id}), m.CatalogImportStatus)

    # -- experiments ---------------------------------------------------------------------------
    def put_experiment(
        self,
        experiment_id: str,
        variants: Sequence[m.Variant | Mapping[str, Any]],
        *,
        is_active: bool | None = None,
    ) -> m.ExperimentResponse:
        """PUT /v1/experiments/{experiment_id}: its variants, weights and blends (admin scope)."""
        body = _body(
            m.ExperimentRequest,
            variants=variants,
            is_active=is_active,
        )
        raw = self._call("put_experiment", {"experiment_id": experiment_id}, body=body)
        return self._parse(raw, m.ExperimentResponse)

    def list_experiments(self) -> m.ExperimentListResponse:
        """GET /v1/experiments: each experiment's variants, traffic shares and assignments."""
        return self._parse(self._call("list_experiments", {}), m.ExperimentListResponse)

    # -- the model and ingest (what the console shows) ------------------------------------------
    def get_model(self, *, versions: int | None = None) -> m.ModelResponse:
        """GET /v1/model: the served version's metadata and the versions in S3."""
        return self._parse(self._call("get_model", {}, query={"versions": versions}), m.ModelResponse)

    def refresh_model(self, *, training: str | None = None) -> m.ModelRefreshAccepted:
        """POST /v1/model/refresh: start a refresh (admin scope; 409 within the hold)."""
        raw = self._call("refresh_model", {}, body=_body(m.ModelRefreshRequest, training=training))
        return self._parse(raw, m.ModelRefreshAccepted)

    def get_ingest_stats(self, *, minutes: int | None = None) -> m.IngestStatsResponse:
        """GET /v1/ingest: events applied (ever, per minute) and the failure queue's depth (admin)."""
        raw = self._call("get_ingest_stats", {}, query={"minutes": minutes})
        return self._parse(raw, m.IngestStatsResponse)

    def assign_variant(self, experiment_id: str, user_id: str) -> m.AssignmentResponse:
        """POST /v1/experiments/{experiment_id}/assignments: the variant the user sees."""
        raw = self._call(
            "assign_variant",
            {"experiment_id": experiment_id},
            body=_body(m.AssignmentRequest, user_id=user_id),
        )
        return self._parse(raw, m.AssignmentResponse)


def exchange_with_retries(
    connection: Connection,
    policy: RetryPolicy,
    method: str,
    target: str,
    body: bytes | None,
    headers: Mapping[str, str],
) -> RawResponse:
    """Send until an answer is final for `policy` or its attempts or time run out; return the
    last answer (any status), or raise RecsysError when the last attempt got none."""
    started = policy.clock()
    attempt = 0
    while True:
        attempt += 1
        failure: RecsysError | None = None
        cause: BaseException | None = None
        retry_after: float | None = None
        try:
            raw = connection.exchange(method, target, body, dict(headers))
        except TimeoutError as exc:
            failure, cause = RecsysError(TIMEOUT, f"no answer within {connection.timeout} s"), exc
        except (OSError, http.client.HTTPException) as exc:
            failure, cause = RecsysError(CONNECTION_ERROR, f"{type(exc).__name__}: {exc}"), exc
        else:
            code = error_code(raw.body) if raw.status == 409 else None
            if not policy.retryable(raw.status, code):
                return replace(raw, attempts=attempt, total_elapsed=policy.clock() - started)
            retry_after = parse_retry_after(raw.header("Retry-After"))
        wait = policy.delay(attempt, retry_after)
        if (
            attempt >= policy.max_attempts
            or (failure is not None and not policy.retry_transport_errors)
            or policy.clock() - started + wait > policy.max_elapsed
        ):
            if failure is not None:
                failure.attempts, failure.method, failure.path = attempt, method, target
                raise failure from cause
            return replace(raw, attempts=attempt, total_elapsed=policy.clock() - started)
        policy.sleep(wait)


def _storage_error(raw: RawResponse) -> RecsysError:
    """S3's XML error (<Code>, <Message>, <RequestId>) as a RecsysError."""
    text = raw.body.decode("utf-8", "replace")

    def tag(name: str) -> str | None:
        found = re.search(rf"<{name}>(.*?)</{name}>", text, re.S)
        return found.group(1).strip() if found else None

    return RecsysError(
        tag("Code") or UNEXPECTED_RESPONSE,
        tag("Message") or f"upload answered HTTP {raw.status}",
        status=raw.status,
        request_id=tag("RequestId"),
        attempts=raw.attempts,
        method="PUT",
        path="(upload URL)",
    )
