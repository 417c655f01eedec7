"""Per-key request budgets: a fixed one-minute window counted atomically in Redis, so every
function instance shares one count."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import redis

WINDOW_SECONDS = 60
# INCR and the first EXPIRE in one atomic step: concurrent requests see distinct counts.
_COUNT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""


@dataclass(frozen=True)
class Budget:
    limit: int
    remaining: int
    reset_at: int  # epoch seconds when the window ends
    allowed: bool

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset_at),
        }


class RateLimiter:
    def __init__(self, client: redis.Redis) -> None:
        self._count = client.register_script(_COUNT)

    def spend(self, subject: str, limit: int, now: float | None = None) -> Budget:
        """Count one request of `subject` against `limit` per minute."""
        now = time.time() if now is None else now
        window = int(now // WINDOW_SECONDS)
        reset_at = (window + 1) * WINDOW_SECONDS
        count = int(self._count(keys=[f"ratelimit:{subject}:{window}"], args=[WINDOW_SECONDS + 5]))
        return Budget(limit, max(0, limit - count), reset_at, count <= limit)

    @staticmethod
    def unmetered(limit: int, now: float | None = None) -> Budget:
        """The budget reported when Redis cannot be reached: requests pass (fail open)."""
        now = time.time() if now is None else now
        return Budget(limit, limit, (int(now // WINDOW_SECONDS) + 1) * WINDOW_SECONDS, True)
