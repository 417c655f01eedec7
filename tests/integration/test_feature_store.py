import uuid

import pytest

from recsys.connections import redis_client
from recsys.stores.feature_store import RedisFeatureStore


def test_user_features_are_merged_and_expire(settings):
    store = RedisFeatureStore(redis_client(settings))
    user = f"user_{uuid.uuid4().hex[:8]}"
    store.put_user_features(user, {"engagement_score": 0.75, "preferred_categories": "sci-fi,action"}, 120)
    store.put_user_features(user, {"last_interaction_time": 1705764600}, 60)
    assert store.get_user_features(user) == {
        "engagement_score": "0.75",
        "preferred_categories": "sci-fi,action",
        "last_interaction_time": "1705764600",
    }
    ttl = redis_client(settings).ttl(f"user_features:{user}")
    assert 0 < ttl <= 60


def test_features_land_in_the_stacks_own_database(settings):
    store = RedisFeatureStore(redis_client(settings))
    user = f"user_{uuid.uuid4().hex[:8]}"
    store.put_user_features(user, {"x": 1}, 30)
    assert settings.redis_url.endswith("/15")
    assert redis_client(settings).exists(f"user_features:{user}") == 1


def test_ttl_must_be_positive(settings):
    with pytest.raises(ValueError):
        RedisFeatureStore(redis_client(settings)).put_user_features("u", {"x": 1}, 0)


def test_an_event_is_applied_once_however_often_it_is_delivered(settings):
    from recsys.stores.feature_store import LiveEvent

    store = RedisFeatureStore(redis_client(settings))
    user = f"user_{uuid.uuid4().hex[:8]}"
    event = LiveEvent(uuid.uuid4().hex, user, "movie_1", "like", 2.0, 1_700_000_000, "Drama", "s1")
    impression = LiveEvent(uuid.uuid4().hex, user, "movie_2", "impression", 0.1, 1_700_000_100, None)
    assert [store.apply_events([event]) for _ in range(3)] == [1, 0, 0]
    assert store.apply_events([impression, event, impression]) == 1
    features = store.get_user_features(user)
    assert (features["interactions_total"], features["count_like"], features["count_impression"]) == (
        "2",
        "1",
        "1",
    )
    assert features["last_interaction_time"] == "1700000100"
    history = store.history(user)
    assert history.weights == {"movie_1": 2.0}  # impressions are exposure, not history
    assert [(r.item_id, r.session_id) for r in history.recent] == [("movie_1", "s1")]
    client = redis_client(settings)
    assert client.zscore("popularity:category:drama", "movie_1") == 2.0
    assert 0 < client.ttl(f"applied:{event.event_id}") <= 2 * 86400


def test_a_duplicate_is_only_answered_as_one_after_the_original_was_published(settings):
    from recsys.logic.interactions import EventClaims

    claims = EventClaims(redis_client(settings))
    event_id = uuid.uuid4().hex
    assert claims.claim_many([event_id]) == ["new"]
    assert claims.claim_many([event_id]) == ["pending"]  # the original is still being published
    claims.settle_many([], [event_id])  # its publish failed: the retry is a new attempt, not a duplicate
    assert claims.claim_many([event_id]) == ["new"]
    claims.settle_many([event_id], [])
    assert claims.claim_many([event_id]) == ["seen"]
    assert 86000 < redis_client(settings).ttl(f"interaction_event:{event_id}") <= 86400
    pending = uuid.uuid4().hex
    claims.claim_many([pending])
    assert (
        0 < redis_client(settings).ttl(f"interaction_event:{pending}") <= 30
    )  # a dead request's claim expires


def test_claims_of_a_batch_come_back_in_order_and_settle_together(settings):
    from recsys.logic.interactions import EventClaims

    claims = EventClaims(redis_client(settings))
    seen, pending, released, *fresh = [uuid.uuid4().hex for _ in range(503)]
    claims.claim_many([seen, pending, released])
    claims.settle_many([seen], [released])
    assert claims.claim_many([*fresh, seen, pending, released]) == ["new"] * 500 + ["seen", "pending", "new"]
    claims.settle_many(fresh, [])
    assert claims.claim_many(fresh) == ["seen"] * 500
    assert claims.claim_many([]) == []
