"""In-memory stand-ins for the stores, for unit tests that need no server.

Each fake satisfies the Protocol it stands in for, and mypy checks it (the block at the end, and
every place a fake is passed as its Protocol): a fake whose method drifts from the store's
signature fails `make lint`, not a test at run time. The adapters themselves are tested against
the real servers in tests/integration.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import psycopg
from redis.exceptions import ConnectionError as RedisConnectionError

from recsys.domain import Interaction, Item, User
from recsys.engine.bundle import ModelBundle
from recsys.logic.recommend import PRECOMPUTED_KIND
from recsys.stores.failure_queue import Parked
from recsys.stores.feature_store import LiveEvent, RecentAction, StoredEmbedding, UserHistory
from recsys.stores.interaction_log import ItemInteraction, LoggedEvent
from recsys.stores.precomputed import PrecomputedRow
from recsys.stores.recommendation_cache import CachedRanking
from recsys.stores.user_signals import UserSignals


class FakeCatalog:
    """Catalog: items by id; popularity is each item's interaction_count, as in PostgreSQL."""

    def __init__(self, items: Iterable[Item] = ()) -> None:
        self.items = {item.item_id: item for item in items}
        self.users: dict[str, User] = {}
        self.counted_events: set[str] = set()

    def upsert_item(self, item: Item) -> None:
        self.items[item.item_id] = item

    def upsert_items(self, items: list[Item]) -> None:
        for item in items:
            self.upsert_item(item)

    def get_item(self, item_id: str) -> Item | None:
        return self.items.get(item_id)

    def get_items(self, item_ids: list[str]) -> dict[str, Item]:
        return {i: self.items[i] for i in item_ids if i in self.items}

    def categories(self, item_ids: list[str]) -> dict[str, str | None]:
        return {i: self.items[i].category for i in item_ids if i in self.items}

    def popular_items(self, limit: int, category: str | None = None) -> list[tuple[str, float]]:
        active = [i for i in self.active_items() if category is None or i.category == category]
        ranked = sorted(active, key=lambda i: (-i.interaction_count, i.item_id))
        return [(i.item_id, float(i.interaction_count)) for i in ranked[:limit]]

    def upsert_user(self, user: User) -> None:
        self.users[user.user_id] = user

    def get_user(self, user_id: str) -> User | None:
        return self.users.get(user_id)

    def active_items(self) -> list[Item]:
        return [item for item in self.items.values() if item.is_active]

    def count_interactions(self, events: list[tuple[str, str, str | None]]) -> int:
        new = 0
        for event_id, _, item_id in events:
            if event_id in self.counted_events:
                continue
            self.counted_events.add(event_id)
            new += 1
            if item_id is not None and (item := self.items.get(item_id)) is not None:
                self.items[item_id] = dataclasses.replace(item, interaction_count=item.interaction_count + 1)
        return new

    def counted(self, event_ids: list[str]) -> int:
        return len(set(event_ids) & self.counted_events)

    def forget_applied_events(self, older_than_seconds: int) -> int:
        return 0  # the marks here carry no time: none is ever old enough


