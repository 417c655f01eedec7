"""When a failed call is sent again, and after how long.

Only answers that say "try later" are retried: 429 (rate limited), 503 (a store unavailable, or
the function did not answer in time) and 409 with the code CONFLICT (the first request with the
same Idempotency-Key is still running), plus failures that got no answer at all (refused, reset,
timed out). Every other 4xx, and 500, is final. Each write carries its X-Event-ID or
Idempotency-Key across the attempts, so a retry never doubles an effect.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone

RETRY_STATUSES = frozenset({429, 503})
RETRY_CODES_ON_409 = frozenset({"CONFLICT"})


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter, never shorter than the API's Retry-After, bounded by
    `max_attempts` sends and `max_elapsed` seconds from the first send (a wait that would end
    past it is not started: the last error is raised, with its retry_after, at once)."""

    max_attempts: int = 5
    max_elapsed: float = 30.0
    base_delay: float = 0.2
    max_delay: float = 10.0
    statuses: frozenset[int] = RETRY_STATUSES
    conflict_codes: frozenset[str] = RETRY_CODES_ON_409
    retry_transport_errors: bool = True
    # Injected for tests; the defaults are the real clock.
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False, compare=False)
    clock: Callable[[], float] = field(default=time.monotonic, repr=False, compare=False)
    random: Callable[[], float] = field(default=random.random, repr=False, compare=False)

    def retryable(self, status: int, code: str | None) -> bool:
        if status == 409:
            return code in self.conflict_codes
        return status in self.statuses

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait after the `attempt`-th send failed (attempt counts from 1): half the
        exponential step plus a random share of the other half, so that clients that failed
        together spread out; at least Retry-After, plus up to one base step of jitter."""
        step = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        backoff: float = step * (0.5 + 0.5 * self.random())
        if retry_after is not None and retry_after >= backoff:
            return retry_after + self.base_delay * float(self.random())
        return backoff


NO_RETRY = RetryPolicy(max_attempts=1)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Retry-After in seconds: delta-seconds, or an HTTP date (RFC 9110 §10.2.3)."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    current = datetime.now(timezone.utc).timestamp() if now is None else now
    return max(0.0, when.timestamp() - current)
