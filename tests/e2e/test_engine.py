"""The recommendation engine end to end: HTTP through the local gateway, the refresh function run by
the local runtime, the model published to the AWS emulator's S3 and served from the shared layer,
interactions flowing through Kinesis into the real-time history (Redis)."""

from __future__ import annotations

import json
import time
import uuid

import pytest

from tests.e2e.conftest import Runtime, free_port, wait_for
from tests.e2e.test_api import Api

TASTES = {"SciFi": ("space", "robots"), "Romance": ("love", "paris")}
USERS_PER_TASTE = 12
CHAIN = 8


@pytest.fixture(scope="module")
def world(cloud, function_env, tmp_path_factory):
    """Two tastes, each a chain of items that its users consume in order, ingested through the API."""
    runtime = Runtime(cloud, tmp_path_factory.mktemp("engine"))
    api = Api(runtime, cloud)
    tag = uuid.uuid4().hex[:6]
    items = taste_catalog(api, tag)
    sent = 0
    for taste, chain in items.items():
        for u in range(USERS_PER_TASTE):
            for item_id in chain[u % 3 : u % 3 + 5]:
                user = f"{taste.lower()}_fan_{tag}_{u}"
                status, _, _ = api.call(
                    "POST",
                    "/v1/interactions",
                    api.writer,
                    {"user_id": user, "item_id": item_id, "action": "watch"},
                )
                assert status == 202
                sent += 1
    last_user = f"romance_fan_{tag}_{USERS_PER_TASTE - 1}"
    assert wait_for(lambda: _history_size(api, last_user) == 5, 60), "the consumers did not apply the events"
    yield api, tag, items
    runtime.stop()


def taste_catalog(api: Api, tag: str) -> dict[str, list[str]]:
    """Each taste's chain of CHAIN items, in the catalog (titles "<taste> <n> <tag>")."""
    items = {taste: [f"{taste.lower()}_{tag}_{n}" for n in range(CHAIN)] for taste in TASTES}
    for taste, chain in items.items():
        for n, item_id in enumerate(chain):
            body = {"title": f"{taste} {n} {tag}", "category": taste, "tags": list(TASTES[taste])}
            assert api.call("PUT", f"/v1/items/{item_id}", api.admin, body)[0] == 200
    return items


def _history_size(api: Api, user: str) -> int:
    status, _, body = api.call("GET", f"/v1/users/{user}", api.reader)
    return body["total_interactions"] if status == 200 else 0


def refresh(api: Api) -> str:
    error, payload = api.runtime.invoke("IndexRefreshFunction", {})
    assert error is None, payload
    return payload["model_version"]


def recommendations(api: Api, user: str, limit: int = 10, key: str | None = None) -> dict:
    status, _, body = api.call("GET", f"/v1/recommendations?user_id={user}&limit={limit}", key or api.reader)
    assert status == 200, body
    return body


def served_by(api: Api, user: str, version: str, timeout: float = 15) -> bool:
    return bool(wait_for(lambda: recommendations(api, user)["model_version"] == version, timeout))


def test_refresh_publishes_a_version_and_serving_switches_to_it_without_restart(world):
    api, tag, items = world
    user = f"scifi_fan_{tag}_0"
    first = refresh(api)
    assert served_by(api, user, first)
    answer = recommendations(api, user)
    assert answer["recommendations"][0]["item_id"] in items["SciFi"]
    assert answer["recommendations"][0]["explanation"]["type"] in ("collaborative", "sequential")
    second = refresh(api)
    assert second != first and served_by(api, user, second)
    s3 = api.runtime.aws("s3")
    bucket = next(
        b["Name"] for b in s3.list_buckets()["Buckets"] if b["Name"].startswith("recsys-test-index")
    )
    latest = json.loads(s3.get_object(Bucket=bucket, Key="latest.json")["Body"].read())
    metadata = json.loads(s3.get_object(Bucket=bucket, Key=f"{second}/metadata.json")["Body"].read())
    assert latest["version"] == second and metadata["index"]["recall_at_50"] == 1.0
    assert metadata["counts"]["items_with_interactions"] >= 2 * 7  # chain[0:7] of each taste


def test_an_interaction_changes_the_next_recommendations_within_a_second(world):
    api, tag, items = world
    user = f"scifi_fan_{tag}_1"
    assert served_by(api, user, recommendations(api, user)["model_version"])
    before = [r["item_id"] for r in recommendations(api, user)["recommendations"]]
    assert before[0] in items["SciFi"]
    for item_id in items["Romance"][2:5]:
        sent = time.monotonic()
        status, _, _ = api.call(
            "POST",
            "/v1/interactions",
            api.writer,
            {"user_id": user, "item_id": item_id, "action": "purchase"},
        )
        assert status == 202

    def changed() -> bool:
        after = [r["item_id"] for r in recommendations(api, user)["recommendations"]]
        return after[0] in items["Romance"] and not set(items["Romance"][2:5]) & set(after)

    assert wait_for(changed, 5)
    took = time.monotonic() - sent
    assert took < 1.0, f"the last interaction took {took:.2f}s to change the recommendations"


