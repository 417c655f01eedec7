"""GET /v1/recommendations and GET /v1/recommendations/{item_id}/explain."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response

from recsys.api.dependencies import RankingExperimentsDep, RecommendationStoresDep
from recsys.api.guards import requires
from recsys.api.models import (
    HEADER_ID_PATTERN,
    ID_PATTERN,
    ExplanationResponse,
    Identifier,
    ItemMetadata,
    RecommendationsResponse,
    RecommendedItem,
)
from recsys.api.routes import error_responses
from recsys.logic import recommend as model
from recsys.logic.experiments import ranking_variant
from recsys.observability import logger, metrics

list_router = APIRouter(tags=["recommendations"])
explain_router = APIRouter(tags=["recommendations"])


KEPT_RANKING_HEADERS = {
    "X-Cache": {
        "description": "`hit` when the ranking kept for this same request answered (the user did nothing"
        " since that changes it, and its items are all still active), `miss` when it was ranked now."
        " Absent when a fallback answered (`precomputed:`, `popularity-v1`), which is never kept.",
        "schema": {"type": "string", "enum": ["hit", "miss"]},
    },
    "Age": {
        "description": "On a hit: seconds since the ranking was made (at most RecommendationCacheSeconds)",
        "schema": {"type": "integer"},
    },
}


@list_router.get(
    "/v1/recommendations",
    response_model=RecommendationsResponse,
    responses={200: {"headers": KEPT_RANKING_HEADERS}, **error_responses(403)},
    summary="Personalised recommendations for a user",
    dependencies=[Depends(requires("read"))],
)
async def get_recommendations(
    request: Request,
    response: Response,
    stores: RecommendationStoresDep,
    experiments: RankingExperimentsDep,
    user_id: Annotated[str, Query(pattern=ID_PATTERN, description="User identifier")],
    context: Annotated[str, Query(max_length=50, pattern=r"^[a-z0-9_]+$")] = "homepage",
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    category: Annotated[
        str | None, Query(max_length=100, description="Only this category; omit or 'all' for every one")
    ] = None,
    exclude: Annotated[list[Identifier], Query(max_length=500, description="Item ids to leave out")] = [],  # noqa: B006
    x_session_id: Annotated[str | None, Header(pattern=HEADER_ID_PATTERN, max_length=100)] = None,
    x_device_type: Annotated[str | None, Header(max_length=30)] = None,
) -> RecommendationsResponse:
    logger.append_keys(user_id=user_id, context=context, session_id=x_session_id, device_type=x_device_type)
    chosen = None if category in (None, "", "all") else category
    ranking = model.RankingRequest(
        context=context,
        session_id=x_session_id,
        device_type=x_device_type,
        variant=ranking_variant(experiments, user_id),
    )
    answer = model.recommend(stores, user_id, limit, chosen, set(exclude), ranking)
    results = answer.recommendations
    metrics.add_metric(name="RecommendationsServed", unit="Count", value=len(results))
    if answer.cache is not None:  # a kept ranking says so, and how old it is (RFC 9111's Age)
        response.headers["X-Cache"] = answer.cache
        if answer.cache == "hit":
            response.headers["Age"] = str(max(0, int(time.time() - answer.generated_at)))
    return RecommendationsResponse(
        recommendations=[
            RecommendedItem(
                item_id=r.item.item_id,
                score=r.score,
                rank=r.rank,
                explanation=r.explanation,
                metadata=ItemMetadata(
                    title=r.item.title,
                    category=r.item.category,
                    thumbnail_url=r.item.thumbnail_url,
                    rating=float(r.item.avg_rating) if r.item.avg_rating is not None else None,
                ),
            )
            for r in results
        ],
        request_id=request.state.request_id,
        model_version=answer.model_version,
        generated_at=datetime.fromtimestamp(answer.generated_at, UTC),
    )


@explain_router.get(
    "/v1/recommendations/{item_id}/explain",
    response_model=ExplanationResponse,
    responses=error_responses(403, 404),
    summary="Why an item is recommended to a user",
    dependencies=[Depends(requires("read"))],
)
async def explain_recommendation(
    request: Request,
    item_id: Annotated[str, Path(pattern=ID_PATTERN)],
    user_id: Annotated[str, Query(pattern=ID_PATTERN)],
    stores: RecommendationStoresDep,
    experiments: RankingExperimentsDep,
) -> ExplanationResponse:
    ranking = model.RankingRequest(variant=ranking_variant(experiments, user_id))
    explanation, version = model.explain(stores, user_id, item_id, ranking)
    return ExplanationResponse(
        item_id=item_id,
        user_id=user_id,
        explanation=explanation,  # type: ignore[arg-type]
        request_id=request.state.request_id,
        model_version=version,
        generated_at=datetime.now(UTC),
    )
