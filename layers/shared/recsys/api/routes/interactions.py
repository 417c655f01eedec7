"""POST /v1/interactions and POST /v1/interactions/batch: validate, deduplicate by event id,
publish to the stream, answer 202."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Request
from pydantic import ValidationError

from recsys.api import errors
from recsys.api.dependencies import (
    CatalogDep,
    EventClaimsDep,
    FeatureStoreDep,
    ImportFilesDep,
    ImportRegistryDep,
    InteractionLogDep,
    InteractionStreamDep,
)
from recsys.api.guards import requires
from recsys.api.models import (
    HEADER_ID_PATTERN,
    MAX_BATCH_EVENTS,
    BatchedInteraction,
    EventResult,
    InteractionAccepted,
    InteractionBatchAccepted,
    InteractionBatchRequest,
    InteractionImportCreated,
    InteractionImportRequest,
    InteractionImportStatus,
    InteractionRequest,
)
from recsys.api.routes import error_responses
from recsys.domain import Interaction, fallback_event_id
from recsys.logic import interaction_import, interactions
from recsys.observability import metrics

router = APIRouter(tags=["interactions"])
batch_router = APIRouter(tags=["interactions"])
imports_router = APIRouter(tags=["interactions"])
import_status_router = APIRouter(tags=["interactions"])


def _interaction(body: InteractionRequest, event_id: str | None, session_id: str | None) -> Interaction:
    timestamp = body.timestamp or interactions.now()
    context = {key: str(value) for key, value in body.context.items()}
    return Interaction(
        event_id=event_id or fallback_event_id(body.user_id, body.item_id, body.action, timestamp),
        user_id=body.user_id,
        item_id=body.item_id,
        action=body.action,
        event_time=timestamp,
        context=context,
        session_id=context.get("session_id") or session_id,
    )


@router.post(
    "/v1/interactions",
    response_model=InteractionAccepted,
    status_code=202,
    responses=error_responses(403),
    summary="Record a user interaction (idempotent by X-Event-ID)",
    dependencies=[Depends(requires("write"))],
)
async def record_interaction(
    request: Request,
    body: InteractionRequest,
    stream: InteractionStreamDep,
    claims: EventClaimsDep,
    x_event_id: Annotated[str | None, Header(alias="X-Event-ID", pattern=HEADER_ID_PATTERN)] = None,
    x_session_id: Annotated[str | None, Header(pattern=HEADER_ID_PATTERN, max_length=100)] = None,
) -> InteractionAccepted:
    interaction = _interaction(body, x_event_id, x_session_id)
    accepted = interactions.accept(interaction, stream, claims)
    metrics.add_metric(
        name="InteractionsAccepted" if accepted else "InteractionsDuplicate", unit="Count", value=1
    )
    return InteractionAccepted(
        event_id=interaction.event_id, duplicate=not accepted, request_id=request.state.request_id
    )


_UNPUBLISHED = {
    "code": "SERVICE_UNAVAILABLE",
    "message": "The event could not be published now; send it again with the same event_id",
    "details": {},
}
_IN_FLIGHT = {
    "code": "SERVICE_UNAVAILABLE",
    "message": "Another request with this event_id is still being accepted; send it again shortly",
    "details": {},
}


@batch_router.post(
    "/v1/interactions/batch",
    response_model=InteractionBatchAccepted,
    status_code=202,
    responses=error_responses(403),
    summary=f"Record up to {MAX_BATCH_EVENTS} interactions at once (each idempotent by its event_id)",
    dependencies=[Depends(requires("write"))],
)
async def record_interactions(
    request: Request, body: InteractionBatchRequest, stream: InteractionStreamDep, claims: EventClaimsDep
) -> InteractionBatchAccepted:
    """Each event is validated, deduplicated and published on its own terms: one bad event is
    refused alone, with the error envelope's code, message and details; the request counts once
    against the rate limit."""
    results: list[EventResult | None] = [None] * len(body.events)
    valid: list[tuple[int, Interaction]] = []
    for n, raw in enumerate(body.events):
        try:
            event = BatchedInteraction.model_validate(raw)
        except ValidationError as exc:
            refused = errors.from_validation(list(exc.errors()), ("body", "events", str(n)))
            claimed = raw.get("event_id")
            results[n] = EventResult(
                index=n,
                event_id=claimed if isinstance(claimed, str) else None,
                status="rejected",
                error={"code": refused.code, "message": refused.message, "details": refused.details},
            )
            continue
        valid.append((n, _interaction(event, event.event_id, None)))
    outcomes = interactions.accept_many([i for _, i in valid], stream, claims)
    for (n, interaction), outcome in zip(valid, outcomes, strict=True):
        status: Any = "failed" if outcome == "pending" else outcome
        unpublished = _IN_FLIGHT if outcome == "pending" else _UNPUBLISHED if outcome == "failed" else None
        results[n] = EventResult(index=n, event_id=interaction.event_id, status=status, error=unpublished)
    final = [r for r in results if r is not None]
    counts = {
        status: sum(1 for r in final if r.status == status)
        for status in ("accepted", "duplicate", "rejected", "failed")
    }
    metrics.add_metric(name="InteractionsAccepted", unit="Count", value=counts["accepted"])
    return InteractionBatchAccepted(
        accepted=counts["accepted"],
        duplicates=counts["duplicate"],
        rejected=counts["rejected"],
        failed=counts["failed"],
        results=final,
        request_id=request.state.request_id,
    )


def interaction_from_row(row: dict[str, Any]) -> Interaction:
    """An imported row, validated as the batch endpoint validates an event (RowError if not)."""
    try:
        event = BatchedInteraction.model_validate(row)
    except ValidationError as exc:
        refused = errors.from_validation(list(exc.errors()), ("row",))
        raise interaction_import.RowError(refused.message, refused.code, refused.details) from None
    return _interaction(event, event.event_id, None)


@imports_router.post(
    "/v1/interactions/imports",
    response_model=InteractionImportCreated,
    status_code=202,
    responses=error_responses(403),
    summary="Import interaction history from a file: returns where to upload it",
    dependencies=[Depends(requires("write"))],
)
async def post_interaction_import(
    request: Request, body: InteractionImportRequest, registry: ImportRegistryDep, files: ImportFilesDep
) -> InteractionImportCreated:
    import_id, url = interaction_import.start_import(
        registry, files, request.state.api_key.key_prefix, body.format
    )
    return InteractionImportCreated(
        import_id=import_id,
        upload_url=url,
        expires_in=interaction_import.UPLOAD_EXPIRES_SECONDS,
        request_id=request.state.request_id,
    )


@import_status_router.get(
    "/v1/interactions/imports/{import_id}",
    response_model=InteractionImportStatus,
    responses=error_responses(403, 404),
    summary="Progress of an interaction import",
    dependencies=[Depends(requires("write"))],
)
async def get_interaction_import(
    request: Request,
    import_id: Annotated[str, Path(pattern=r"^iimp_[0-9a-f]{32}$")],
    registry: ImportRegistryDep,
    log: InteractionLogDep,
    features: FeatureStoreDep,
    catalog: CatalogDep,
) -> InteractionImportStatus:
    found = registry.get(import_id)
    if found is None or found.owner_key != request.state.api_key.key_prefix:
        raise errors.NotFound(f"import {import_id} does not exist")
    status = interaction_import.current_status(found, registry, log, features, catalog)
    if status != found.status:
        found = registry.get(import_id) or found
    return InteractionImportStatus(
        import_id=found.import_id,
        status=status,  # type: ignore[arg-type]
        format=found.file_format,
        rows_read=found.rows_read,
        accepted=found.accepted,
        duplicates=found.duplicates,
        rejected=found.rejected,
        errors=found.errors,  # type: ignore[arg-type]
        failure=found.failure,
        created_at=found.created_at,
        read_at=found.read_at,
        completed_at=found.completed_at,
        request_id=request.state.request_id,
    )
