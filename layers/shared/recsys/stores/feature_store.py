"""Real-time user and item features (Redis, spec: `user_features:{user_id}`, `user_embedding:{user_id}`).

A user's history for the model lives here too, written by the ingest path as events arrive:
`user_items:{user_id}` (item -> summed action weight, every item the user ever acted on) and
`user_recent:{user_id}` (the newest RECENT_KEPT actions, newest first, `item_id<TAB>action<TAB>session_id`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from recsys.stores.recommendation_cache import INVALIDATE_LUA

if TYPE_CHECKING:
    import redis


USER_FEATURES_TTL = 30 * 86400
RECENT_KEPT = 50
APPLIED_TTL = 2 * 86400  # longer than the stream keeps a record (24 h), so no redelivery outlives it

# Events' real-time effects, each with the mark that it was applied, in one atomic step: a retry
# (after a crash, a timeout, Redis restarting) applies nothing twice and misses nothing. The events
# come as one JSON argument (event id, user, item, action, weight, epoch seconds, lower-cased
# category or '', recent entry or '' for an impression): one argument instead of fifteen per event
# cut the consumer's own time by half. The events newly marked are summed per user, per user and
# item, and per item before anything is written, so a user's events in one call cost one update of
# each of their keys, not one per event (a Redis command from a script costs about 2 us however
# little it does). The key names are built here, so this needs one Redis (or ElastiCache without
# cluster mode), as the popularity keys beside each user's keys already do.
# A user whose history changed gets a new generation of cached recommendations (their cached
# rankings are dropped: stores/recommendation_cache.py), in the same step; an impression changes
# no history, so it leaves them be.
# `events:applied` counts every event applied, for the refresh to choose where it trains, and
# `events:applied:minute:<epoch minute>` those applied in each minute of the consumer's clock (kept
# MINUTES_KEPT minutes), for GET /v1/ingest's events per minute.
# ARGV: events, applied ttl, features ttl, recent kept, epoch minute, per-minute ttl
_APPLY_EVENTS = (
    """