class FakeFeatureStore:
    """FeatureStore: histories by user and popularity scores; `down` is Redis unreachable."""

    def __init__(
        self,
        histories: Mapping[str, UserHistory] | None = None,
        popularity: Mapping[str, float] | None = None,
        categories: Mapping[str, str | None] | None = None,
        events_applied: int = 0,
        down: bool = False,
    ) -> None:
        self.histories = dict(histories or {})
        self.popularity = dict(popularity or {})
        self.categories = dict(categories or {})
        self.applied_ids: set[str] = set()
        self.applied_count = events_applied
        self.embeddings: dict[str, StoredEmbedding] = {}
        self.down = down

    def _reachable(self) -> None:
        if self.down:
            raise RedisConnectionError("redis is down")

    def popular(self, limit: int, category: str | None = None) -> list[tuple[str, float]]:
        self._reachable()
        wanted = category.lower() if category else None
        ranked = sorted(
            (
                (item_id, score)
                for item_id, score in self.popularity.items()
                if wanted is None or (self.categories.get(item_id) or "").lower() == wanted
            ),
            key=lambda entry: (-entry[1], entry[0]),
        )
        return ranked[:limit]

    def apply_events(self, events: Sequence[LiveEvent]) -> int:
        self._reachable()
        new = [e for e in events if e.event_id not in self.applied_ids]
        for event in new:
            self.applied_ids.add(event.event_id)
            history = self.histories.setdefault(event.user_id, UserHistory({}, []))
            history.weights[event.item_id] = history.weights.get(event.item_id, 0.0) + event.weight
            if event.action != "impression":
                history.recent.insert(0, RecentAction(event.item_id, event.action, event.session_id))
            self.popularity[event.item_id] = self.popularity.get(event.item_id, 0.0) + event.weight
        self.applied_count += len(new)
        return len(new)

    def applied(self, event_ids: Sequence[str]) -> list[bool]:
        self._reachable()
        return [event_id in self.applied_ids for event_id in event_ids]

    def history(self, user_id: str) -> UserHistory:
        self._reachable()
        return self.histories.get(user_id, UserHistory({}, []))

    def events_applied(self) -> int:
        self._reachable()
        return self.applied_count

    def put_user_embeddings(self, vectors: Mapping[str, bytes], version: str, updated_at: str) -> None:
        self._reachable()
        self.embeddings.update({u: StoredEmbedding(v, version, updated_at) for u, v in vectors.items()})

    def get_user_embedding(self, user_id: str) -> StoredEmbedding | None:
        self._reachable()
        return self.embeddings.get(user_id)


class FakeRecommendationCache:
    """RecommendationCache: entries by (user, fingerprint) with the users' generations, kept as
    JSON as Redis keeps them; `down` is Redis unreachable."""

    def __init__(self, down: bool = False) -> None:
        self.generations: dict[str, str] = {}
        self.entries: dict[tuple[str, str], str] = {}
        self.down = down
        self._next = 0

    def _reachable(self) -> None:
        if self.down:
            raise RedisConnectionError("redis is down")

    def lookup(self, user_id: str, fingerprint: str) -> CachedRanking:
        self._reachable()
        generation = self.generations.get(user_id, "")
        raw = self.entries.get((user_id, fingerprint))
        entry = json.loads(raw) if raw is not None else None
        return CachedRanking(generation, entry if entry and entry["g"] == generation else None)

    def store(self, user_id: str, fingerprint: str, generation: str, entry: dict[str, Any]) -> bool:
        self._reachable()
        if self.generations.get(user_id, "") != generation:
            return False
        self.entries[(user_id, fingerprint)] = json.dumps({**entry, "g": generation})
        return True

    def invalidate(self, user_ids: list[str]) -> None:
        self._reachable()
        self._next += 1
        for user_id in user_ids:
            self.generations[user_id] = str(self._next)
            self.entries = {k: v for k, v in self.entries.items() if k[0] != user_id}


class FakeSignals:
    """UserSignalReader: the same signals for every user."""

    def __init__(self, signals: UserSignals | None = None) -> None:
        self.signals = signals or UserSignals(excluded=frozenset(), favourite_categories=())

    def for_user(self, user_id: str) -> UserSignals:
        return self.signals


class FakePrecomputed:
    """PrecomputedStore: rows by kind, each set until it expires (the constructor's never do);
    `down` is PostgreSQL unreachable."""

    def __init__(self, rows: Iterable[PrecomputedRow] = (), down: bool = False) -> None:
        self.kinds: dict[str, tuple[list[PrecomputedRow], datetime | None]] = {
            PRECOMPUTED_KIND: (list(rows), None)
        }
        self.down = down

    def replace(
        self, kind: str, rows: list[PrecomputedRow], computed_at: datetime, expires_at: datetime
    ) -> None:
        self.kinds[kind] = (list(rows), expires_at)

    def for_user(self, user_id: str, kind: str, now: datetime) -> list[PrecomputedRow]:
        if self.down:
            raise psycopg.OperationalError("connection refused")
        rows, expires_at = self.kinds.get(kind, ([], None))
        if expires_at is not None and now >= expires_at:
            return []
        return sorted((r for r in rows if r.user_id == user_id), key=lambda r: r.rank)


