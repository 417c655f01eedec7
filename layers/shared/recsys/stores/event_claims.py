"""Event ids accepted in the last 24 hours (Redis), to absorb client retries of interactions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from recsys.observability import logger
from recsys.stores.failures import is_store_failure

if TYPE_CHECKING:
    import redis

DEDUP_SECONDS = 86400
PENDING_SECONDS = 30  # longer than any accept takes (the function's timeout is 10 s)


class EventClaims(Protocol):
    def claim_many(self, event_ids: list[str]) -> list[str | None]: ...
    def settle_many(self, done: list[str], released: list[str]) -> None: ...


# The ids travel as one newline-separated argument and the states come back as one string, a
# letter an id (n: new, p: pending, s: seen): one argument and one reply instead of 500 of each.
# The keys are built here, so this needs one Redis (or ElastiCache without cluster mode), as the
# real-time features' script does.
_CLAIM = """
local states = {}
for id in string.gmatch(ARGV[2], '[^\\n]+') do
  local key = 'interaction_event:' .. id
  if redis.call('SET', key, 'pending', 'NX', 'EX', ARGV[1]) then
    states[#states + 1] = 'n'
  elseif redis.call('GET', key) == 'pending' then
    states[#states + 1] = 'p'
  else
    states[#states + 1] = 's'
  end
end
return table.concat(states)
"""
_CLAIM_STATES = {"n": "new", "p": "pending", "s": "seen"}
# ARGV: how many of the ids are done (the first ones; the others are released), done ttl, ids
_SETTLE = """
local done, n = tonumber(ARGV[1]), 0
for id in string.gmatch(ARGV[3], '[^\\n]+') do
  n = n + 1
  local key = 'interaction_event:' .. id
  if n <= done then redis.call('SET', key, 'done', 'EX', ARGV[2]) else redis.call('DEL', key) end
end
return n
"""


class RedisEventClaims:
    """Event ids accepted in the last 24 hours (Redis), to absorb client retries. A claim is
    "pending" while its event is being published and "done" once it is on the stream, so a
    duplicate is only ever answered as such after the original was really accepted; a pending
    claim whose request died expires in PENDING_SECONDS and the event can be sent again."""

    def __init__(self, client: redis.Redis) -> None:
        self._redis = client
        self._claim_script = client.register_script(_CLAIM)
        self._settle_script = client.register_script(_SETTLE)

    def claim_many(self, event_ids: list[str]) -> list[str | None]:
        """Claim the ids in one script call: "new", "seen" (accepted before) or "pending"
        (another request is accepting it) for each, or None for all when Redis cannot tell (the
        events are accepted anyway: the consumers apply each event id once)."""
        try:
            states = self._claim_script(args=[PENDING_SECONDS, "\n".join(event_ids)])
        except Exception as exc:
            if not is_store_failure(exc):
                raise
            logger.warning(
                "event-id dedup unavailable; the consumers deduplicate", extra={"events": len(event_ids)}
            )
            return [None] * len(event_ids)
        return [_CLAIM_STATES[state] for state in states.decode()]

    def settle_many(self, done: list[str], released: list[str]) -> None:
        """Mark published claims done (kept DEDUP_SECONDS) and drop the others, in one call."""
        if not done and not released:
            return
        try:
            self._settle_script(args=[len(done), DEDUP_SECONDS, "\n".join(done + released)])
        except Exception as exc:  # a pending claim expires by itself
            if not is_store_failure(exc):
                raise
            logger.warning(
                "could not settle the event ids' claims", extra={"events": len(done) + len(released)}
            )
