"""The public API end to end: HTTP through the local gateway into each endpoint's function,
on the test stack's real stores (tests/e2e/conftest.py starts that runtime)."""

from __future__ import annotations

import concurrent.futures
import json
import time
import uuid
from datetime import UTC, datetime

import pytest
import redis

from localcloud.connections import postgres
from localcloud.settings import ROOT, TEST_STACK
from recsys.config import Settings
from recsys.connections import cassandra_session
from recsys.stores.interaction_log import CassandraInteractionLog
from tests.e2e.conftest import Runtime, free_port, wait_for

RATE_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")


class Api:
    def __init__(self, runtime: Runtime, cloud) -> None:
        self.runtime, self.cloud = runtime, cloud
        self.admin = self.key("enterprise", "read,write,admin")
        self.writer = self.key("pro", "read,write")
        self.reader = self.key("pro", "read")

    def key(self, tier: str, scopes: str) -> str:
        return self.cloud.create_api_key(tier, scopes.split(","), "e2e", stack=TEST_STACK)

    def call(
        self,
        method: str,
        path: str,
        key: str | None = None,
        body=None,
        headers: dict | None = None,
        raw: bytes | None = None,
    ):
        sent = dict(headers or {})
        if key is not None:
            sent["Authorization"] = f"Bearer {key}"
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            sent.setdefault("Content-Type", "application/json")
        status, reply_headers, payload = self.runtime.request(method, path, body=data, headers=sent)
        parsed = json.loads(payload) if payload else None
        return status, reply_headers, parsed


@pytest.fixture(scope="module")
def api(cloud, function_env, tmp_path_factory):
    runtime = Runtime(cloud, tmp_path_factory.mktemp("api"))
    yield Api(runtime, cloud)
    runtime.stop()


@pytest.fixture(scope="module")
def catalog_items(api):
    """Three items; the first made popular through the ingest path."""
    tag = uuid.uuid4().hex[:6]
    items = {f"pop_{tag}": "Drama", f"mid_{tag}": "Drama", f"cold_{tag}": "Comedy"}
    for item_id, category in items.items():
        status, _, _ = api.call(
            "PUT",
            f"/v1/items/{item_id}",
            api.admin,
            {"title": item_id.title(), "category": category, "avg_rating": 4.2},
        )
        assert status == 200
    for n, (item_id, action) in enumerate(
        [(f"pop_{tag}", "purchase"), (f"pop_{tag}", "watch"), (f"mid_{tag}", "click")]
    ):
        status, _, _ = api.call(
            "POST",
            "/v1/interactions",
            api.writer,
            {"user_id": f"someone_{tag}_{n}", "item_id": item_id, "action": action},
        )
        assert status == 202
    popularity = redis.Redis.from_url(function_env_url(api))
    assert wait_for(lambda: popularity.zscore("popularity:all", f"mid_{tag}") is not None, 60)
    return list(items)


def function_env_url(api) -> str:
    return f"redis://127.0.0.1:{api.cloud.ports.redis}/{TEST_STACK.redis_db}"


def assert_envelope(body, code: str, headers) -> dict:
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "details", "request_id"} and error["code"] == code
    assert error["request_id"] == headers["X-Request-Id"]
    assert "Traceback" not in json.dumps(body)
    return error


# -- authentication, scopes, rate-limit headers -------------------------------------------
def test_missing_and_unknown_keys_are_401_with_rate_limit_headers(api):
    for key in (None, "rk_nope_nope"):
        status, headers, body = api.call("GET", "/v1/recommendations?user_id=u1", key)
        assert status == 401
        assert_envelope(body, "UNAUTHORIZED", headers)
        assert all(headers[h] for h in RATE_HEADERS) and headers["X-RateLimit-Limit"] == "60"


def test_wrong_scope_is_403(api):
    status, headers, body = api.call(
        "POST", "/v1/interactions", api.reader, {"user_id": "u1", "item_id": "i1", "action": "click"}
    )
    assert status == 403 and assert_envelope(body, "FORBIDDEN", headers)["details"] == {
        "required_scope": "write"
    }
    status, headers, body = api.call("PUT", "/v1/items/x1", api.writer, {"title": "X"})
    assert status == 403 and assert_envelope(body, "FORBIDDEN", headers)


