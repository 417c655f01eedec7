"""The Python client (clients/python) against the real API: every endpoint through the local
gateway into its function on the test stack's stores (the runtime is this module's own)."""

from __future__ import annotations

import concurrent.futures
import uuid
from datetime import UTC, datetime

import pytest

from localcloud.settings import TEST_STACK
from recsys_client import RecsysClient, RecsysError, RetryPolicy
from recsys_client.models import InteractionEvent
from tests.e2e.conftest import Runtime, wait_for


class Clients:
    def __init__(self, runtime: Runtime, cloud) -> None:
        self.url = f"http://127.0.0.1:{runtime.api_port}"
        self.cloud = cloud
        self.admin = self.client("enterprise", "read,write,admin")
        self.writer = self.client("pro", "read,write")
        self.reader = self.client("pro", "read")

    def key(self, tier: str, scopes: str) -> str:
        return self.cloud.create_api_key(tier, scopes.split(","), "e2e-client", stack=TEST_STACK)

    def client(self, tier: str, scopes: str, key: str | None = None, **options) -> RecsysClient:
        return RecsysClient(self.url, key or self.key(tier, scopes), **options)


@pytest.fixture(scope="module")
def api(cloud, function_env, tmp_path_factory):
    runtime = Runtime(cloud, tmp_path_factory.mktemp("client"))
    clients = Clients(runtime, cloud)
    yield clients
    for client in (clients.admin, clients.writer, clients.reader):
        client.close()
    runtime.stop()


@pytest.fixture(scope="module")
def items(api):
    """Three items of the catalog, the first made the most popular through the ingest path."""
    tag = uuid.uuid4().hex[:6]
    ids = [f"cpop_{tag}", f"cmid_{tag}", f"ccold_{tag}"]
    for item_id, category in zip(ids, ("Drama", "Drama", "Comedy"), strict=True):
        item = api.admin.put_item(item_id, item_id.title(), category=category, avg_rating=4.2, tags=["e2e"])
        assert item.item_id == item_id and item.category == category and item.tags == ["e2e"]
    for n, (item_id, action) in enumerate([(ids[0], "purchase"), (ids[0], "watch"), (ids[1], "click")]):
        api.writer.record_interaction(f"someone_{tag}_{n}", item_id, action)

    def ranked() -> list[str]:
        return [r.item_id for r in api.reader.get_recommendations(f"new_{tag}", limit=100).recommendations]

    assert wait_for(lambda: ids[1] in ranked(), 60)
    return ids


# -- recommendations, similar items, explanations ----------------------------------------------
def test_recommendations_with_every_parameter(api, items):
    user = f"user_{uuid.uuid4().hex[:8]}"
    answer = api.reader.get_recommendations(
        user,
        context="homepage",
        limit=100,
        category="Drama",
        exclude=[items[1]],
        session_id="s-1",
        device_type="web",
    )
    ranked = [r.item_id for r in answer.recommendations]
    assert items[0] in ranked and items[1] not in ranked and items[2] not in ranked
    first = answer.recommendations[ranked.index(items[0])]
    assert first.metadata.title == items[0].title() and first.metadata.category == "Drama" and first.rank >= 1
    assert answer.model_version and answer.generated_at.tzinfo is not None and answer.request_id


def test_similar_items_and_an_explanation(api, items):
    similar = api.reader.get_similar_items(items[1], limit=5)
    assert similar.source_item.item_id == items[1] and similar.source_item.title == items[1].title()
    assert items[1] not in [s.item_id for s in similar.similar_items]
    assert all(0 <= s.similarity_score <= 1 and s.similarity_reason for s in similar.similar_items)
    explained = api.reader.explain_recommendation(items[0], "u1")
    factors = explained.explanation.contributing_factors
    assert explained.item_id == items[0] and factors and abs(sum(f.weight for f in factors) - 1) < 0.001
    with pytest.raises(RecsysError) as raised:
        api.reader.get_similar_items("no_such_item_here")
    assert (raised.value.status, raised.value.code) == (404, "NOT_FOUND") and raised.value.request_id


# -- interactions --------------------------------------------------------------------------
def test_an_interaction_under_one_event_id_is_recorded_once(api, items):
    user, event_id = f"user_{uuid.uuid4().hex[:8]}", f"evt-{uuid.uuid4()}"
    when = datetime(2024, 1, 20, 15, 30, tzinfo=UTC)
    first = api.writer.record_interaction(
        user,
        items[0],
        "watch",
        context={"source": "homepage", "position": 3},
        timestamp=when,
        event_id=event_id,
    )
    again = api.writer.record_interaction(user, items[0], "watch", timestamp=when, event_id=event_id)
    assert (first.event_id, first.duplicate) == (event_id, False) and (again.event_id, again.duplicate) == (
        event_id,
        True,
    )
    one, two = (api.writer.record_interaction(user, items[1], "click") for _ in range(2))
    assert one.event_id != two.event_id and not one.duplicate and not two.duplicate  # two logical calls
    assert uuid.UUID(one.event_id)


