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
