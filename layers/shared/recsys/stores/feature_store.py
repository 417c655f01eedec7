"""Real-time user and item features (Redis, spec: `user_features:{user_id}`, `user_embedding:{user_id}`).

A user's history for the model lives here too, written by the ingest path as events arrive:
`user_items:{user_id}` (item -> summed action weight, every item the user ever acted on) and
`user_recent:{user_id}` (the newest RECENT_KEPT actions, newest first, `item_id<TAB>action<TAB>session_id`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import redis

FeatureValue = str | int | float


USER_FEATURES_TTL = 30 * 86400
RECENT_KEPT = 50
APPLIED_TTL = 2 * 86400  # longer than the stream keeps a record (24 h), so no redelivery outlives it

# One event's every real-time effect and the mark that it was applied, in one atomic step: a retry
# (after a crash, a timeout, Redis restarting) applies nothing twice and misses nothing.
# KEYS: applied mark, user_features, user_items, user_recent, popularity:all, popularity of the category
# ARGV: action, weight, item, last_time, recent entry ('' for an impression), ttls, kept, has category
_APPLY_EVENT = """
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[6]) == false then return 0 end
local action, weight, item = ARGV[1], tonumber(ARGV[2]), ARGV[3]
redis.call('HINCRBY', KEYS[2], 'count_' .. action, 1)
redis.call('HINCRBY', KEYS[2], 'interactions_total', 1)
local last = tonumber(redis.call('HGET', KEYS[2], 'last_interaction_time') or '0')
if tonumber(ARGV[4]) > last then redis.call('HSET', KEYS[2], 'last_interaction_time', ARGV[4]) end
redis.call('EXPIRE', KEYS[2], ARGV[7])
redis.call('ZINCRBY', KEYS[5], weight, item)
if ARGV[9] == '1' then redis.call('ZINCRBY', KEYS[6], weight, item) end
if ARGV[5] ~= '' then
  redis.call('HINCRBYFLOAT', KEYS[3], item, weight)
  redis.call('LPUSH', KEYS[4], ARGV[5])
  redis.call('LTRIM', KEYS[4], 0, tonumber(ARGV[8]) - 1)