class FakeModels:
    """Models: the current bundle (None: nothing trained yet), or the error loading it raises."""

    def __init__(self, bundle: ModelBundle | None = None, error: Exception | None = None) -> None:
        self.bundle, self.error = bundle, error

    def current(self) -> ModelBundle | None:
        if self.error is not None:
            raise self.error
        return self.bundle


class FakeFeedback:
    """NotInterestedFeedback: the pairs the refresh reads."""

    def __init__(self, not_interested: Iterable[tuple[str, str]] = ()) -> None:
        self.pairs = list(not_interested)

    def not_interested_pairs(self) -> list[tuple[str, str]]:
        return list(self.pairs)


class FakeFailureQueue:
    """FailureQueue: the messages parked, in the shape the SQS queue keeps them."""

    def __init__(self) -> None:
        self.messages: list[Parked] = []

    def park(self, consumer: str, data: str, sequence_number: str, error: str) -> None:
        body = {
            "condition": "RecordCannotBeApplied",
            "consumer": consumer,
            "error": error,
            "record": {"data": data, "sequenceNumber": sequence_number},
        }
        self.messages.append(Parked(f"receipt-{len(self.messages)}", body, 0.0))

    def receive(self, limit: int) -> list[Parked]:
        return self.messages[:limit]

    def remove(self, parked: Parked) -> None:
        self.messages.remove(parked)


class FakeInteractionLog:
    """InteractionLog: the interactions appended, newest first per user and per item."""

    def __init__(self, interactions: Iterable[Interaction] = ()) -> None:
        self.interactions = list(interactions)

    def append_many(self, interactions: list[Interaction], concurrency: int = 32) -> None:
        self.interactions += interactions

    def has_event(self, user_id: str, event_id: str) -> bool:
        return any(i.user_id == user_id and i.event_id == event_id for i in self.interactions)

    def _newest_first(self) -> list[Interaction]:
        return sorted(self.interactions, key=lambda i: i.event_time, reverse=True)

    def for_user(self, user_id: str, limit: int = 100) -> list[Interaction]:
        return [i for i in self._newest_first() if i.user_id == user_id][:limit]

    def for_item(self, item_id: str, limit: int = 100) -> list[ItemInteraction]:
        return [
            ItemInteraction(i.user_id, i.action, i.event_time, i.event_id)
            for i in self._newest_first()
            if i.item_id == item_id
        ][:limit]

    def scan(self, page_size: int = 5000) -> Iterator[LoggedEvent]:
        for i in self.interactions:
            rating = i.context.get("rating")
            yield LoggedEvent(i.user_id, i.item_id, i.action, i.event_time, float(rating) if rating else None)


if TYPE_CHECKING:  # each fake against the Protocol it stands in for (mypy reads this; nothing runs it)
    from recsys.logic.recommend import Models
    from recsys.stores.catalog import Catalog, CatalogReader
    from recsys.stores.failure_queue import FailureQueue
    from recsys.stores.feature_store import FeatureStore
    from recsys.stores.feedback import NotInterestedFeedback
    from recsys.stores.interaction_log import InteractionLog
    from recsys.stores.precomputed import PrecomputedStore
    from recsys.stores.user_signals import UserSignalReader

    _catalog: Catalog = FakeCatalog()
    _catalog_reader: CatalogReader = FakeCatalog()
    _features: FeatureStore = FakeFeatureStore()
    _signals: UserSignalReader = FakeSignals()
    _precomputed: PrecomputedStore = FakePrecomputed()
    _models: Models = FakeModels()
    _log: InteractionLog = FakeInteractionLog()
    _failures: FailureQueue = FakeFailureQueue()
    _feedback: NotInterestedFeedback = FakeFeedback()
