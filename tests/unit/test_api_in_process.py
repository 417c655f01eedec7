"""The API's contract in-process: each endpoint's app behind Mangum, as its function serves it,
with every store swapped through `app.dependency_overrides` (no server, no socket). What the
whole local cloud proves end to end (tests/e2e/test_api.py), this proves in milliseconds."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import redis
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyItemAlreadyExistsError,
    IdempotencyItemNotFoundError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord
from fastapi import APIRouter, FastAPI
from mangum import Mangum

from localcloud.settings import ACCOUNT_ID, REGION
from recsys.api import app as api_app
from recsys.api import dependencies as deps
from recsys.api.app import create_app
from recsys.api.routes import feedback, items, recommendations
from recsys.domain import Item
from recsys.stores.api_keys import ApiKey, ApiKeyStore
from recsys.stores.feedback import Feedback, FeedbackStore
from recsys.stores.rate_limits import Budget, RateLimits
from tests.unit.fakes import FakeRecommendationCache

KEYS = {
    "rk_reader": ApiKey("reader01", "free", frozenset({"read"})),
    "rk_writer": ApiKey("writer01", "pro", frozenset({"read", "write"})),
    "rk_admin": ApiKey("admin001", "enterprise", frozenset({"read", "write", "admin"})),
}


class Keys:
    def __init__(self, fails: bool = False) -> None:
        self.fails = fails

    def create(self, tier: str, scopes: list[str], name: str | None = None) -> str:
        raise NotImplementedError("the API never creates keys")

    def find(self, secret: str) -> ApiKey | None:
        if self.fails:
            raise redis.ConnectionError("key store down")  # a store failure, as the driver raises it
        return KEYS.get(secret)


class Limits:
    """Admits `allowed` requests per subject, then refuses."""

    def __init__(self, allowed: int = 1000, fails: bool = False) -> None:
        self.allowed, self.fails = allowed, fails
        self.spent: dict[str, int] = {}

    def spend(self, subject: str, limit: int, now: float | None = None) -> Budget:
        if self.fails:
            raise redis.ConnectionError("Redis down")
        self.spent[subject] = self.spent.get(subject, 0) + 1
        used = self.spent[subject]
        return Budget(limit, max(0, self.allowed - used), 1_900_000_000, used <= self.allowed)


class Items:
    def __init__(self, *known: Item) -> None:
        self.items = {item.item_id: item for item in known}

    def get_item(self, item_id: str) -> Item | None:
        return self.items.get(item_id)


class FeedbackRecords:
    def __init__(self, while_creating: Callable[[], None] | None = None) -> None:
        self.created: list[tuple[str, str, str, str | None]] = []
        self.while_creating = while_creating

    def create(
        self,
        user_id: str,
        item_id: str,
        feedback_type: str,
        reason: str | None,
        idempotency_key: str | None,
        *,
        scope: str | None = None,
        request_hash: str | None = None,
    ) -> Feedback:
        self.created.append((user_id, item_id, feedback_type, idempotency_key))
        if self.while_creating is not None:
            self.while_creating()
        now = datetime.now(UTC)
        return Feedback(uuid.uuid4(), user_id, item_id, feedback_type, reason, 1, now, now, None)

    def update(
        self, feedback_id: uuid.UUID, feedback_type: str, reason: str | None, expected_version: int | None
    ) -> Feedback:
        raise NotImplementedError

    def delete(self, feedback_id: uuid.UUID) -> Feedback | None:
        return None


class MemoryRecords(BasePersistenceLayer):
    """Powertools' persistence interface over a dict (its Redis layer, minus Redis)."""

    def __init__(self, fails: bool = False) -> None:
        super().__init__()
        self.records: dict[str, DataRecord] = {}
        self.fails = fails

    def _get_record(self, idempotency_key: str) -> DataRecord:
        if idempotency_key not in self.records:
            raise IdempotencyItemNotFoundError
        return self.records[idempotency_key]

    def _put_record(self, data_record: DataRecord) -> None:
        if self.fails:
            raise redis.ConnectionError("Redis down")
        existing = self.records.get(data_record.idempotency_key)
        if existing is not None and not existing.is_expired:
            raise IdempotencyItemAlreadyExistsError(old_data_record=existing)
        self.records[data_record.idempotency_key] = data_record

    def _update_record(self, data_record: DataRecord) -> None:
        self.records[data_record.idempotency_key] = data_record

    def _delete_record(self, data_record: DataRecord) -> None:
        self.records.pop(data_record.idempotency_key, None)


# the fakes are the Protocols' (mypy checks these assignments)
_keys: ApiKeyStore = Keys()
_limits: RateLimits = Limits()
_feedback: FeedbackStore = FeedbackRecords()


class Context:
    function_name = "in-process"
    memory_limit_in_mb = 1024
    invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:in-process"
    aws_request_id = "in-process"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