end
return 1
"""


@dataclass(frozen=True)
class LiveEvent:
    """An interaction as the real-time features take it in."""

    event_id: str
    user_id: str
    item_id: str
    action: str
    weight: float
    event_time: int  # epoch seconds
    category: str | None = None
    session_id: str | None = None


@dataclass(frozen=True)
class UserHistory:
    weights: dict[str, float]  # item -> summed action weight
    recent: list[RecentAction]  # newest first


@dataclass(frozen=True)
class RecentAction:
    item_id: str
    action: str
    session_id: str | None


@dataclass(frozen=True)
class StoredEmbedding:
    vector: bytes
    version: str
    updated_at: str


class FeatureStore(Protocol):
    def put_user_features(
        self, user_id: str, features: Mapping[str, FeatureValue], ttl_seconds: int
    ) -> None: ...
    def get_user_features(self, user_id: str) -> dict[str, str]: ...
    def popular(self, limit: int, category: str | None = None) -> list[tuple[str, float]]: ...
    def apply_event(self, event: LiveEvent) -> bool: ...
    def apply_events(self, events: Sequence[LiveEvent]) -> int: ...
    def history(self, user_id: str) -> UserHistory: ...
    def put_user_embeddings(self, vectors: Mapping[str, bytes], version: str, updated_at: str) -> None: ...
    def get_user_embedding(self, user_id: str) -> StoredEmbedding | None: ...


class RedisFeatureStore:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client
        self._apply = client.register_script(_APPLY_EVENT)

    def apply_event(self, event: LiveEvent) -> bool:
        """Apply one event's effects (counts, popularity, the user's history) exactly once: True if
        this call applied them, False if they had been applied before."""
        return bool(int(self._apply(keys=self._keys(event), args=self._args(event))))

    def apply_events(self, events: Sequence[LiveEvent]) -> int:
        """apply_event for many events in one round trip (a pipeline of the same script, each
        call atomic on its own). Returns how many were applied now."""
        with self._redis.pipeline(transaction=False) as pipe:
            for event in events:
                self._apply(keys=self._keys(event), args=self._args(event), client=pipe)
            return sum(int(applied) for applied in pipe.execute())

    def _keys(self, event: LiveEvent) -> list[str]:
        return [
            f"applied:{event.event_id}",
            self.user_key(event.user_id),
            f"user_items:{event.user_id}",
            f"user_recent:{event.user_id}",
            self.popularity_key(None),
            self.popularity_key(event.category or "none"),
        ]

    @staticmethod
    def _args(event: LiveEvent) -> list[str | int | float]:
        recent = (
            ""
            if event.action == "impression"
            else f"{event.item_id}\t{event.action}\t{event.session_id or ''}"
        )
        return [
            event.action,
            event.weight,
            event.item_id,
            event.event_time,
            recent,
            APPLIED_TTL,
            USER_FEATURES_TTL,
            RECENT_KEPT,
            "1" if event.category else "0",
        ]

    @staticmethod
    def user_key(user_id: str) -> str:
        return f"user_features:{user_id}"

    def put_user_features(self, user_id: str, features: Mapping[str, FeatureValue], ttl_seconds: int) -> None:
        """Merge `features` into the user's hash and (re)start its time to live."""
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive")
        key = self.user_key(user_id)
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping=dict(features))
            pipe.expire(key, ttl_seconds)
            pipe.execute()

    def get_user_features(self, user_id: str) -> dict[str, str]:
        raw: dict[bytes, bytes] = self._redis.hgetall(self.user_key(user_id))  # type: ignore[assignment]
        return {k.decode(): v.decode() for k, v in raw.items()}

    @staticmethod
    def popularity_key(category: str | None) -> str:
        return "popularity:all" if category is None else f"popularity:category:{category.lower()}"

    def popular(self, limit: int, category: str | None = None) -> list[tuple[str, float]]:
        ranked = self._redis.zrevrange(self.popularity_key(category), 0, limit - 1, withscores=True)
        return [(member.decode(), float(score)) for member, score in ranked]  # type: ignore[union-attr]

    def history(self, user_id: str) -> UserHistory:
        with self._redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(f"user_items:{user_id}")
            pipe.lrange(f"user_recent:{user_id}", 0, RECENT_KEPT - 1)
            weights, recent = pipe.execute()
        entries = [raw.decode().split("\t") for raw in recent]
        return UserHistory(
            weights={k.decode(): float(v) for k, v in weights.items()},
            recent=[RecentAction(e[0], e[1], e[2] or None) for e in entries if len(e) == 3],
        )

    def put_user_embeddings(self, vectors: Mapping[str, bytes], version: str, updated_at: str) -> None:
        """The spec's `user_embedding:{user_id}` hashes: vector (float32 bytes), version, updated_at."""
        with self._redis.pipeline(transaction=False) as pipe:
            for user_id, vector in vectors.items():
                key = f"user_embedding:{user_id}"
                pipe.hset(key, mapping={"vector": vector, "version": version, "updated_at": updated_at})
                pipe.expire(key, USER_FEATURES_TTL)
            pipe.execute()

    def get_user_embedding(self, user_id: str) -> StoredEmbedding | None:
        raw: dict[bytes, bytes] = self._redis.hgetall(f"user_embedding:{user_id}")  # type: ignore[assignment]
        if not raw:
            return None
        return StoredEmbedding(raw[b"vector"], raw[b"version"].decode(), raw[b"updated_at"].decode())

    def has_marker(self, name: str) -> bool:
        return bool(self._redis.exists(f"marker:{name}"))

    def set_marker(self, name: str) -> None:
        self._redis.set(f"marker:{name}", "1")

    def forget_user_embedding(self, user_id: str) -> None:
        self._redis.delete(f"user_embedding:{user_id}")

    def forget_item_embedding(self, item_id: str) -> None:
        self._redis.delete(f"item_embedding:{item_id}")