def test_success_responses_carry_request_id_and_rate_limit_headers(api, catalog_items):
    status, headers, body = api.call("GET", "/v1/recommendations?user_id=u1", api.reader)
    assert status == 200
    assert body["request_id"] == headers["X-Request-Id"] == headers["x-amzn-RequestId"]
    assert body["model_version"] and datetime.fromisoformat(body["generated_at"])
    assert headers["X-RateLimit-Limit"] == "1000"
    assert int(headers["X-RateLimit-Remaining"]) < 1000 and int(headers["X-RateLimit-Reset"]) > time.time()


# -- validation and not-found ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "code", "field"),
    [
        ("/v1/recommendations?user_id=bad%20id", "INVALID_USER_ID", "user_id"),
        ("/v1/recommendations", "INVALID_USER_ID", "user_id"),
        ("/v1/recommendations?user_id=u1&limit=0", "INVALID_INPUT", "limit"),
        ("/v1/recommendations?user_id=u1&limit=many", "INVALID_INPUT", "limit"),
        ("/v1/items/ok/similar?limit=1000", "INVALID_INPUT", "limit"),
    ],
)
def test_invalid_queries_are_400_with_field_and_reason(api, path, code, field):
    status, headers, body = api.call("GET", path, api.reader)
    assert status == 400
    error = assert_envelope(body, code, headers)
    assert error["details"]["field"] == field and error["details"]["reason"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"user_id": "u1", "item_id": "i1", "action": "stare"}, "action"),
        ({"user_id": "u1", "item_id": "i1"}, "action"),
        ({"user_id": "u1", "item_id": "i1", "action": "click", "surprise": 1}, "surprise"),
        (
            {"user_id": "u1", "item_id": "i1", "action": "click", "timestamp": "2024-01-20T15:30:00"},
            "timestamp",
        ),
    ],
)
def test_invalid_bodies_are_400_with_field(api, body, field):
    status, headers, reply = api.call("POST", "/v1/interactions", api.writer, body)
    assert status == 400
    assert assert_envelope(reply, "INVALID_INPUT", headers)["details"]["field"] == field


