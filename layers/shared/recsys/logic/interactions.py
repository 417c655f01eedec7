"""Accepting interactions (API) and applying them (the stream's consumers)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from recsys.domain import Interaction
from recsys.errors import InProgressError, NotPublishedError
from recsys.observability import logger
from recsys.stores.failures import is_store_failure
from recsys.stores.feature_store import LiveEvent
from recsys.stores.interaction_stream import events_in

if TYPE_CHECKING:  # the store modules import their drivers; a function loads only what it uses
    from recsys.stores.catalog import Catalog
    from recsys.stores.event_claims import EventClaims
    from recsys.stores.failure_queue import FailureQueue
    from recsys.stores.feature_store import FeatureStore
    from recsys.stores.interaction_log import InteractionLog
    from recsys.stores.interaction_stream import InteractionStream


def accept(interaction: Interaction, stream: InteractionStream, claims: EventClaims) -> bool:
    """accept_many for one event: True if it is accepted, False for a duplicate. Raises
    InProgressError while another request with its id is still being accepted, and
    NotPublishedError (or the stream's own error) when the stream did not take it: its claim is
    then released, so the client's retry is not mistaken for a duplicate and nothing is lost."""
    outcome = accept_many([interaction], stream, claims)[0]
    if outcome == "pending":
        raise InProgressError("A request with this event id is still being accepted; retry shortly")
    if outcome == "failed":
        raise NotPublishedError("The event could not be published now; send it again with the same event id")
    return outcome == "accepted"


def accept_many(interactions: list[Interaction], stream: InteractionStream, claims: EventClaims) -> list[str]:
    """Publish each event once per event id: one claim script call, the events aggregated by shard
    onto the stream (stream.publish_many), one settle script call. Returns each event's outcome:
    "accepted", "duplicate" (also a repeat within the batch), "pending" (another request with its
    id is in flight) or "failed" (not published: send it again)."""
    states = claims.claim_many([i.event_id for i in interactions])
    outcomes: list[str] = []
    publish: list[int] = []
    first: set[str] = set()
    for n, (interaction, state) in enumerate(zip(interactions, states, strict=True)):
        if interaction.event_id in first or state == "seen":
            outcomes.append("duplicate")
        elif state == "pending":
            outcomes.append("pending")
        else:
            outcomes.append("accepted")
            publish.append(n)
        first.add(interaction.event_id)
    try:
        published = stream.publish_many([interactions[n] for n in publish])
    except Exception:
        claims.settle_many([], [interactions[n].event_id for n in publish if states[n] == "new"])
        raise
    done: list[str] = []
    released: list[str] = []
    for n, ok in zip(publish, published, strict=True):
        if not ok:
            outcomes[n] = "failed"
        if states[n] == "new":
            (done if ok else released).append(interactions[n].event_id)
    claims.settle_many(done, released)
    return outcomes


def consume_batch(
    consumer: str,
    records: list[tuple[str, str]],
    apply: Callable[[list[Interaction]], object],
    parked: FailureQueue | None,
) -> list[str]:
    """A stream consumer's step for a batch of (sequence number, base64 data) records, single
    events or aggregates, applied in bulk (one round of writes per store, not one per event: every
    write is idempotent per event id, so a batch may simply be applied again). Returns the
    sequence numbers to retry.

    A store that cannot be reached fails the whole batch, so the stream delivers it again, with
    backoff, until the store is back. An event that can never succeed as it is (it does not
    parse, a store refuses one of its values) is parked in the failure queue with its data and
    the error, and the stream moves on (`make replay`)."""
    parsed: list[tuple[str, Interaction]] = []
    for sequence_number, data in records:
        try:
            events = events_in(base64.b64decode(data))
        except Exception as exc:
            _park(consumer, parked, data, sequence_number, exc)
            continue
        for event in events:
            try:
                parsed.append((sequence_number, Interaction.from_record(event)))
            except Exception as exc:
                _park(consumer, parked, _event_data(event), sequence_number, exc)
    try:
        _apply_or_park(consumer, parsed, apply, parked)
    except Exception:  # a store (or the failure queue) is down: the whole batch again, later
        logger.warning("batch not applied; the stream delivers it again", exc_info=True)
        return list(dict.fromkeys(sequence_number for sequence_number, _ in parsed))
    return []


def _apply_or_park(
    consumer: str,
    parsed: list[tuple[str, Interaction]],
    apply: Callable[[list[Interaction]], object],
    parked: FailureQueue | None,
) -> None:
    """Apply the events; when a store refuses a value, halve the batch until the refused events
    are found alone, and park them. A store failure propagates."""
    if not parsed:
        return
    try:
        apply([interaction for _, interaction in parsed])
        return
    except Exception as exc:
        if is_store_failure(exc) or parked is None:
            raise
        if len(parsed) == 1:
            sequence_number, interaction = parsed[0]
            _park(consumer, parked, _event_data(interaction.to_record()), sequence_number, exc)
            return
    half = len(parsed) // 2
    _apply_or_park(consumer, parsed[:half], apply, parked)
    _apply_or_park(consumer, parsed[half:], apply, parked)


def _event_data(event: object) -> str:
    """One event as a record of its own, base64 like the stream's (what replay puts back)."""
    return base64.b64encode(json.dumps(event, separators=(",", ":"), default=str).encode()).decode()


def _park(
    consumer: str, parked: FailureQueue | None, data: str, sequence_number: str, exc: Exception
) -> None:
    if parked is None:
        raise exc
    logger.exception("a record cannot be applied; parked in the failure queue", extra={"consumer": consumer})
    parked.park(consumer, data, sequence_number, f"{type(exc).__name__}: {exc}")


def write_to_log(interactions: list[Interaction], log: InteractionLog) -> None:
    """Consumer: append the interactions to the log, many writes in flight (idempotent: rows are
    keyed by event id)."""
    log.append_many(interactions)


def update_realtime_features(
    interactions: list[Interaction], features: FeatureStore, catalog: Catalog
) -> int:
    """Consumer: each event's real-time effects (counts, popularity, the user's history: one Redis
    script) and its profile and item counters (one PostgreSQL transaction), each store applying an
    event exactly once, however often it is delivered. Returns how many were new to Redis."""
    categories = catalog.categories(sorted({i.item_id for i in interactions}))
    live = [
        LiveEvent(
            i.event_id,
            i.user_id,
            i.item_id,
            i.action,
            i.weight,
            int(i.event_time.timestamp()),
            categories.get(i.item_id),
            i.session_id,
        )
        for i in interactions
    ]
    applied = features.apply_events(live)
    catalog.count_interactions(
        [(i.event_id, i.user_id, i.item_id if i.item_id in categories else None) for i in interactions]
    )
    return applied


def now() -> datetime:
    return datetime.now(UTC)
