"""The kept rankings (stores/recommendation_cache.py) against the stack's real Redis."""

from __future__ import annotations

import json
import time
import uuid

from recsys.connections import redis_client
from recsys.stores.feature_store import LiveEvent, RedisFeatureStore
from recsys.stores.recommendation_cache import KEY_PREFIX, MAX_ENTRIES, RedisRecommendationCache
from tests.integration.redis_files import append_only_file

ENTRY = {"version": "v1", "ranked_at": 1.0, "recs": [["movie_1", 0.5, 1, {"type": "collaborative"}]]}


def _user() -> str:
    return f"user_{uuid.uuid4().hex[:8]}"


def test_a_kept_ranking_is_served_until_the_user_changes(settings):
    cache = RedisRecommendationCache(redis_client(settings), ttl_seconds=60)
    user = _user()
    looked = cache.lookup(user, "fp")
    assert looked.entry is None and looked.generation == ""
    assert cache.store(user, "fp", looked.generation, ENTRY)
    kept = cache.lookup(user, "fp")
    assert kept.entry is not None and kept.entry["recs"] == ENTRY["recs"]
    assert cache.lookup(user, "another request").entry is None

    cache.invalidate([user])
    after = cache.lookup(user, "fp")
    assert after.entry is None and after.generation not in ("", looked.generation)
    assert cache.store(user, "fp", after.generation, ENTRY)
    assert cache.lookup(user, "fp").entry is not None


def test_a_ranking_that_raced_a_change_is_not_kept(settings):
    """The generation is read before ranking starts; if the user changed meanwhile, the ranking
    (made from what they were before) must not be stored, however the change and the store
    interleave."""
    cache = RedisRecommendationCache(redis_client(settings), ttl_seconds=60)
    user = _user()
    before = cache.lookup(user, "fp").generation  # no hash yet
    cache.invalidate([user])  # the change lands while the ranking runs
    assert not cache.store(user, "fp", before, ENTRY)
    assert cache.lookup(user, "fp").entry is None

    now = cache.lookup(user, "fp").generation
    cache.invalidate([user])
    assert not cache.store(user, "fp", now, ENTRY)
    assert cache.lookup(user, "fp").entry is None


def test_generations_do_not_repeat_after_the_hash_expires(settings):
    client = redis_client(settings)
    cache = RedisRecommendationCache(client, ttl_seconds=60)
    user = _user()
    cache.invalidate([user])
    old = cache.lookup(user, "fp").generation
    client.delete(KEY_PREFIX + user)  # expired
    cache.invalidate([user])
    assert cache.lookup(user, "fp").generation != old
    assert not cache.store(user, "fp", old, ENTRY)


def test_an_entry_older_than_the_ttl_or_not_ours_is_not_served(settings):
    client = redis_client(settings)
    cache = RedisRecommendationCache(client, ttl_seconds=30)
    user = _user()
    assert cache.store(user, "fp", "", ENTRY)
    assert 0 < client.ttl(KEY_PREFIX + user) <= 30
    stale = {**ENTRY, "g": "", "at": time.time() - 31}
    client.hset(KEY_PREFIX + user, "fp", json.dumps(stale))
    assert cache.lookup(user, "fp").entry is None
    client.hset(KEY_PREFIX + user, "fp", "not json")
    assert cache.lookup(user, "fp").entry is None


def test_a_user_holds_at_most_max_entries_and_keeps_their_generation(settings):
    client = redis_client(settings)
    cache = RedisRecommendationCache(client, ttl_seconds=60)
    user = _user()
    cache.invalidate([user])
    generation = cache.lookup(user, "fp").generation
    for n in range(3 * MAX_ENTRIES):
        assert cache.store(user, f"fp{n}", generation, ENTRY)
        assert client.hlen(KEY_PREFIX + user) <= MAX_ENTRIES + 1  # the entries and the generation
    assert cache.lookup(user, f"fp{3 * MAX_ENTRIES - 1}").entry is not None
    assert cache.lookup(user, "fp").generation == generation


def test_the_features_script_drops_the_rankings_of_users_whose_history_changed(settings):
    client = redis_client(settings)
    cache, features = RedisRecommendationCache(client, 60), RedisFeatureStore(client)
    watcher, glancer = _user(), _user()
    for user in (watcher, glancer):
        assert cache.store(user, "fp", "", ENTRY)
    features.apply_events(
        [
            LiveEvent(uuid.uuid4().hex, watcher, "movie_1", "watch", 1.0, 1_700_000_000, None),
            LiveEvent(uuid.uuid4().hex, glancer, "movie_1", "impression", 0.1, 1_700_000_000, None),
        ]
    )
    assert cache.lookup(watcher, "fp").entry is None  # an action: history changed
    assert cache.lookup(glancer, "fp").entry is not None  # an impression: it did not


def test_entries_are_not_written_to_the_append_only_file_but_invalidations_are(settings):
    """A store must not wait for an fsync; an invalidation must survive a restart of Redis."""
    client = redis_client(settings)
    cache = RedisRecommendationCache(client, ttl_seconds=60)
    aof = append_only_file(client)
    offset = aof.stat().st_size
    kept, changed = _user(), _user()
    assert cache.store(kept, "fp", "", ENTRY)
    cache.invalidate([changed])
    with aof.open("rb") as appended:
        appended.seek(offset)
        written = appended.read()
    assert changed.encode() in written
    assert kept.encode() not in written