def test_the_batch_helper_sends_any_number_of_events_and_totals_them(api, items):
    user = f"user_{uuid.uuid4().hex[:8]}"
    events = [{"user_id": user, "item_id": items[n % 3], "action": "impression"} for n in range(1100)]
    events[7] = {**events[7], "action": "teleport"}
    events[8] = InteractionEvent(user_id=user, item_id=items[0], action="like", event_id=f"b-{user}")
    events.append({"user_id": user, "item_id": items[0], "action": "like", "event_id": f"b-{user}"})
    summary = api.writer.record_interactions(iter(events))
    assert (summary.accepted, summary.duplicates, summary.failed, summary.requests) == (1099, 1, [], 3)
    assert [(o.index, o.code) for o in summary.rejected] == [(7, "INVALID_INPUT")]
    assert summary.rejected[0].details["field"] == "events.7.action"
    again = api.writer.record_interactions([events[8]])
    assert again.duplicates == 1 and again.accepted == 0


def test_one_batch_request(api, items):
    user = f"user_{uuid.uuid4().hex[:8]}"
    reply = api.writer.record_interactions_batch(
        [
            {"user_id": user, "item_id": items[0], "action": "click"},
            {"user_id": "bad id!", "item_id": "x", "action": "click"},
        ]
    )
    assert [r.status for r in reply.results] == ["accepted", "rejected"] and reply.results[0].event_id
    assert reply.results[1].error and reply.results[1].error["code"] == "INVALID_USER_ID"


def test_a_history_import_through_the_upload_url(api, items):
    user = f"user_{uuid.uuid4().hex[:8]}"
    rows = [f"{user},{items[n % 3]},watch,{1700000000 + n}" for n in range(30)]
    data = "\n".join(
        ["user_id,item_id,action,timestamp", *rows, f"{user},{items[0]},stare,1700000100"]
    ).encode()
    created = api.writer.import_interactions(data, "csv")
    assert created.import_id.startswith("iimp_") and created.status == "awaiting_upload"
    status = api.writer.wait_for_interaction_import(created.import_id, timeout=120)
    assert status.status == "completed", status
    assert (status.rows_read, status.accepted, status.rejected) == (31, 30, 1)
    assert status.errors[0].line == 32 and status.errors[0].code == "INVALID_INPUT"
    assert api.writer.get_interaction_import(created.import_id).import_id == created.import_id


# -- feedback ------------------------------------------------------------------------------
def test_feedback_with_a_retry_safe_key_then_updated_and_withdrawn(api, items):
    user, key = f"user_{uuid.uuid4().hex[:8]}", f"fb-{uuid.uuid4()}"
    created = api.writer.create_feedback(
        user, items[0], "not_interested", reason="seen it", idempotency_key=key
    )
    replayed = api.writer.create_feedback(
        user, items[0], "not_interested", reason="seen it", idempotency_key=key
    )
    assert (
        created.status == "recorded" and created.action_taken == "item_excluded_from_future_recommendations"
    )
    assert replayed.feedback_id == created.feedback_id and replayed.version == 1
    with pytest.raises(RecsysError) as raised:
        api.writer.create_feedback(user, items[1], "like", idempotency_key=key)
    assert (raised.value.status, raised.value.code) == (
        409,
        "IDEMPOTENCY_KEY_REUSED",
    ) and raised.value.attempts == 1
    assert items[0] not in [
        r.item_id for r in api.reader.get_recommendations(user, limit=100).recommendations
    ]

    updated = api.writer.update_feedback(created.feedback_id, "dislike", reason="changed", version=1)
    assert (updated.status, updated.version, updated.feedback_type) == ("updated", 2, "dislike")
    with pytest.raises(RecsysError) as raised:
        api.writer.update_feedback(created.feedback_id, "like", version=1)
    assert raised.value.code == "VERSION_CONFLICT" and raised.value.details["current_version"] == 2
    api.writer.delete_feedback(created.feedback_id)
    api.writer.delete_feedback(created.feedback_id)  # harmless
    with pytest.raises(RecsysError) as raised:
        api.writer.update_feedback(created.feedback_id, "like")
    assert raised.value.status == 404


def test_parallel_calls_with_one_key_wait_out_the_conflict_and_get_the_first_answer(api, items):
    user, key = f"user_{uuid.uuid4().hex[:8]}", f"par-{uuid.uuid4()}"
    shared = api.key("pro", "read,write")  # idempotency keys belong to the API key that sent them
    clients = [api.client("pro", "read,write", shared) for _ in range(4)]

    def create(client: RecsysClient):
        return client.create_feedback(user, items[2], "like", idempotency_key=key)

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(create, clients))
    assert len({a.feedback_id for a in answers}) == 1  # 409 CONFLICT while the first ran: retried
    for client in clients:
        client.close()


