"""Explicit feedback: POST (Idempotency-Key), PUT (Idempotency-Key or version), DELETE (safe to repeat)."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Request, Response

from recsys.api import errors
from recsys.api.dependencies import FeedbackStoreDep, IdempotencyRecordsDep, RecommendationCacheDep
from recsys.api.guards import idempotency_key, replay_or_run, request_hash, requires
from recsys.api.models import FeedbackRequest, FeedbackResponse, FeedbackUpdate
from recsys.api.routes import error_responses
from recsys.logic.recommend import forget_rankings
from recsys.stores.feedback import Feedback

create_router = APIRouter(tags=["feedback"])
update_router = APIRouter(tags=["feedback"])
delete_router = APIRouter(tags=["feedback"])

ACTIONS = {
    "not_interested": "item_excluded_from_future_recommendations",
    "like": "preference_recorded",
    "dislike": "preference_recorded",
    "report": "flagged_for_review",
}


def _response(
    feedback: Feedback, status: Literal["recorded", "updated"], request_id: str
) -> FeedbackResponse:
    return FeedbackResponse(
        status=status,
        action_taken=ACTIONS[feedback.feedback_type],
        feedback_id=feedback.id,
        user_id=feedback.user_id,
        item_id=feedback.item_id,
        feedback_type=feedback.feedback_type,
        reason=feedback.reason,
        version=feedback.version,
        request_id=request_id,
    )


@create_router.post(
    "/v1/feedback",
    response_model=FeedbackResponse,
    status_code=201,
    responses=error_responses(403, 409),
    summary="Record feedback on a recommendation",
    dependencies=[Depends(requires("write"))],
)
async def create_feedback(
    request: Request,
    body: FeedbackRequest,
    store: FeedbackStoreDep,
    records: IdempotencyRecordsDep,
    rankings: RecommendationCacheDep,
    response: Response,
    key: Annotated[str | None, Depends(idempotency_key)] = None,
) -> FeedbackResponse:
    def run() -> tuple[int, FeedbackResponse]:
        feedback = store.create(
            body.user_id,
            body.item_id,
            body.feedback_type,
            body.reason,
            key,
            scope=request.state.api_key.key_prefix,
            request_hash=request_hash(body),
        )
        forget_rankings(rankings, [feedback.user_id])
        return 201, _response(feedback, "recorded", request.state.request_id)

    response.status_code, payload = replay_or_run(records, request, key, body, run)
    return payload  # type: ignore[no-any-return]  # a replay's stored body: validated as the model


@update_router.put(
    "/v1/feedback/{feedback_id}",
    response_model=FeedbackResponse,
    responses=error_responses(403, 404, 409),
    summary="Change feedback",
    dependencies=[Depends(requires("write"))],
)
async def update_feedback(
    request: Request,
    feedback_id: UUID,
    body: FeedbackUpdate,
    store: FeedbackStoreDep,
    records: IdempotencyRecordsDep,
    rankings: RecommendationCacheDep,
    response: Response,
    key: Annotated[str | None, Depends(idempotency_key)] = None,
) -> FeedbackResponse:
    def run() -> tuple[int, FeedbackResponse]:
        feedback = store.update(feedback_id, body.feedback_type, body.reason, body.version)
        forget_rankings(rankings, [feedback.user_id])
        return 200, _response(feedback, "updated", request.state.request_id)

    response.status_code, payload = replay_or_run(records, request, key, body, run)
    return payload  # type: ignore[no-any-return]  # a replay's stored body: validated as the model


@delete_router.delete(
    "/v1/feedback/{feedback_id}",
    status_code=204,
    responses=error_responses(403, 404),
    summary="Withdraw feedback (repeating it is harmless)",
    dependencies=[Depends(requires("write"))],
)
async def delete_feedback(
    feedback_id: UUID, store: FeedbackStoreDep, rankings: RecommendationCacheDep
) -> Response:
    deleted = store.delete(feedback_id)
    if deleted is None:
        raise errors.NotFound("no such feedback", {"feedback_id": str(feedback_id)})
    forget_rankings(rankings, [deleted.user_id])
    return Response(status_code=204)
