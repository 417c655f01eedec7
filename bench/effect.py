"""Event to effect: how long after a client records an interaction do that user's
recommendations change, through the API and the stream's consumers, as a product sees it.

Each trial takes a user the service has not seen, reads their recommendations, records a
`watch` of the first of them (an item they have now consumed, so it must leave the list), and
reads them again, as fast as the API answers, until the list differs. The time is from sending
the interaction to receiving the first changed list.

The first trial is reported on its own (`effect_first_ms`), outside the percentiles: it may be
the first event the stream's consumers see since their runtime started, and so wait for a
consumer's cold start (about a second; measured after `make up`: 1,095 ms, then 56-290 ms).
"""

from __future__ import annotations

import statistics
import time
import uuid

from bench.endpoints import client, percentile
from recsys_client import RecsysClient

TIMEOUT_S = 10.0


def _items(api: RecsysClient, user: str) -> list[str]:
    raw = api.send("GET", f"/v1/recommendations?user_id={user}&limit=10")
    if raw.status != 200:
        raise RuntimeError(f"recommendations for {user}: HTTP {raw.status}")
    return [r["item_id"] for r in raw.json()["recommendations"]]


def event_to_effect(base: str, key: str, trials: int) -> dict[str, float]:
    """On one kept-alive connection of the Python client, without retries: the interaction
    through its typed method (under an X-Event-ID of ours), the lists read raw, as fast as the
    API answers."""
    tag = uuid.uuid4().hex[:6]
    took: list[float] = []
    with client(base, key, keep_alive=True) as api:
        for trial in range(trials + 1):
            user = f"bench_effect_{tag}_{trial}"
            before = _items(api, user)
            if not before:
                raise RuntimeError("no recommendations to act on: is the stack seeded?")
            started = time.perf_counter()
            api.record_interaction(user, before[0], "watch", event_id=f"{tag}-{trial}")  # raises unless 202
            while _items(api, user) == before:
                if time.perf_counter() - started > TIMEOUT_S:
                    raise RuntimeError(f"{user}'s recommendations did not change within {TIMEOUT_S} s")
            took.append((time.perf_counter() - started) * 1000)
    first, warm = took[0], took[1:]
    return {
        "effect_p50_ms": round(statistics.median(warm), 1),
        "effect_p99_ms": round(percentile(warm, 0.99), 1),
        "effect_max_ms": round(max(warm), 1),
        "effect_first_ms": round(first, 1),
    }