# -- users, preferences, experiments ------------------------------------------------------------
def test_users_and_versioned_preferences(api):
    user = f"user_{uuid.uuid4().hex[:8]}"
    with pytest.raises(RecsysError) as raised:
        api.reader.get_user(user)
    assert raised.value.code == "NOT_FOUND"
    made = api.writer.put_user(user, preferred_categories=["Drama"], language="en", country="US")
    assert made.is_new_user and made.country == "US"
    assert api.reader.get_user(user).preferred_categories == ["Drama"]
    first = api.writer.put_preferences(
        user, favorite_categories=["Comedy"], excluded_items=["movie_9"], idempotency_key="p-1"
    )
    again = api.writer.put_preferences(
        user, favorite_categories=["Comedy"], excluded_items=["movie_9"], idempotency_key="p-1"
    )
    assert first.version == again.version == 1 and first.excluded_items == ["movie_9"]
    assert api.writer.put_preferences(user, favorite_categories=["Drama"], version=1).version == 2
    with pytest.raises(RecsysError) as raised:
        api.writer.put_preferences(user, favorite_categories=["Action"], version=1)
    assert raised.value.code == "VERSION_CONFLICT"


def test_item_features_catalog_import_and_experiments(api, items):
    features = api.admin.put_item_features(items[2], content_features={"director": "A"}, version=0)
    assert features.version == 1 and features.content_features == {"director": "A"}
    keyed = api.admin.put_item_features(items[2], popularity_features={"rank": 1}, idempotency_key="f-1")
    repeated = api.admin.put_item_features(items[2], popularity_features={"rank": 1}, idempotency_key="f-1")
    assert keyed.version == repeated.version == 2 and repeated.updated_at == keyed.updated_at

    tag = uuid.uuid4().hex[:6]
    accepted = api.admin.start_catalog_import(
        [{"item_id": f"cimp_{tag}_{n}", "title": f"Imported {n}", "category": "Bulk"} for n in range(150)]
    )
    assert accepted.items == 150 and accepted.status == "queued"
    done = wait_for(lambda: api.admin.get_catalog_import(accepted.import_id).status == "completed", 60)
    assert done and api.admin.get_catalog_import(accepted.import_id).imported == 150
    assert api.reader.get_item(f"cimp_{tag}_149").title == "Imported 149"

    experiment = f"cexp_{tag}"
    defined = api.admin.put_experiment(
        experiment, [{"name": "control", "weight": 1}, {"name": "treatment", "weight": 1}]
    )
    assert [v.name for v in defined.variants] == ["control", "treatment"] and defined.is_active
    variants = [api.reader.assign_variant(experiment, f"u{n}").variant for n in range(12)]
    assert variants == [api.reader.assign_variant(experiment, f"u{n}").variant for n in range(12)]
    assert set(variants) == {"control", "treatment"}


# -- errors, limits, the raw exchange ----------------------------------------------------------
def test_errors_carry_the_envelope_and_the_status(api):
    with pytest.raises(RecsysError) as raised:
        RecsysClient(api.url, "rk_nope_nope").get_item("x1")
    assert (raised.value.status, raised.value.code) == (401, "UNAUTHORIZED") and raised.value.request_id
    with pytest.raises(RecsysError) as raised:
        api.reader.record_interaction("u1", "i1", "click")
    assert raised.value.code == "FORBIDDEN" and raised.value.details == {"required_scope": "write"}
    with pytest.raises(RecsysError) as raised:
        api.reader.get_recommendations("bad id")
    assert (raised.value.status, raised.value.code, raised.value.details["field"]) == (
        400,
        "INVALID_USER_ID",
        "user_id",
    )


def test_rate_limited_calls_wait_or_raise_with_retry_after(api, items):
    client = api.client("free", "read", retry=RetryPolicy(max_elapsed=2.0))
    raw = client.send("GET", f"/v1/items/{items[0]}")
    assert raw.status == 200 and raw.header("X-RateLimit-Limit") == "60" and raw.elapsed > 0
    for _ in range(int(raw.header("X-RateLimit-Remaining") or 0)):
        client.get_item(items[0])
    with pytest.raises(RecsysError) as raised:
        client.get_item(items[0])
    assert (raised.value.status, raised.value.code) == (429, "RATE_LIMITED")
    assert raised.value.retry_after and raised.value.retry_after >= 1 and raised.value.details["limit"] == 60
    client.close()


def test_one_connection_carries_every_call(api, items):
    client = api.client("pro", "read")
    answers = [client.send("GET", f"/v1/items/{items[0]}") for _ in range(5)]
    assert [a.status for a in answers] == [200] * 5
    assert [a.reused_connection for a in answers] == [False, True, True, True, True]
    client.close()
