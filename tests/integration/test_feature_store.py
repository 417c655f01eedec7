import uuid

from recsys.connections import redis_client
from recsys.stores.feature_store import RedisFeatureStore


def user_features(settings, user_id: str) -> dict[str, str]:
    """The user's `user_features:{user_id}` hash, as the consumer left it in the stack's Redis."""
    raw = redis_client(settings).hgetall(f"user_features:{user_id}")
    return {k.decode(): v.decode() for k, v in raw.items()}


def test_features_land_in_the_stacks_own_database(settings):
    from recsys.stores.feature_store import LiveEvent

    user = f"user_{uuid.uuid4().hex[:8]}"
    RedisFeatureStore(redis_client(settings)).apply_events(
        [LiveEvent(uuid.uuid4().hex, user, "movie_1", "like", 2.0, 1_700_000_000, None)]
    )
    assert settings.redis_url.endswith("/15")
    assert redis_client(settings).exists(f"user_features:{user}") == 1


def test_an_event_is_applied_once_however_often_it_is_delivered(settings):
    from recsys.stores.feature_store import LiveEvent

    store = RedisFeatureStore(redis_client(settings))
    user = f"user_{uuid.uuid4().hex[:8]}"
    event = LiveEvent(uuid.uuid4().hex, user, "movie_1", "like", 2.0, 1_700_000_000, "Drama", "s1")
    impression = LiveEvent(uuid.uuid4().hex, user, "movie_2", "impression", 0.1, 1_700_000_100, None)
    assert [store.apply_events([event]) for _ in range(3)] == [1, 0, 0]
    assert store.apply_events([impression, event, impression]) == 1
    features = user_features(settings, user)
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
    from recsys.stores.event_claims import RedisEventClaims

    claims = RedisEventClaims(redis_client(settings))
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
    from recsys.stores.event_claims import RedisEventClaims

    claims = RedisEventClaims(redis_client(settings))
    seen, pending, released, *fresh = [uuid.uuid4().hex for _ in range(503)]
    claims.claim_many([seen, pending, released])
    claims.settle_many([seen], [released])
    assert claims.claim_many([*fresh, seen, pending, released]) == ["new"] * 500 + ["seen", "pending", "new"]
    claims.settle_many(fresh, [])
    assert claims.claim_many(fresh) == ["seen"] * 500
    assert claims.claim_many([]) == []


def test_a_batch_of_many_users_has_the_effects_of_its_events_applied_one_by_one(settings):
    """The script sums a call's events per user and item before it writes: the result must be
    what applying each event alone, in order, gives (counts, latest time, history in order and
    trimmed, popularity), and a redelivery of part of the batch must change nothing."""
    from recsys.stores.feature_store import APPLY_CHUNK, RECENT_KEPT, LiveEvent

    store, client = RedisFeatureStore(redis_client(settings)), redis_client(settings)
    actions = [("watch", 3.0), ("click", 1.0), ("impression", 0.1), ("dislike", -3.0), ("like", 2.0)]
    count = 3 * APPLY_CHUNK + 7  # several calls, users interleaved, one user past RECENT_KEPT

    def events(tag: str) -> list[LiveEvent]:
        made = []
        for n in range(count):
            action, weight = actions[n % len(actions)]
            user = f"{tag}:u{n % 4}" if n % 5 else f"{tag}:heavy"
            category = "Drama" if n % 2 else None
            made.append(
                LiveEvent(
                    f"{tag}-{n}",
                    user,
                    f"{tag}:m{n % 9}",
                    action,
                    weight,
                    1_700_000_000 + n % 50,
                    category,
                    f"s{n % 3}",
                )
            )
        return made

    def state(tag: str) -> dict:
        """The effects, with the tag taken out of the user and item ids."""
        items = [f"{tag}:m{n}" for n in range(9)]
        found = {}
        for user in [f"{tag}:u{n}" for n in range(4)] + [f"{tag}:heavy"]:
            history = store.history(user)
            found[user.split(":")[1]] = (
                user_features(settings, user),
                {item.split(":")[1]: round(weight, 6) for item, weight in history.weights.items()},
                [(r.item_id.split(":")[1], r.action, r.session_id) for r in history.recent],
            )
        found["popular"] = [round(client.zscore("popularity:all", i) or 0, 6) for i in items]
        found["drama"] = [round(client.zscore("popularity:category:drama", i) or 0, 6) for i in items]
        return found

    one, many = f"one{uuid.uuid4().hex[:6]}", f"many{uuid.uuid4().hex[:6]}"
    try:
        assert sum(store.apply_events([event]) for event in events(one)) == count
        batch = events(many)
        assert store.apply_events(batch) == count
        assert store.apply_events(batch[::3]) == 0  # a redelivery
        expected = state(one)
        heavy = [e for e in events("t") if e.user_id == "t:heavy" and e.action != "impression"]
        newest_first = [(e.item_id.split(":")[1], e.action, e.session_id) for e in reversed(heavy)]
        assert expected["heavy"][2] == newest_first[:RECENT_KEPT]
        assert state(many) == expected
    finally:  # the stack's popularity is shared: these made-up items must not top it for later tests
        made_up = [f"{tag}:m{n}" for tag in (one, many) for n in range(9)]
        client.zrem("popularity:all", *made_up)
        client.zrem("popularity:category:drama", *made_up)