local events = cjson.decode(ARGV[1])
local applied, users, order, items, categories = 0, {}, {}, {}, {}
for _, e in ipairs(events) do
  if redis.call('SET', 'applied:' .. e[1], '1', 'NX', 'EX', ARGV[2]) then
    applied = applied + 1
    local user, item, action, weight, at = e[2], e[3], e[4], tonumber(e[5]), tonumber(e[6])
    local u = users[user]
    if not u then
      u = {counts = {}, total = 0, last = 0, weights = {}, recent = {}}
      users[user] = u
      order[#order + 1] = user
    end
    u.counts[action] = (u.counts[action] or 0) + 1
    u.total = u.total + 1
    if at > u.last then u.last = at end
    items[item] = (items[item] or 0) + weight
    if e[7] ~= '' then
      local category = categories[e[7]] or {}
      categories[e[7]] = category
      category[item] = (category[item] or 0) + weight
    end
    if e[8] ~= '' then
      u.weights[item] = (u.weights[item] or 0) + weight
      u.recent[#u.recent + 1] = e[8]
    end
  end
end
local changed = {}
for _, user in ipairs(order) do
  local u, features = users[user], 'user_features:' .. user
  for action, n in pairs(u.counts) do redis.call('HINCRBY', features, 'count_' .. action, n) end
  redis.call('HINCRBY', features, 'interactions_total', u.total)
  local last = tonumber(redis.call('HGET', features, 'last_interaction_time') or '0')
  if u.last > last then redis.call('HSET', features, 'last_interaction_time', string.format('%d', u.last)) end
  redis.call('EXPIRE', features, ARGV[3])
  if #u.recent > 0 then
    for item, weight in pairs(u.weights) do
      redis.call('HINCRBYFLOAT', 'user_items:' .. user, item, weight)
    end
    redis.call('LPUSH', 'user_recent:' .. user, unpack(u.recent))
    redis.call('LTRIM', 'user_recent:' .. user, 0, tonumber(ARGV[4]) - 1)
    changed[#changed + 1] = user
  end
end
if #changed > 0 then
  local invalidated = changed
"""
    + INVALIDATE_LUA
    + """
end
if applied > 0 then
  redis.call('INCRBY', 'events:applied', applied)
  local minute = 'events:applied:minute:' .. ARGV[5]
  redis.call('INCRBY', minute, applied)
  redis.call('EXPIRE', minute, ARGV[6])
end
for item, weight in pairs(items) do redis.call('ZINCRBY', 'popularity:all', weight, item) end
for category, weights in pairs(categories) do
  for item, weight in pairs(weights) do
    redis.call('ZINCRBY', 'popularity:category:' .. category, weight, item)
  end
end
return applied
"""
)
# Events per script call: one call blocks Redis while it runs (about 1 ms for 100 events of
# different users), and the request path reads Redis too.
APPLY_CHUNK = 100
MINUTES_KEPT = 120


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
    def popular(self, limit: int, category: str | None = None) -> list[tuple[str, float]]: ...
    def apply_events(self, events: Sequence[LiveEvent]) -> int: ...
    def applied(self, event_ids: Sequence[str]) -> list[bool]: ...
    def history(self, user_id: str) -> UserHistory: ...
    def events_applied(self) -> int: ...
    def put_user_embeddings(self, vectors: Mapping[str, bytes], version: str, updated_at: str) -> None: ...
    def get_user_embedding(self, user_id: str) -> StoredEmbedding | None: ...


class AppliedEvents(Protocol):
    """What the real-time features have taken in: in all, and in each recent minute."""

    def events_applied(self) -> int: ...
    def applied_per_minute(self, minutes: int, now: float) -> list[tuple[int, int]]: ...


class RedisFeatureStore:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client
        self._apply = client.register_script(_APPLY_EVENTS)

    def apply_events(self, events: Sequence[LiveEvent]) -> int:
        """Apply the events' effects (counts, popularity, the user's history), each exactly once,
        in one round trip. Returns how many were applied now (the others had been before). A
        user's events go into the same script calls, in the order given (the sort is stable), so
        that they are summed together."""
        by_user = sorted(events, key=lambda event: event.user_id)
        minute = int(time.time() // 60)
        with self._redis.pipeline(transaction=False) as pipe:
            for start in range(0, len(by_user), APPLY_CHUNK):
                chunk = [self._encode(event) for event in by_user[start : start + APPLY_CHUNK]]
                self._apply(
                    args=[
                        json.dumps(chunk, separators=(",", ":")),
                        APPLIED_TTL,
                        USER_FEATURES_TTL,
                        RECENT_KEPT,
                        minute,
                        MINUTES_KEPT * 60,
                    ],
                    client=pipe,
                )
            return sum(int(applied) for applied in pipe.execute())

    def applied(self, event_ids: Sequence[str]) -> list[bool]:
        """Whether each event's effects have been applied (within APPLIED_TTL)."""
        with self._redis.pipeline(transaction=False) as pipe:
            for event_id in event_ids:
                pipe.exists(f"applied:{event_id}")
            return [bool(found) for found in pipe.execute()]

    @staticmethod
    def _encode(event: LiveEvent) -> list[str]:
        recent = (
            ""
            if event.action == "impression"
            else f"{event.item_id}\t{event.action}\t{event.session_id or ''}"
        )
        return [
            event.event_id,
            event.user_id,
            event.item_id,
            event.action,
            repr(float(event.weight)),
            str(event.event_time),
            event.category.lower() if event.category else "",
            recent,
        ]

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

    def events_applied(self) -> int:
        """How many events the real-time features have taken in, ever (each once)."""
        return int(self._redis.get("events:applied") or 0)  # type: ignore[arg-type]

    def applied_per_minute(self, minutes: int, now: float) -> list[tuple[int, int]]:
        """(epoch minute, events applied in it) for the `minutes` minutes up to the one holding
        `now` (epoch seconds), oldest first; the last is still filling."""
        last = int(now // 60)
        wanted = list(range(last - min(minutes, MINUTES_KEPT) + 1, last + 1))
        counts = self._redis.mget([f"events:applied:minute:{m}" for m in wanted])
        return [(m, int(c or 0)) for m, c in zip(wanted, counts, strict=True)]  # type: ignore[arg-type]

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
