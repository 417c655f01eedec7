"""What the engine reads and writes, against the real servers: the real-time history and user
embeddings (Redis), precomputed recommendations and the catalog (PostgreSQL), the log scan
(Cassandra)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import numpy as np

from recsys.connections import cassandra_session, postgres_connection, redis_client
from recsys.domain import Interaction, Item
from recsys.stores.catalog import PostgresCatalog
from recsys.stores.feature_store import LiveEvent, RedisFeatureStore
from recsys.stores.interaction_log import CassandraInteractionLog
from recsys.stores.precomputed import PostgresPrecomputedStore, PrecomputedRow


def test_history_keeps_summed_weights_and_the_newest_actions_first(settings):
    store = RedisFeatureStore(redis_client(settings))
    user = f"user_{uuid.uuid4().hex[:8]}"
    store.apply_events(
        [
            LiveEvent(f"{user}-1", user, "a", "watch", 3.0, 1, None, "s1"),
            LiveEvent(f"{user}-2", user, "b", "dislike", -3.0, 2, None, None),
            LiveEvent(f"{user}-3", user, "a", "purchase", 5.0, 3, None, "s2"),
        ]
    )
    history = store.history(user)
    assert history.weights == {"a": 8.0, "b": -3.0}
    assert [(r.item_id, r.action, r.session_id) for r in history.recent] == [
        ("a", "purchase", "s2"),
        ("b", "dislike", None),
        ("a", "watch", "s1"),
    ]
    store.apply_events([LiveEvent(f"{user}-x{n}", user, f"x{n}", "click", 1.0, 10 + n) for n in range(60)])
    assert len(store.history(user).recent) == 50  # the newest RECENT_KEPT only; weights keep everything
    assert len(store.history(user).weights) == 62


def test_user_embeddings_use_the_specs_keys(settings):
    store = RedisFeatureStore(redis_client(settings))
    user = f"user_{uuid.uuid4().hex[:8]}"
    vector = np.arange(4, dtype=np.float32)
    store.put_user_embeddings({user: vector.tobytes()}, "v1", "2026-11-29T00:00:00+00:00")
    raw = redis_client(settings).hgetall(f"user_embedding:{user}")
    assert set(raw) == {b"vector", b"version", b"updated_at"}
    stored = store.get_user_embedding(user)
    assert stored is not None and stored.version == "v1"
    assert np.array_equal(np.frombuffer(stored.vector, dtype=np.float32), vector)


def test_precomputed_rows_are_replaced_whole_and_expire(settings):
    store = PostgresPrecomputedStore(postgres_connection(settings))
    user = f"user_{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    kind = f"kind_{uuid.uuid4().hex[:6]}"
    old = [PrecomputedRow(user, f"i{r}", r, 1.0 / r, "collaborative", "v1") for r in (1, 2, 3)]
    store.replace(kind, old, now, now + timedelta(hours=1))
    assert [r.item_id for r in store.for_user(user, kind, now)] == ["i1", "i2", "i3"]
    store.replace(
        kind, [PrecomputedRow(user, "j1", 1, 0.5, "popularity", "v2")], now, now + timedelta(hours=1)
    )
    assert [(r.item_id, r.model_version) for r in store.for_user(user, kind, now)] == [("j1", "v2")]
    assert store.for_user(user, kind, now + timedelta(hours=2)) == []  # expired rows are not served


def test_the_log_scan_returns_every_event_with_its_rating(settings):
    log = CassandraInteractionLog(cassandra_session(settings))
    user = f"user_{uuid.uuid4().hex[:8]}"
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    for n, (item, rating) in enumerate([("m1", "4"), ("m2", None), ("m3", "not a number")]):
        context = {"rating": rating} if rating is not None else {}
        log.append_many(
            [Interaction(f"{user}-{n}", user, item, "watch", t0 + timedelta(seconds=n), context=context)]
        )
    mine = sorted((e for e in log.scan(page_size=7) if e.user_id == user), key=lambda e: e.event_time)
    assert [e.item_id for e in mine] == ["m1", "m2", "m3"]
    assert [e.rating for e in mine] == [4.0, None, None]


def test_the_catalog_lists_active_items(settings):
    catalog = PostgresCatalog(postgres_connection(settings))
    tag = uuid.uuid4().hex[:6]
    catalog.upsert_items([Item(f"on_{tag}", "On"), Item(f"off_{tag}", "Off", is_active=False)])
    active = {i.item_id for i in catalog.active_items()}
    assert f"on_{tag}" in active and f"off_{tag}" not in active


def test_counters_count_each_event_once(settings):
    catalog = PostgresCatalog(postgres_connection(settings))
    tag = uuid.uuid4().hex[:6]
    catalog.upsert_items([Item(f"counted_{tag}", "Counted")])
    events = [(f"{tag}-{n}", f"user_{tag}", f"counted_{tag}") for n in range(3)]
    assert catalog.count_interactions(events) == 3
    assert catalog.count_interactions([*events, (f"{tag}-9", f"user_{tag}", None)]) == 1  # only the new one
    item = catalog.get_item(f"counted_{tag}")
    user = catalog.get_user(f"user_{tag}")
    assert item is not None and item.interaction_count == 3
    assert user is not None and user.total_interactions == 4
    assert catalog.forget_applied_events(older_than_seconds=3600) == 0  # all recent: kept
