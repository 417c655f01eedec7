"""Recommendations as the model last ranked them for a user (Redis `user_recs:{user_id}`), so that
asking again, with nothing changed, reads one hash instead of ranking again.

A user's hash holds their generation (field `g`) and one entry per request (a fingerprint of the
model version and everything the request asked), each tagged with the generation it was ranked
under. Whatever changes what the user is recommended gives them a new generation and drops their
entries, in the same step as the change where it is Redis's (the real-time features' script: an
action in the user's history) and right after the commit where it is PostgreSQL's (feedback,
preferences). An entry is written only if the user's generation is still the one read before
ranking began, so a ranking that raced a change is never kept.

Generations come from one counter, so a hash that expired and came back never repeats a value a
slow writer still holds. Entries are not written to the append-only file (nor to replicas): they
are a copy of what can be ranked again, and with `appendfsync always` each write would wait for
an fsync. A restarted Redis starts empty; the generation bumps are written, so they survive it.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import redis

KEY_PREFIX = "user_recs:"
GENERATION_COUNTER = "recs_cache:generation"
GENERATION_TTL = 3600  # a hash holding only its generation; entries set their own, shorter TTL

# Lua, for the scripts that invalidate (here, and the real-time features' script): `invalidated` a
# Lua table of user ids; one generation for all of them.
INVALIDATE_LUA = f"""
local generation = redis.call('INCR', '{GENERATION_COUNTER}')
for _, user in ipairs(invalidated) do
  local key = '{KEY_PREFIX}' .. user
  redis.call('DEL', key)
  redis.call('HSET', key, 'g', generation)
  redis.call('EXPIRE', key, {GENERATION_TTL})
end
"""
# ARGV: user ids
_INVALIDATE = "local invalidated = ARGV\n" + INVALIDATE_LUA + "return generation\n"
# A user's hash holds at most MAX_ENTRIES rankings: each write pushes its expiry back, so a user
# whose requests keep changing (an `exclude` of what the page already shows) would otherwise
# pile up entries older than the TTL for as long as they keep asking. Past the cap the entries
# are dropped (not the generation) and the new one starts them again.
MAX_ENTRIES = 8
# KEYS[1]: the user's hash; ARGV: the generation read before ranking ('' for none), field, entry,
# ttl, max entries
_STORE = """
redis.replicate_commands()
redis.set_repl(redis.REPL_NONE)
local generation = redis.call('HGET', KEYS[1], 'g')
if (generation or '') ~= ARGV[1] then return 0 end
local entries = redis.call('HLEN', KEYS[1]) - (generation and 1 or 0)
if entries >= tonumber(ARGV[5]) and redis.call('HEXISTS', KEYS[1], ARGV[2]) == 0 then
  redis.call('DEL', KEYS[1])
  if generation then redis.call('HSET', KEYS[1], 'g', generation) end
end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return 1
"""


@dataclass(frozen=True)
class CachedRanking:
    generation: str  # '' while the user has none
    entry: dict[str, Any] | None  # what was stored for this request, if it is still current


class RecommendationCache(Protocol):
    def lookup(self, user_id: str, fingerprint: str) -> CachedRanking: ...
    def store(self, user_id: str, fingerprint: str, generation: str, entry: dict[str, Any]) -> bool: ...
    def invalidate(self, user_ids: list[str]) -> None: ...


class RedisRecommendationCache:
    def __init__(self, client: redis.Redis, ttl_seconds: float) -> None:
        self._redis = client
        self._ttl = max(1, int(ttl_seconds))
        self._store = client.register_script(_STORE)
        self._invalidate = client.register_script(_INVALIDATE)

    def lookup(self, user_id: str, fingerprint: str) -> CachedRanking:
        """The user's generation and, if there is one of this generation and younger than the
        TTL, the entry stored for this request (one round trip)."""
        generation, raw = self._redis.hmget(KEY_PREFIX + user_id, ["g", fingerprint])  # type: ignore[misc]
        current = generation.decode() if generation else ""
        if raw is None:
            return CachedRanking(current, None)
        try:
            entry: dict[str, Any] = json.loads(raw)
            fresh = entry["g"] == current and time.time() - float(entry["at"]) <= self._ttl
        except (ValueError, KeyError, TypeError):  # not an entry this code wrote: rank again
            return CachedRanking(current, None)
        return CachedRanking(current, entry if fresh else None)

    def store(self, user_id: str, fingerprint: str, generation: str, entry: dict[str, Any]) -> bool:
        """Keep `entry` (stamped with the generation and the time) unless the user's generation
        has moved on since `generation` was read. True if it was kept."""
        stamped = json.dumps({**entry, "g": generation, "at": time.time()}, separators=(",", ":"))
        kept = self._store(
            keys=[KEY_PREFIX + user_id], args=[generation, fingerprint, stamped, self._ttl, MAX_ENTRIES]
        )
        return bool(int(kept))

    def invalidate(self, user_ids: list[str]) -> None:
        """A new generation for each user: their entries are dropped, and none ranked before now
        can be written."""
        if user_ids:
            self._invalidate(args=list(dict.fromkeys(user_ids)))
