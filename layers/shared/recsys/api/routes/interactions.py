"""POST /v1/interactions: validate, deduplicate by event id, publish to the stream, answer 202."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request

from recsys.api import dependencies as deps
from recsys.api.guards import requires
from recsys.api.models import HEADER_ID_PATTERN, InteractionAccepted, InteractionRequest
from recsys.api.routes import error_responses
from recsys.config import get_settings
from recsys.connections import redis_client
from recsys.domain import Interaction, fallback_event_id
from recsys.logic import interactions
from recsys.observability import metrics

router = APIRouter(tags=["interactions"])


@router.post(
    "/v1/interactions",
    response_model=InteractionAccepted,
    status_code=202,
    responses=error_responses(403),
    summary="Record a user interaction (idempotent by X-Event-ID)",
    dependencies=[Depends(requires("write"))],
)
def record_interaction(
    request: Request,
    body: InteractionRequest,
    x_event_id: Annotated[str | None, Header(alias="X-Event-ID", pattern=HEADER_ID_PATTERN)] = None,
    x_session_id: Annotated[str | None, Header(pattern=HEADER_ID_PATTERN, max_length=100)] = None,
) -> InteractionAccepted:
    timestamp = body.timestamp or interactions.now()
    event_id = x_event_id or fallback_event_id(body.user_id, body.item_id, body.action, timestamp)
    context = {key: str(value) for key, value in body.context.items()}
    interaction = Interaction(
        event_id=event_id,
        user_id=body.user_id,
        item_id=body.item_id,
        action=body.action,
        event_time=timestamp,
        context=context,
        session_id=context.get("session_id") or x_session_id,
    )
    accepted = interactions.accept(
        interaction, deps.interaction_stream(), interactions.EventClaims(redis_client(get_settings()))
    )
    metrics.add_metric(
        name="InteractionsAccepted" if accepted else "InteractionsDuplicate", unit="Count", value=1
    )
    return InteractionAccepted(event_id=event_id, duplicate=not accepted, request_id=request.state.request_id)