def test_malformed_json_is_400(api):
    status, headers, body = api.call(
        "POST", "/v1/feedback", api.writer, raw=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert status == 400 and assert_envelope(body, "INVALID_INPUT", headers)["details"]["field"] == "body"


def test_unknown_routes_and_resources_are_404(api):
    status, _, body = api.call("GET", "/v1/nothing-here", api.reader)
    assert status == 404 and body["error"]["code"] == "NOT_FOUND"
    status, headers, body = api.call("GET", "/v1/items/no_such_item/similar", api.reader)
    assert status == 404 and assert_envelope(body, "NOT_FOUND", headers)
    status, headers, body = api.call("DELETE", f"/v1/feedback/{uuid.uuid4()}", api.writer)
    assert status == 404 and assert_envelope(body, "NOT_FOUND", headers)


def test_a_fault_inside_is_a_500_envelope_without_a_trace(api):
    experiment = f"broken_{uuid.uuid4().hex[:6]}"
    with postgres(api.cloud.ports.postgres, TEST_STACK.database) as conn:
        conn.execute(
            "INSERT INTO experiments (experiment_id, variants) VALUES (%s, %s)",
            (experiment, json.dumps([{"name": "a"}])),
        )  # corrupt: no weight
    try:
        status, headers, body = api.call(
            "POST", f"/v1/experiments/{experiment}/assignments", api.reader, {"user_id": "u1"}
        )
    finally:  # gone again, so that it does not turn up in another test's GET /v1/experiments
        with postgres(api.cloud.ports.postgres, TEST_STACK.database) as conn:
            conn.execute("DELETE FROM experiments WHERE experiment_id = %s", (experiment,))
    assert status == 500
    error = assert_envelope(body, "INTERNAL_ERROR", headers)
    assert error["message"] == "Internal server error" and error["details"] == {}


def test_an_unreachable_store_is_a_503_envelope(cloud, api, tmp_path_factory):
    broken = Runtime(
        cloud, tmp_path_factory.mktemp("no-postgres"), env={"RECSYS_POSTGRES_PORT": str(free_port())}
    )
    try:
        status, headers, body = broken.request(
            "GET", "/v1/items/anything", headers={"Authorization": f"Bearer {api.reader}"}
        )
        assert status == 503
        assert_envelope(json.loads(body), "SERVICE_UNAVAILABLE", headers)
        assert headers["X-RateLimit-Limit"]  # Redis still meters the request
    finally:
        broken.stop()


# -- rate limits -----------------------------------------------------------------------------
def test_exactly_the_limit_passes_under_parallel_clients(api, catalog_items):
    key = api.key("free", "read")  # a sliding window: the burst may start at any second
    path = f"/v1/items/{catalog_items[0]}"
    with concurrent.futures.ThreadPoolExecutor(max_workers=12) as pool:
        replies = list(pool.map(lambda _: api.call("GET", path, key), range(90)))
    statuses = [status for status, _, _ in replies]
    assert statuses.count(200) == 60 and statuses.count(429) == 30
    _, headers, body = next(r for r in replies if r[0] == 429)
    error = assert_envelope(body, "RATE_LIMITED", headers)
    assert error["details"]["limit"] == 60 and error["details"]["remaining"] == 0
    assert datetime.fromisoformat(error["details"]["reset_at"].replace("Z", "+00:00")) > datetime.now(UTC)
    assert headers["X-RateLimit-Remaining"] == "0" and int(headers["Retry-After"]) >= 1


# -- idempotency -----------------------------------------------------------------------------
def feedback_rows(api, user_id: str) -> int:
    with postgres(api.cloud.ports.postgres, TEST_STACK.database) as conn:
        return conn.execute("SELECT count(*) FROM feedback WHERE user_id = %s", (user_id,)).fetchone()[0]


def test_parallel_duplicates_of_a_feedback_post_make_one_effect(api):
    user = f"user_{uuid.uuid4().hex[:8]}"
    body = {"user_id": user, "item_id": "movie_1", "feedback_type": "like"}
    headers = {"Idempotency-Key": str(uuid.uuid4())}

    def post_until_answered() -> tuple[int, dict, list[int]]:
        """A client honouring 409 + Retry-After while the first request with its key runs."""
        waited: list[int] = []
        while True:
            status, reply_headers, reply = api.call("POST", "/v1/feedback", api.writer, body, headers)
            if status != 409:
                return status, reply, waited
            assert reply["error"]["code"] == "CONFLICT" and reply_headers["Retry-After"] == "1"
            waited.append(status)
            time.sleep(0.05)

    with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
        replies = list(pool.map(lambda _: post_until_answered(), range(6)))
    assert {status for status, _, _ in replies} == {201}
    assert len({json.dumps(reply, sort_keys=True) for _, reply, _ in replies}) == 1  # the first, replayed
    assert feedback_rows(api, user) == 1

    status, reply_headers, reply = api.call(
        "POST", "/v1/feedback", api.writer, {**body, "item_id": "movie_2"}, headers
    )
    assert status == 409 and assert_envelope(reply, "IDEMPOTENCY_KEY_REUSED", reply_headers)
    assert feedback_rows(api, user) == 1


def test_idempotency_keys_belong_to_the_api_key_that_sent_them(api):
    user = f"user_{uuid.uuid4().hex[:8]}"
    headers = {"Idempotency-Key": f"shared-{uuid.uuid4().hex[:8]}"}
    other_writer = api.key("pro", "read,write")
    status, _, first = api.call(
        "POST",
        "/v1/feedback",
        api.writer,
        {"user_id": user, "item_id": "movie_1", "feedback_type": "like"},
        headers,
    )
    status_b, _, second = api.call(
        "POST",
        "/v1/feedback",
        other_writer,
        {"user_id": user, "item_id": "movie_2", "feedback_type": "like"},
        headers,
    )
    assert (status, status_b) == (201, 201)
    assert second["feedback_id"] != first["feedback_id"] and second["item_id"] == "movie_2"
    assert feedback_rows(api, user) == 2


def test_without_redis_the_database_still_refuses_a_key_reused_with_another_body(
    api, cloud, tmp_path_factory
):
    user = f"user_{uuid.uuid4().hex[:8]}"
    body = {"user_id": user, "item_id": "movie_1", "feedback_type": "like"}
    headers = {"Authorization": f"Bearer {api.writer}", "Content-Type": "application/json"}
    headers["Idempotency-Key"] = f"k-{uuid.uuid4().hex[:8]}"
    broken = Runtime(
        cloud, tmp_path_factory.mktemp("no-redis-fb"), env={"RECSYS_REDIS_PORT": str(free_port())}
    )
    try:
        first = broken.request("POST", "/v1/feedback", json.dumps(body).encode(), headers)
        again = broken.request("POST", "/v1/feedback", json.dumps(body).encode(), headers)
        other = broken.request(
            "POST", "/v1/feedback", json.dumps({**body, "item_id": "movie_2"}).encode(), headers
        )
    finally:
        broken.stop()
    assert first[0] == 201 and again[0] == 201
    assert json.loads(again[2])["feedback_id"] == json.loads(first[2])["feedback_id"]
    assert other[0] == 409 and assert_envelope(json.loads(other[2]), "IDEMPOTENCY_KEY_REUSED", other[1])
    assert feedback_rows(api, user) == 1


def test_feedback_update_by_version_and_delete_twice(api):
    status, _, created = api.call(
        "POST", "/v1/feedback", api.writer, {"user_id": "u_fb", "item_id": "movie_3", "feedback_type": "like"}
    )
    assert status == 201 and created["version"] == 1
    path = f"/v1/feedback/{created['feedback_id']}"
    change = {"feedback_type": "dislike", "reason": "changed my mind", "version": 1}
    status, _, updated = api.call("PUT", path, api.writer, change)
    assert status == 200 and updated["version"] == 2 and updated["feedback_type"] == "dislike"
    status, _, retried = api.call("PUT", path, api.writer, change)  # a client retry: same result
    assert status == 200 and retried["version"] == 2
    status, headers, body = api.call("PUT", path, api.writer, {**change, "reason": "again"})
    assert (
        status == 409
        and assert_envelope(body, "VERSION_CONFLICT", headers)["details"]["current_version"] == 2
    )
    assert api.call("DELETE", path, api.writer)[0] == 204
    assert api.call("DELETE", path, api.writer)[0] == 204
    assert api.call("PUT", path, api.writer, {"feedback_type": "like"})[0] == 404


def test_parallel_preference_writes_with_one_key_make_one_version(api):
    user = f"user_{uuid.uuid4().hex[:8]}"
    body = {"favorite_categories": ["Drama"], "excluded_items": ["movie_9"]}
    headers = {"X-Idempotency-Key": "prefs-1"}
    with concurrent.futures.ThreadPoolExecutor(max_workers=5) as pool:
        replies = list(
            pool.map(
                lambda _: api.call("PUT", f"/v1/users/{user}/preferences", api.writer, body, headers),
                range(5),
            )
        )
    assert {status for status, _, _ in replies} == {200}
    assert {reply["version"] for _, _, reply in replies} == {1}
    status, reply_headers, reply = api.call(
        "PUT", f"/v1/users/{user}/preferences", api.writer, {"favorite_categories": ["Comedy"]}, headers
    )
    assert status == 409 and assert_envelope(reply, "IDEMPOTENCY_KEY_REUSED", reply_headers)
    status, _, second = api.call(
        "PUT", f"/v1/users/{user}/preferences", api.writer, {"favorite_categories": ["Comedy"], "version": 1}
    )
    assert status == 200 and second["version"] == 2
    status, _, profile = api.call("GET", f"/v1/users/{user}", api.reader)
    assert status == 200 and profile["preferred_categories"] == ["Comedy"]


def test_item_features_are_versioned(api, catalog_items):
    path = f"/v1/items/{catalog_items[1]}/features"
    status, _, first = api.call("PUT", path, api.admin, {"content_features": {"director": "A"}, "version": 0})
    assert status == 200 and first["version"] == 1
    status, headers, body = api.call(
        "PUT", path, api.admin, {"content_features": {"director": "B"}, "version": 0}
    )
    assert status == 409 and assert_envelope(body, "VERSION_CONFLICT", headers)
    status, _, keyed = api.call(
        "PUT", path, api.admin, {"content_features": {"director": "B"}}, {"X-Idempotency-Key": "feat-1"}
    )
    again = api.call(
        "PUT", path, api.admin, {"content_features": {"director": "B"}}, {"X-Idempotency-Key": "feat-1"}
    )
    assert status == 200 and keyed["version"] == 2 and again[2]["version"] == 2
    status, headers, body = api.call("PUT", "/v1/items/no_such_item/features", api.admin, {})
    assert status == 404 and assert_envelope(body, "NOT_FOUND", headers)


# -- interactions and the ingest path ----------------------------------------------------
def test_an_interaction_reaches_cassandra_once_despite_client_retries(api, settings):
    user, event_id = f"user_{uuid.uuid4().hex[:8]}", str(uuid.uuid4())
    body = {
        "user_id": user,
        "item_id": "movie_7",
        "action": "watch",
        "context": {"source": "homepage", "position": 3},
        "timestamp": "2024-01-20T15:30:00Z",
    }
    first = api.call("POST", "/v1/interactions", api.writer, body, {"X-Event-ID": event_id})
    retry = api.call("POST", "/v1/interactions", api.writer, body, {"X-Event-ID": event_id})
    assert first[0] == retry[0] == 202
    assert first[2]["event_id"] == retry[2]["event_id"] == event_id and retry[2]["duplicate"] is True
    log = CassandraInteractionLog(cassandra_session(settings))
    history = wait_for(lambda: log.for_user(user), 60)
    assert [(i.event_id, i.item_id, i.action) for i in history] == [(event_id, "movie_7", "watch")]
    assert history[0].context == {"source": "homepage", "position": "3"}


def test_without_an_event_id_the_servers_fallback_id_deduplicates(api):
    body = {
        "user_id": "u_fallback",
        "item_id": "movie_8",
        "action": "click",
        "timestamp": datetime.now(UTC).isoformat(),
    }
    first, second = (api.call("POST", "/v1/interactions", api.writer, body) for _ in range(2))
    assert first[2]["event_id"] == second[2]["event_id"] and len(first[2]["event_id"]) == 64
    assert second[2]["duplicate"] is True


def test_not_interested_removes_the_item_from_that_users_recommendations(api, catalog_items):
    user = f"user_{uuid.uuid4().hex[:8]}"
    popular = catalog_items[0]
    status, _, body = api.call("GET", f"/v1/recommendations?user_id={user}&limit=100", api.reader)
    ranked = [r["item_id"] for r in body["recommendations"]]
    assert status == 200 and popular in ranked and ranked.index(popular) < ranked.index(catalog_items[1])
    first = body["recommendations"][ranked.index(popular)]
    assert first["metadata"]["title"] == popular.title() and first["explanation"]["type"]

    status, _, feedback = api.call(
        "POST",
        "/v1/feedback",
        api.writer,
        {"user_id": user, "item_id": popular, "feedback_type": "not_interested"},
    )
    assert status == 201 and feedback["action_taken"] == "item_excluded_from_future_recommendations"
    status, _, body = api.call("GET", f"/v1/recommendations?user_id={user}&limit=100", api.reader)
    assert popular not in [r["item_id"] for r in body["recommendations"]]
    status, _, other = api.call("GET", f"/v1/recommendations?user_id=other_{user}&limit=100", api.reader)
    assert popular in [r["item_id"] for r in other["recommendations"]]  # only that user's


def test_category_and_exclude_filters(api, catalog_items):
    status, _, body = api.call("GET", "/v1/recommendations?user_id=u_f&category=Comedy&limit=50", api.reader)
    assert status == 200 and {r["metadata"]["category"] for r in body["recommendations"]} <= {"Comedy"}
    query = "&".join(f"exclude={item}" for item in catalog_items[:2])
    status, _, body = api.call("GET", f"/v1/recommendations?user_id=u_f&limit=100&{query}", api.reader)
    assert not set(catalog_items[:2]) & {r["item_id"] for r in body["recommendations"]}


def test_similar_items_and_explanation(api, catalog_items):
    status, _, body = api.call("GET", f"/v1/items/{catalog_items[1]}/similar?limit=5", api.reader)
    assert status == 200 and body["source_item"]["item_id"] == catalog_items[1]
    assert catalog_items[1] not in [s["item_id"] for s in body["similar_items"]]
    assert all(0 <= s["similarity_score"] <= 1 and s["similarity_reason"] for s in body["similar_items"])
    status, _, body = api.call(
        "GET", f"/v1/recommendations/{catalog_items[0]}/explain?user_id=u1", api.reader
    )
    factors = body["explanation"]["contributing_factors"]
    assert status == 200 and factors and abs(sum(f["weight"] for f in factors) - 1) < 0.001
    assert body["model_version"] == "popularity-v1"  # no model trained yet in this module
    assert body["explanation"]["predicted_rating"] is None  # popularity predicts no rating


# -- catalog, users, experiments, docs -------------------------------------------------------
def test_bulk_catalog_import_lands_every_item(api):
    tag = uuid.uuid4().hex[:6]
    items = [{"item_id": f"bulk_{tag}_{n}", "title": f"Bulk {n}", "category": "Bulk"} for n in range(250)]
    status, _, accepted = api.call("POST", "/v1/catalog/imports", api.admin, {"items": items})
    assert status == 202 and accepted["chunks"] == 3 and accepted["items"] == 250
    path = f"/v1/catalog/imports/{accepted['import_id']}"
    done = wait_for(lambda: api.call("GET", path, api.admin)[2]["status"] == "completed", 60)
    assert done and api.call("GET", path, api.admin)[2]["imported"] == 250
    status, _, item = api.call("GET", f"/v1/items/bulk_{tag}_249", api.reader)
    assert status == 200 and item["title"] == "Bulk 249"


def test_experiment_assignment_is_consistent_and_kept_24_hours(api):
    experiment = f"exp_{uuid.uuid4().hex[:6]}"
    status, _, _ = api.call(
        "PUT",
        f"/v1/experiments/{experiment}",
        api.admin,
        {"variants": [{"name": "control", "weight": 1}, {"name": "treatment", "weight": 1}]},
    )
    assert status == 200
    variants = [
        api.call("POST", f"/v1/experiments/{experiment}/assignments", api.reader, {"user_id": f"u{n}"})[2][
            "variant"
        ]
        for n in range(20)
    ]
    again = [
        api.call("POST", f"/v1/experiments/{experiment}/assignments", api.reader, {"user_id": f"u{n}"})[2][
            "variant"
        ]
        for n in range(20)
    ]
    assert variants == again and set(variants) == {"control", "treatment"}
    ttl = redis.Redis.from_url(function_env_url(api)).ttl(f"ab_test:u0:{experiment}")
    assert 86000 < ttl <= 86400


def test_swagger_ui_and_the_committed_document_are_served(api):
    status, _, html = api.runtime.request("GET", "/docs")
    assert status == 200 and b"swagger-ui" in html
    status, _, document = api.runtime.request("GET", "/openapi.json")
    assert status == 200 and json.loads(document) == json.loads((ROOT / "openapi.json").read_text())


def test_nul_characters_are_refused_not_stored(api):
    status, headers, body = api.call("PUT", "/v1/items/nul_item", api.admin, {"title": "bad\u0000title"})
    assert status == 400 and assert_envelope(body, "INVALID_INPUT", headers)["details"]["field"] == "body"
    status, headers, body = api.call("GET", "/v1/recommendations?user_id=u1&category=a%00b", api.reader)
    assert status == 400 and assert_envelope(body, "INVALID_INPUT", headers)


def test_users_are_created_updated_and_read(api):
    user = f"user_{uuid.uuid4().hex[:8]}"
    assert api.call("GET", f"/v1/users/{user}", api.reader)[0] == 404
    status, _, created = api.call(
        "PUT",
        f"/v1/users/{user}",
        api.writer,
        {"preferred_categories": ["Drama"], "language": "en", "country": "US"},
    )
    assert status == 200 and created["is_new_user"] is True and created["country"] == "US"
    status, _, updated = api.call("PUT", f"/v1/users/{user}", api.writer, {"language": "fr"})
    assert status == 200 and updated["language"] == "fr" and updated["preferred_categories"] == []
    status, _, read = api.call("GET", f"/v1/users/{user}", api.reader)
    assert status == 200 and read["language"] == "fr" and read["request_id"]


# -- limits: sizes, header ids, the gateway's own errors ---------------------------------------
def raw_request(api, data: bytes, timeout: float = 10.0) -> bytes:
    """Send bytes as they are (malformed requests included) and read the whole answer."""
    import socket

    with socket.create_connection(("127.0.0.1", api.runtime.api_port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def envelope_of(reply: bytes) -> tuple[int, dict]:
    head, _, body = reply.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    error = json.loads(body)["error"]
    assert set(error) == {"code", "message", "details", "request_id"}
    return status, error


def test_a_body_over_the_limit_is_413_in_the_envelope(api):
    item = {"title": "x" * (1024 * 1024 + 10)}
    status, headers, body = api.call("PUT", "/v1/items/too_big", api.admin, item)
    assert status == 413 and assert_envelope(body, "PAYLOAD_TOO_LARGE", headers)
    assert headers["X-RateLimit-Limit"]  # the function answered, with its budget
    huge = b"{" + b" " * (7 * 1024 * 1024) + b"}"
    status, headers, payload = api.runtime.request(
        "PUT", "/v1/items/too_big", body=huge, headers={"Authorization": f"Bearer {api.admin}"}
    )
    assert status == 413 and json.loads(payload)["error"]["code"] == "PAYLOAD_TOO_LARGE"  # the gateway's


def test_context_sizes_are_limited_so_that_nothing_accepted_can_fail_to_store(api):
    for context in ({"note": "x" * 501}, {"k" * 51: "v"}, {f"k{n}": n for n in range(21)}):
        body = {"user_id": "u1", "item_id": "i1", "action": "click", "context": context}
        status, headers, reply = api.call("POST", "/v1/interactions", api.writer, body)
        assert status == 400 and assert_envelope(reply, "INVALID_INPUT", headers), context


def test_ids_in_headers_follow_the_id_pattern(api):
    body = {"user_id": "u1", "item_id": "i1", "action": "click"}
    for name, value in (
        ("X-Event-ID", "évènement-1"),
        ("X-Event-ID", "has space"),
        ("Idempotency-Key", "k/1"),
    ):
        headers = {name: value.encode("utf-8").decode("latin-1")}
        path = "/v1/interactions" if name == "X-Event-ID" else "/v1/feedback"
        payload = body if name == "X-Event-ID" else {**body, "feedback_type": "like"}
        status, reply_headers, reply = api.call("POST", path, api.writer, payload, headers=headers)
        assert status == 400, (name, value, reply)
        assert assert_envelope(reply, "INVALID_INPUT", reply_headers)["details"]["field"] == name


@pytest.mark.parametrize(
    ("raw", "status", "code"),
    [
        (b"GET /v1/items/x HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400, "INVALID_INPUT"),
        (b"GET /v1/items/x HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400, "INVALID_INPUT"),
        (b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, "URI_TOO_LONG"),
        (b"GET /v1/items/x HTTP/1.1\r\n" + b"X-Pad: y\r\n" * 120 + b"\r\n", 431, "HEADERS_TOO_LARGE"),
        (b"GET /v1/items/x HTTP/3.0\r\nHost: x\r\n\r\n", 505, "HTTP_VERSION_NOT_SUPPORTED"),
    ],
)
def test_the_gateways_own_errors_use_the_envelope(api, raw, status, code):
    got, error = envelope_of(raw_request(api, raw))
    assert (got, error["code"]) == (status, code)


def test_the_gateway_takes_200_simultaneous_connections_and_drops_stalled_ones(api):
    import socket

    def one(_):
        with socket.create_connection(("127.0.0.1", api.runtime.api_port), timeout=30) as sock:
            sock.sendall(b"GET /no/such/route HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            return sock.recv(65536).split(b" ", 2)[1]

    with concurrent.futures.ThreadPoolExecutor(max_workers=200) as pool:
        statuses = list(pool.map(one, range(200)))
    assert statuses == [b"404"] * 200
    with socket.create_connection(("127.0.0.1", api.runtime.api_port), timeout=30) as stalled:
        stalled.sendall(b"GET /v1/items/x HTTP/1.1\r\nHost: x\r\n")  # never finishes its headers
        started = time.monotonic()
        assert stalled.recv(65536) == b""  # closed by the server, not held forever
        assert time.monotonic() - started < 15


# -- batches -----------------------------------------------------------------------------------
def test_a_batch_takes_each_event_on_its_own_terms_and_counts_once(api):
    user = f"user_{uuid.uuid4().hex[:8]}"
    tag = uuid.uuid4().hex[:6]
    events = [
        {"event_id": f"b1-{tag}", "user_id": user, "item_id": "movie_1", "action": "watch"},
        {"event_id": f"b2-{tag}", "user_id": user, "item_id": "movie_2", "action": "teleport"},
        {"event_id": f"b1-{tag}", "user_id": user, "item_id": "movie_1", "action": "watch"},
        {"event_id": f"b4-{tag}", "user_id": "not a valid id!", "item_id": "movie_4", "action": "click"},
        {"user_id": user, "item_id": "movie_5", "action": "like", "timestamp": "2024-01-20T15:30:00Z"},
    ]
    status, headers, body = api.call("POST", "/v1/interactions/batch", api.writer, {"events": events})
    assert status == 202, body
    assert [r["status"] for r in body["results"]] == [
        "accepted",
        "rejected",
        "duplicate",
        "rejected",
        "accepted",
    ]
    assert (body["accepted"], body["duplicates"], body["rejected"], body["failed"]) == (2, 1, 2, 0)
    assert body["results"][1]["error"]["code"] == "INVALID_INPUT"
    assert body["results"][1]["error"]["details"]["field"] == "events.1.action"
    assert body["results"][3]["error"]["code"] == "INVALID_USER_ID"
    assert body["results"][4]["event_id"]  # the spec's fallback fingerprint
    remaining = int(headers["X-RateLimit-Remaining"])
    status, headers, again = api.call("POST", "/v1/interactions/batch", api.writer, {"events": events})
    assert status == 202 and [r["status"] for r in again["results"]] == [
        "duplicate",
        "rejected",
        "duplicate",
        "rejected",
        "duplicate",
    ]
    assert int(headers["X-RateLimit-Remaining"]) == remaining - 1  # a batch is one request
    log = CassandraInteractionLog(cassandra_session(Settings.from_environment()))
    assert wait_for(lambda: len(log.for_user(user)) == 2, 30)


@pytest.mark.parametrize(
    "body",
    [
        {"events": []},
        {"events": [{"user_id": "u", "item_id": "i", "action": "click"}] * 501},
        {"events": "not a list"},
        {"nothing": 1},
    ],
)
def test_a_bad_batch_is_refused_whole(api, body):
    status, headers, reply = api.call("POST", "/v1/interactions/batch", api.writer, body)
    assert status == 400 and assert_envelope(reply, "INVALID_INPUT", headers)