def test_not_interested_removes_the_item_at_once(world):
    api, tag, _ = world
    user = f"romance_fan_{tag}_2"
    top = recommendations(api, user)["recommendations"][0]["item_id"]
    status, _, _ = api.call(
        "POST",
        "/v1/feedback",
        api.writer,
        {"user_id": user, "item_id": top, "feedback_type": "not_interested"},
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    assert status == 201
    assert top not in [r["item_id"] for r in recommendations(api, user, 50)["recommendations"]]
    status, _, body = api.call("GET", f"/v1/recommendations/{top}/explain?user_id={user}", api.reader)
    assert status == 200 and body["explanation"]["primary_reason"] == "excluded"


def _asked(api: Api, user: str, limit: int = 10) -> tuple[str | None, dict]:
    status, headers, body = api.call("GET", f"/v1/recommendations?user_id={user}&limit={limit}", api.reader)
    assert status == 200, body
    return headers.get("X-Cache"), body


def _ids(body: dict) -> list[str]:
    return [r["item_id"] for r in body["recommendations"]]


def test_a_ranking_is_served_again_until_the_user_or_its_items_change(world):
    api, tag, _ = world
    user = f"scifi_fan_{tag}_6"
    assert served_by(api, user, refresh(api))  # what the model answers is kept; a fallback's is not
    cache, first = _asked(api, user, limit=7)  # a limit no other request of this user asked
    assert cache == "miss"
    cache, again = _asked(api, user, limit=7)
    assert cache == "hit"
    assert {k: v for k, v in again.items() if k != "request_id"} == {
        k: v for k, v in first.items() if k != "request_id"
    }  # the same ranking, its time of ranking (generated_at) and its model version

    # an impression changes no history: the ranking stays
    impression = {"user_id": user, "item_id": _ids(first)[0], "action": "impression"}
    applied = _history_size(api, user) + 1
    assert api.call("POST", "/v1/interactions", api.writer, impression)[0] == 202
    assert wait_for(lambda: _history_size(api, user) == applied, 10)
    assert _asked(api, user, limit=7)[0] == "hit"

    # feedback and preferences are PostgreSQL's: the cache is dropped when they are written
    top, second = _ids(first)[0], _ids(first)[1]
    feedback = {"user_id": user, "item_id": top, "feedback_type": "not_interested"}
    headers = {"Idempotency-Key": str(uuid.uuid4())}
    assert api.call("POST", "/v1/feedback", api.writer, feedback, headers=headers)[0] == 201
    cache, body = _asked(api, user, limit=7)
    assert cache == "miss" and top not in _ids(body)
    preferences = {"favorite_categories": [], "excluded_items": [second]}
    assert api.call("PUT", f"/v1/users/{user}/preferences", api.writer, preferences)[0] == 200
    cache, body = _asked(api, user, limit=7)
    assert cache == "miss" and second not in _ids(body)
    assert _asked(api, user, limit=7)[0] == "hit"

    # an action is in the history the moment the features consumer applies it
    watched = _ids(body)[0]
    action = {"user_id": user, "item_id": watched, "action": "watch"}
    assert api.call("POST", "/v1/interactions", api.writer, action)[0] == 202
    assert wait_for(lambda: watched not in _ids(_asked(api, user, limit=7)[1]), 5)

    # an item deactivated in the catalog leaves the kept ranking within CacheCheckSeconds
    cache, body = _asked(api, user, limit=7)
    assert cache == "hit"
    gone = _ids(body)[0]
    status, _, item = api.call("GET", f"/v1/items/{gone}", api.reader)
    assert status == 200
    fields = ("title", "description", "category", "subcategory", "tags", "content_features", "thumbnail_url")
    update = {**{k: item[k] for k in fields if item[k] is not None}, "is_active": False}
    try:
        assert api.call("PUT", f"/v1/items/{gone}", api.admin, update)[0] == 200
        assert wait_for(lambda: gone not in _ids(_asked(api, user, limit=7)[1]), 15)
    finally:
        update["is_active"] = True
        assert api.call("PUT", f"/v1/items/{gone}", api.admin, update)[0] == 200


def test_explanations_decompose_the_score(world):
    api, tag, items = world
    user = f"scifi_fan_{tag}_3"
    item = recommendations(api, user)["recommendations"][0]
    status, _, body = api.call(
        "GET", f"/v1/recommendations/{item['item_id']}/explain?user_id={user}", api.reader
    )
    explanation = body["explanation"]
    assert status == 200 and explanation["would_be_recommended"] is True
    assert sum(f["weight"] for f in explanation["contributing_factors"]) == pytest.approx(1, abs=1e-3)
    assert sum(f["contribution"] for f in explanation["contributing_factors"]) == pytest.approx(
        item["score"], abs=1e-4
    )
    assert explanation["score"] == pytest.approx(item["score"], abs=1e-6)
    consumed = set(items["SciFi"][0:5])  # user 3 watched chain[3 % 3 : 3 % 3 + 5]
    assert explanation["similar_items_watched"] and set(explanation["similar_items_watched"]) <= consumed


def test_a_new_item_gets_content_based_similar_items_after_refresh(world):
    api, tag, items = world
    new = f"scifi_new_{tag}"
    body = {"title": f"Robots in space {tag}", "category": "SciFi", "tags": list(TASTES["SciFi"])}
    assert api.call("PUT", f"/v1/items/{new}", api.admin, body)[0] == 200
    status, _, before = api.call("GET", f"/v1/items/{new}/similar?limit=5", api.reader)
    assert status == 200 and before["model_version"] == "popularity-v1"  # not in the model yet
    version = refresh(api)
    assert served_by(api, f"scifi_fan_{tag}_0", version)

    def similar() -> dict:
        return api.call("GET", f"/v1/items/{new}/similar?limit=5", api.reader)[2]

    assert wait_for(lambda: similar()["model_version"] == version, 15)
    answer = similar()
    ours = [s for s in answer["similar_items"] if s["item_id"] in items["SciFi"] + items["Romance"]]
    assert ours and all(s["item_id"] in items["SciFi"] for s in ours[:3])
    assert all(s["similarity_reason"].startswith("Similar content: category SciFi") for s in ours[:3])


def test_with_redis_unreachable_precomputed_recommendations_answer_and_say_so(cloud, world, tmp_path_factory):
    api, tag, _ = world
    user = f"romance_fan_{tag}_4"
    version = refresh(api)
    assert served_by(api, user, version)
    broken = Runtime(cloud, tmp_path_factory.mktemp("no-redis"), env={"RECSYS_REDIS_PORT": str(free_port())})
    try:
        status, _, payload = broken.request(
            "GET",
            f"/v1/recommendations?user_id={user}&limit=5",
            headers={"Authorization": f"Bearer {api.reader}"},
        )
        body = json.loads(payload)
        assert status == 200, body
        assert body["model_version"] == f"precomputed:{version}"
        assert body["recommendations"] and body["recommendations"][0]["explanation"]["type"] == "precomputed"
        status, _, payload = broken.request(
            "GET",
            "/v1/recommendations?user_id=nobody_knows&limit=5",
            headers={"Authorization": f"Bearer {api.reader}"},
        )
        body = json.loads(payload)
        assert status == 200 and body["model_version"] == "popularity-v1" and body["recommendations"]
        assert "unavailable" in body["recommendations"][0]["explanation"]["reason"]
    finally:
        broken.stop()


def test_an_experiment_routes_users_between_ranking_blends_and_the_response_says_which(world):
    api, tag, _ = world
    experiment = f"ranking_{tag}"
    variants = [
        {"name": "control", "weight": 1},
        {"name": "popular", "weight": 1, "blend": {"popularity_weight": 50.0}},
    ]
    bad = [{"name": "a", "weight": 1, "blend": {"no_such_knob": 1}}, {"name": "b", "weight": 1}]
    status, _, body = api.call("PUT", f"/v1/experiments/{experiment}", api.admin, {"variants": bad})
    assert status == 400 and "no_such_knob" in body["error"]["message"]
    assert api.call("PUT", f"/v1/experiments/{experiment}", api.admin, {"variants": variants})[0] == 200

    def labelled(user: str) -> bool:  # the request path learns of an experiment within CacheCheckSeconds
        return recommendations(api, user)["model_version"].partition("/")[2].startswith(experiment)

    try:
        assert wait_for(lambda: labelled(f"scifi_fan_{tag}_0"), 10)
        seen = {}
        for u in range(USERS_PER_TASTE):
            user = f"scifi_fan_{tag}_{u}"
            answer = recommendations(api, user)
            label = answer["model_version"].partition("/")[2]
            assigned = api.call(
                "POST", f"/v1/experiments/{experiment}/assignments", api.reader, {"user_id": user}
            )
            assert label == f"{experiment}:{assigned[2]['variant']}"
            top = answer["recommendations"][0]["explanation"]["factors"][0]["factor"]
            seen[assigned[2]["variant"]] = top
        assert seen.get("popular") == "popularity" and seen.get("control") != "popularity"
    finally:
        variants = [{k: v for k, v in variant.items() if k != "blend"} for variant in variants]
        body = {"variants": variants, "is_active": False}
        assert api.call("PUT", f"/v1/experiments/{experiment}", api.admin, body)[0] == 200
        assert wait_for(lambda: not labelled(f"scifi_fan_{tag}_0"), 10)  # no later test sees it