def app_of(router: APIRouter, **overrides: Any) -> FastAPI:
    """The endpoint's app with its stores overridden: keys, limits and the kept rankings always,
    the rest given."""
    app = create_app(router)
    defaults = {
        deps.api_keys: Keys(),
        deps.rate_limits: Limits(),
        deps.recommendation_cache: FakeRecommendationCache(),
    }
    stores = defaults | {getattr(deps, name): store for name, store in overrides.items()}
    for provider, store in stores.items():
        app.dependency_overrides[deps.injected(provider)] = _returning(store)
    return app


def _returning(store: Any) -> Any:
    # no parameters: FastAPI would read a parameter of the override as one of the request
    return lambda: store


def call(
    app: FastAPI,
    method: str,
    path: str,
    key: str | None = None,
    body: Any = None,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], Any]:
    """One API Gateway proxy event through Mangum, as the function's handler receives it."""
    sent = {"Content-Type": "application/json", **(headers or {})}
    if key is not None:
        sent["Authorization"] = f"Bearer {key}"
    request_id = f"req-{uuid.uuid4().hex[:8]}"
    event = {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": sent,
        "multiValueHeaders": {k: [v] for k, v in sent.items()},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {"requestId": request_id, "stage": "test", "identity": {"sourceIp": "10.0.0.9"}},
        "body": json.dumps(body) if body is not None else None,
        "isBase64Encoded": False,
    }
    reply = Mangum(app, lifespan="off")(event, Context())  # type: ignore[arg-type]  # LambdaContext's shape
    returned = {k.lower(): v for k, v in reply["headers"].items()}
    assert returned["x-request-id"] == request_id  # the gateway's id: the one the logs carry
    return reply["statusCode"], returned, json.loads(reply["body"]) if reply["body"] else None


def envelope_of(reply: Any, headers: dict[str, str], code: str) -> dict[str, Any]:
    assert set(reply) == {"error"} and set(reply["error"]) == {"code", "message", "details", "request_id"}
    assert reply["error"]["code"] == code
    assert reply["error"]["request_id"] == headers["x-request-id"]
    assert {"x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"} <= set(headers)
    return reply["error"]  # type: ignore[no-any-return]


ITEM = Item(item_id="movie_1", title="Toy Story", category="Animation")


@pytest.fixture(autouse=True)
def _no_remembered_keys():
    """Each environment remembers keys it looked up for a minute; each test is a new one."""
    api_app._key_cache.clear()


# -- authentication and scopes ------------------------------------------------------------------
@pytest.mark.parametrize("key", [None, "rk_unknown"])
def test_a_request_without_a_known_key_is_401_in_the_envelope(key):
    status, headers, reply = call(
        app_of(items.read_router, catalog=Items(ITEM)), "GET", "/v1/items/movie_1", key
    )
    assert status == 401
    envelope_of(reply, headers, "UNAUTHORIZED")


def test_a_key_without_the_routes_scope_is_403_naming_the_scope():
    app = app_of(
        feedback.create_router, feedback_store=FeedbackRecords(), idempotency_records=MemoryRecords()
    )
    status, headers, reply = call(
        app,
        "POST",
        "/v1/feedback",
        "rk_reader",
        {"user_id": "u1", "item_id": "movie_1", "feedback_type": "like"},
    )
    assert status == 403
    assert envelope_of(reply, headers, "FORBIDDEN")["details"] == {"required_scope": "write"}


def test_the_key_store_down_is_503_never_a_500():
    app = create_app(items.read_router)
    app.dependency_overrides[deps.injected(deps.api_keys)] = lambda: Keys(fails=True)
    app.dependency_overrides[deps.injected(deps.rate_limits)] = lambda: Limits()
    status, headers, reply = call(app, "GET", "/v1/items/movie_1", "rk_reader")
    assert status == 503
    envelope_of(reply, headers, "SERVICE_UNAVAILABLE")


# -- rate limits --------------------------------------------------------------------------------
def test_past_the_budget_a_key_gets_429_with_retry_after_and_its_budget():
    limits = Limits(allowed=2)
    app = app_of(items.read_router, catalog=Items(ITEM), rate_limits=limits)
    answers = [call(app, "GET", "/v1/items/movie_1", "rk_reader") for _ in range(3)]
    assert [status for status, _, _ in answers] == [200, 200, 429]
    assert [h["x-ratelimit-remaining"] for _, h, _ in answers] == ["1", "0", "0"]
    _, headers, reply = answers[-1]
    envelope_of(reply, headers, "RATE_LIMITED")
    assert int(headers["retry-after"]) >= 1
    assert limits.spent == {"key:reader01": 3}  # metered by key, once per request


def test_without_the_rate_limiter_requests_pass_unmetered():
    app = app_of(items.read_router, catalog=Items(ITEM), rate_limits=Limits(fails=True))
    status, headers, reply = call(app, "GET", "/v1/items/movie_1", "rk_reader")
    assert status == 200 and reply["item_id"] == "movie_1"
    assert headers["x-ratelimit-remaining"] == headers["x-ratelimit-limit"] == "60"


