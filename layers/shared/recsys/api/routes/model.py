"""The model: what is published and served (read), and a refresh started on demand (admin)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query, Request

from recsys.api import errors
from recsys.api.dependencies import PublishedModelsDep, RefreshHoldDep, RefreshTriggerDep
from recsys.api.guards import requires
from recsys.api.models import (
    IndexSummary,
    ModelRefreshAccepted,
    ModelRefreshRequest,
    ModelResponse,
    ModelVersionEntry,
)
from recsys.api.routes import error_responses
from recsys.logic.model_info import describe
from recsys.stores.refresh_trigger import HOLD_SECONDS

read_router = APIRouter(tags=["model"])
refresh_router = APIRouter(tags=["model"])


@read_router.get(
    "/v1/model",
    response_model=ModelResponse,
    responses=error_responses(403),
    summary="The published model: version, algorithm, parameters, index recall, evaluation, versions",
    dependencies=[Depends(requires("read"))],
)
async def get_model(
    request: Request,
    models: PublishedModelsDep,
    versions: Annotated[int, Query(ge=1, le=1000, description="How many versions to list")] = 20,
) -> ModelResponse:
    described = describe(models, versions)
    metadata = described.metadata
    trained = metadata.get("trained_at")
    return ModelResponse(
        model_version=described.version,
        algorithm=metadata.get("algorithm"),
        trained_at=datetime.fromisoformat(trained) if trained else None,
        parameters=metadata.get("parameters") or {},
        blend=metadata.get("blend") or {},
        counts=metadata.get("counts") or {},
        index=IndexSummary(**metadata["index"]) if metadata.get("index") else None,
        timings=metadata.get("timings") or {},
        spark=metadata.get("spark"),
        eval=described.evaluation,
        versions=[
            ModelVersionEntry(model_version=v, trained_at=at, current=v == described.version)
            for v, at in described.versions
        ],
        request_id=request.state.request_id,
    )


@refresh_router.post(
    "/v1/model/refresh",
    response_model=ModelRefreshAccepted,
    status_code=202,
    responses=error_responses(403, 409),
    summary="Retrain and publish a new model version now (asynchronous)",
    dependencies=[Depends(requires("admin"))],
)
async def start_refresh(
    request: Request,
    trigger: RefreshTriggerDep,
    hold: RefreshHoldDep,
    body: Annotated[ModelRefreshRequest, Body()] = ModelRefreshRequest(),  # noqa: B008  # optional body
) -> ModelRefreshAccepted:
    wait = hold.claim(request.state.request_id)
    if wait is not None:
        raise errors.Conflict(
            "A refresh was requested moments ago; it is running or queued",
            {"reason": "refresh already requested", "retry_after_seconds": wait},
            {"Retry-After": str(wait)},
        )
    try:
        invocation = trigger.start(body.training)
    except Exception:
        hold.release()
        raise
    return ModelRefreshAccepted(
        invocation_id=invocation, hold_seconds=HOLD_SECONDS, request_id=request.state.request_id
    )
