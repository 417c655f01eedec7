"""The ingest path as an operator watches it: events applied per minute, the failure queue's depth."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from recsys.api.dependencies import AppliedEventsDep, FailureQueueDepthDep
from recsys.api.guards import requires
from recsys.api.models import FailureQueueDepth, IngestStatsResponse, MinuteCount
from recsys.api.routes import error_responses
from recsys.stores.feature_store import MINUTES_KEPT

router = APIRouter(tags=["ingest"])


@router.get(
    "/v1/ingest",
    response_model=IngestStatsResponse,
    responses=error_responses(403),
    summary="Events applied per minute and the failure queue's depth",
    dependencies=[Depends(requires("admin"))],
)
async def get_ingest_stats(
    request: Request,
    applied: AppliedEventsDep,
    failures: FailureQueueDepthDep,
    minutes: Annotated[int, Query(ge=2, le=MINUTES_KEPT, description="How many minutes to report")] = 60,
) -> IngestStatsResponse:
    per_minute = applied.applied_per_minute(minutes, time.time())
    depth = failures.depth() if failures is not None else None
    return IngestStatsResponse(
        events_applied=applied.events_applied(),
        events_last_minute=per_minute[-2][1],
        per_minute=[MinuteCount(minute=datetime.fromtimestamp(m * 60, UTC), events=n) for m, n in per_minute],
        failure_queue=FailureQueueDepth(waiting=depth.waiting, in_flight=depth.in_flight) if depth else None,
        request_id=request.state.request_id,
    )
