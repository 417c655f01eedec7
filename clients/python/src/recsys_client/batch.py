"""Any number of interactions through POST /v1/interactions/batch: chunks within the endpoint's
limits, an event id on every event, and the events the API could not publish sent again."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from recsys_client.endpoints import MAX_BATCH_EVENTS, MAX_BODY_BYTES
from recsys_client.errors import RecsysError
from recsys_client.models import InteractionBatchAccepted, InteractionEvent
from recsys_client.retry import RetryPolicy

_OPEN, _CLOSE = b'{"events":[', b"]}"


@dataclass(frozen=True)
class EventOutcome:
    """An event the API did not take: where it was in the caller's iterable (`index`), its id,
    and the error envelope's code, message and details (as the API gave them: a field path
    such as `events.7.action` counts within the request that carried the event)."""

    index: int
    event_id: str
    code: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class BatchSummary:
    """What became of every event: `accepted` and `duplicates` (seen before, under the same event
    id) are counts; `rejected` (invalid: sending again will not help) and `failed` (still not
    published after the resends) list each event with its error."""

    accepted: int = 0
    duplicates: int = 0
    rejected: list[EventOutcome] = field(default_factory=list)
    failed: list[EventOutcome] = field(default_factory=list)
    requests: int = 0

    @property
    def total(self) -> int:
        return self.accepted + self.duplicates + len(self.rejected) + len(self.failed)


@dataclass(frozen=True)
class EncodedEvent:
    index: int
    event_id: str
    data: bytes  # the event's JSON as it goes into the body


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def encode_event(index: int, event: InteractionEvent | Mapping[str, Any]) -> EncodedEvent:
    if isinstance(event, InteractionEvent):
        fields: dict[str, Any] = event.model_dump(mode="json", exclude_unset=True, exclude_none=True)
    else:
        fields = dict(event)  # as given: the API judges each event on its own terms
    if not fields.get("event_id"):
        fields["event_id"] = str(uuid.uuid4())
    data = json.dumps(fields, separators=(",", ":"), ensure_ascii=False, default=_json_default).encode()
    return EncodedEvent(index, str(fields["event_id"]), data)


def chunks(
    events: Iterable[InteractionEvent | Mapping[str, Any]],
    max_events: int = MAX_BATCH_EVENTS,
    max_bytes: int = MAX_BODY_BYTES,
    too_large: Callable[[EncodedEvent], None] | None = None,
) -> Iterator[list[EncodedEvent]]:
    """The events, encoded and grouped so that no body holds more than `max_events` events or
    `max_bytes` bytes; an event too large for any body goes to `too_large` instead."""
    chunk: list[EncodedEvent] = []
    size = len(_OPEN) + len(_CLOSE)
    for index, event in enumerate(events):
        encoded = encode_event(index, event)
        alone = len(_OPEN) + len(_CLOSE) + len(encoded.data)
        if alone > max_bytes:
            if too_large is not None:
                too_large(encoded)
            continue
        added = len(encoded.data) + (1 if chunk else 0)
        if chunk and (len(chunk) >= max_events or size + added > max_bytes):
            yield chunk
            chunk, size, added = [], len(_OPEN) + len(_CLOSE), len(encoded.data)
        chunk.append(encoded)
        size += added
    if chunk:
        yield chunk


def body_of(chunk: list[EncodedEvent]) -> bytes:
    return _OPEN + b",".join(encoded.data for encoded in chunk) + _CLOSE


def _outcome(encoded: EncodedEvent, error: Mapping[str, Any] | None) -> EventOutcome:
    error = error or {}
    details = error.get("details")
    return EventOutcome(
        encoded.index,
        encoded.event_id,
        str(error.get("code") or "UNKNOWN"),
        str(error.get("message") or ""),
        dict(details) if isinstance(details, Mapping) else {},
    )


def send_all(
    post: Callable[[bytes], InteractionBatchAccepted],
    events: Iterable[InteractionEvent | Mapping[str, Any]],
    retry: RetryPolicy,
    *,
    resends: int = 3,
    max_events: int = MAX_BATCH_EVENTS,
    max_bytes: int = MAX_BODY_BYTES,
) -> BatchSummary:
    """Send every event through `post` (one batch request, itself retried on 429/503) and total
    the results; the events a response reports as `failed` are sent again, alone, up to
    `resends` times with the policy's backoff between rounds."""
    if not 1 <= max_events <= MAX_BATCH_EVENTS:
        raise ValueError(f"max_events must be between 1 and {MAX_BATCH_EVENTS}")
    summary = BatchSummary()

    def too_large(encoded: EncodedEvent) -> None:
        summary.rejected.append(
            EventOutcome(
                encoded.index,
                encoded.event_id,
                "PAYLOAD_TOO_LARGE",
                f"the event alone is {len(encoded.data)} bytes, over the {max_bytes}-byte body limit",
            )
        )

    for chunk in chunks(events, max_events, max_bytes, too_large):
        pending = chunk
        for round_ in range(resends + 1):
            reply = post(body_of(pending))
            summary.requests += 1
            if len(reply.results) != len(pending):
                raise RecsysError(
                    "UNEXPECTED_RESPONSE",
                    f"{len(pending)} events sent, {len(reply.results)} results returned",
                    status=202,
                    request_id=reply.request_id,
                )
            failed: list[tuple[EncodedEvent, EventOutcome]] = []
            for result in reply.results:
                encoded = pending[result.index]
                if result.status == "accepted":
                    summary.accepted += 1
                elif result.status == "duplicate":
                    summary.duplicates += 1
                elif result.status == "rejected":
                    summary.rejected.append(_outcome(encoded, result.error))
                else:
                    failed.append((encoded, _outcome(encoded, result.error)))
            if not failed:
                break
            if round_ == resends:
                summary.failed.extend(outcome for _, outcome in failed)
                break
            retry.sleep(retry.delay(round_ + 1, None))
            pending = [encoded for encoded, _ in failed]
    summary.rejected.sort(key=lambda outcome: outcome.index)
    return summary
