"""Accepting interactions (API) and applying them (the stream's consumers)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from recsys.domain import Interaction, Item
from recsys.errors import InProgressError
from recsys.observability import logger
from recsys.stores.failures import is_store_failure
from recsys.stores.feature_store import HistoryEvent, LiveEvent

if TYPE_CHECKING:  # the store modules import their drivers; a function loads only what it uses
    from recsys.stores.catalog import Catalog
    from recsys.stores.failure_queue import FailureQueue
    from recsys.stores.feature_store import FeatureStore
    from recsys.stores.interaction_log import InteractionLog
    from recsys.stores.interaction_stream import InteractionStream

DEDUP_SECONDS = 86400
PENDING_SECONDS = 30  # longer than any accept takes (the function's timeout is 10 s)


class EventClaims:
    """Event ids accepted in the last 24 hours (Redis), to absorb client retries. A claim is
    "pending" while its event is being published and "done" once it is on the stream, so a
    duplicate is only ever answered as such after the original was really accepted; a pending
    claim whose request died expires in PENDING_SECONDS and the event can be sent again."""

    def __init__(self, client: object) -> None:
        self._redis = client

    @staticmethod
    def _key(event_id: str) -> str:
        return f"interaction_event:{event_id}"

    def claim(self, event_id: str) -> bool | None:
        """True if new; False if accepted before; None if Redis cannot tell (the event is accepted
        anyway: the consumers apply each event id once). Raises InProgressError while
        another request with this id is still being accepted."""
        try:
            if self._redis.set(self._key(event_id), "pending", nx=True, ex=PENDING_SECONDS):  # type: ignore[attr-defined]
                return True
            state = self._redis.get(self._key(event_id))  # type: ignore[attr-defined]
        except Exception as exc:
            if not is_store_failure(exc):
                raise
            logger.warning(
                "event-id dedup unavailable; the consumers deduplicate", extra={"event_id": event_id}
            )
            return None
        if state == b"pending":
            raise InProgressError("A request with this event id is still being accepted; retry shortly")
        return False

    def done(self, event_id: str) -> None:
        self._settle(event_id, lambda key: self._redis.set(key, "done", ex=DEDUP_SECONDS))  # type: ignore[attr-defined]

    def release(self, event_id: str) -> None:
        self._settle(event_id, lambda key: self._redis.delete(key))  # type: ignore[attr-defined]

    def _settle(self, event_id: str, change: Callable[[str], object]) -> None:
        try:
            change(self._key(event_id))
        except Exception as exc:  # the pending claim expires by itself
            if not is_store_failure(exc):
                raise
            logger.warning("could not settle the event id's claim", extra={"event_id": event_id})


def accept(interaction: Interaction, stream: InteractionStream, claims: EventClaims) -> bool:
    """Publish the interaction once per event id. Returns False for a duplicate.

    A failed publish releases the claim and raises, so the client's retry is not mistaken
    for a duplicate and nothing accepted is lost.
    """
    if claims.claim(interaction.event_id) is False:
        return False
    try:
        stream.publish(interaction)
    except Exception:
        claims.release(interaction.event_id)
        raise
    claims.done(interaction.event_id)
    return True


def consume_record(
    consumer: str,
    data: str,
    sequence_number: str,
    apply: Callable[[Interaction], object],
    parked: FailureQueue | None,
) -> None:
    """A stream consumer's step for one record (base64 data). A store that cannot be reached
    raises, so the stream delivers the record again, with backoff, until the store is back; a
    record that can never succeed as it is (it does not parse, a store refuses a value) is parked
    in the failure queue with its data and the error, and the stream moves on (`make replay`)."""
    try:
        apply(Interaction.from_record(json.loads(base64.b64decode(data))))
    except Exception as exc:
        if is_store_failure(exc) or parked is None:
            raise
        logger.exception(
            "a record cannot be applied; parked in the failure queue", extra={"consumer": consumer}
        )
        parked.park(consumer, data, sequence_number, f"{type(exc).__name__}: {exc}")


def write_to_log(interactions: list[Interaction], log: InteractionLog) -> None:
    """Consumer: append each interaction to the log (idempotent: rows are keyed by event id)."""
    for interaction in interactions:
        log.append(interaction)


def update_realtime_features(
    interactions: list[Interaction], features: FeatureStore, catalog: Catalog
) -> int:
    """Consumer: each event's real-time effects (counts, popularity, the user's history: one Redis
    script) and its profile and item counters (one PostgreSQL transaction), each store applying an
    event exactly once, however often it is delivered. Returns how many were new to Redis."""
    items: dict[str, Item] = catalog.get_items(sorted({i.item_id for i in interactions}))
    applied = 0
    for i in interactions:
        category = items[i.item_id].category if i.item_id in items else None
        event_time = int(i.event_time.astimezone(UTC).timestamp())
        live = LiveEvent(
            i.event_id, i.user_id, i.item_id, i.action, i.weight, event_time, category, i.session_id
        )
        applied += features.apply_event(live)
    catalog.count_interactions(
        [(i.event_id, i.user_id, i.item_id if i.item_id in items else None) for i in interactions]
    )
    return applied


def history_events(interactions: list[Interaction]) -> list[HistoryEvent]:
    """What the model's real-time history keeps of these interactions: choices, not impressions."""
    return [
        HistoryEvent(i.user_id, i.item_id, i.action, i.weight, i.session_id)
        for i in interactions
        if i.action != "impression"
    ]


def now() -> datetime:
    return datetime.now(UTC)