# -- validation and not found ---------------------------------------------------------------------
def test_an_unknown_item_is_404_and_a_malformed_id_400_in_the_envelope():
    app = app_of(items.read_router, catalog=Items(ITEM))
    status, headers, reply = call(app, "GET", "/v1/items/movie_2", "rk_reader")
    assert status == 404 and envelope_of(reply, headers, "NOT_FOUND")["details"] == {"item_id": "movie_2"}
    status, headers, reply = call(app, "GET", "/v1/items/movie%20two", "rk_reader")
    assert status == 400
    assert envelope_of(reply, headers, "INVALID_INPUT")["details"]["field"] == "item_id"


def test_a_malformed_user_id_is_invalid_user_id():
    # FastAPI resolves a route's dependencies before it refuses its parameters: inert stand-ins
    app = app_of(recommendations.list_router, recommendation_stores=object(), cached_experiments=object())
    status, headers, reply = call(
        app, "GET", "/v1/recommendations", "rk_reader", query={"user_id": "bad id!"}
    )
    assert status == 400
    assert envelope_of(reply, headers, "INVALID_USER_ID")["details"]["field"] == "user_id"


# -- idempotency ------------------------------------------------------------------------------------
BODY = {"user_id": "u1", "item_id": "movie_1", "feedback_type": "like"}


def test_a_repeated_key_replays_the_first_response_and_writes_once():
    store, records, rankings = FeedbackRecords(), MemoryRecords(), FakeRecommendationCache()
    app = app_of(
        feedback.create_router,
        feedback_store=store,
        idempotency_records=records,
        recommendation_cache=rankings,
    )
    key = {"Idempotency-Key": "k-1"}
    first = call(app, "POST", "/v1/feedback", "rk_writer", BODY, key)
    again = call(app, "POST", "/v1/feedback", "rk_writer", BODY, key)
    assert first[0] == again[0] == 201
    assert again[2] == first[2]  # the first response, its feedback id and request id included
    assert store.created == [("u1", "movie_1", "like", "k-1")]
    assert rankings.generations == {"u1": "1"}  # the user's kept rankings dropped once, for the write
    status, headers, reply = call(
        app, "POST", "/v1/feedback", "rk_writer", {**BODY, "item_id": "movie_2"}, key
    )
    assert status == 409 and envelope_of(reply, headers, "IDEMPOTENCY_KEY_REUSED")
    assert len(store.created) == 1


def test_feedback_is_recorded_when_the_kept_rankings_cannot_be_dropped():
    store = FeedbackRecords()
    app = app_of(
        feedback.create_router,
        feedback_store=store,
        idempotency_records=MemoryRecords(),
        recommendation_cache=FakeRecommendationCache(down=True),
    )
    status, _, _ = call(app, "POST", "/v1/feedback", "rk_writer", BODY, {"Idempotency-Key": "k-2"})
    assert status == 201 and store.created == [("u1", "movie_1", "like", "k-2")]


def test_a_duplicate_while_the_first_runs_is_told_to_retry():
    duplicate: list[tuple[int, dict[str, str], Any]] = []

    def send_the_duplicate() -> None:  # from another client, while the first is being written
        thread = threading.Thread(
            target=lambda: duplicate.append(
                call(app, "POST", "/v1/feedback", "rk_writer", BODY, {"Idempotency-Key": "k-1"})
            )
        )
        thread.start()
        thread.join()

    store = FeedbackRecords(while_creating=send_the_duplicate)
    app = app_of(feedback.create_router, feedback_store=store, idempotency_records=MemoryRecords())
    first = call(app, "POST", "/v1/feedback", "rk_writer", BODY, {"Idempotency-Key": "k-1"})
    ((status, headers, reply),) = duplicate
    assert status == 409 and headers["retry-after"] == "1"
    assert envelope_of(reply, headers, "CONFLICT")["details"]["reason"] == "in progress"
    assert first[0] == 201 and len(store.created) == 1
    store.while_creating = None
    assert call(app, "POST", "/v1/feedback", "rk_writer", BODY, {"Idempotency-Key": "k-1"})[2] == first[2]


def test_keys_belong_to_the_api_key_that_sent_them():
    store = FeedbackRecords()
    app = app_of(feedback.create_router, feedback_store=store, idempotency_records=MemoryRecords())
    KEYS["rk_other"] = ApiKey("other001", "pro", frozenset({"write"}))
    try:
        for key in ("rk_writer", "rk_other"):
            assert call(app, "POST", "/v1/feedback", key, BODY, {"Idempotency-Key": "shared"})[0] == 201
    finally:
        del KEYS["rk_other"]
    assert len(store.created) == 2


def test_without_the_idempotency_store_the_write_still_runs_once_per_request():
    store = FeedbackRecords()
    app = app_of(feedback.create_router, feedback_store=store, idempotency_records=MemoryRecords(fails=True))
    status, _, reply = call(app, "POST", "/v1/feedback", "rk_writer", BODY, {"Idempotency-Key": "k-1"})
    assert status == 201 and reply["status"] == "recorded"
    assert store.created == [("u1", "movie_1", "like", "k-1")]  # the database's key is the backstop
