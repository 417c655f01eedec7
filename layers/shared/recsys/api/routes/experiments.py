"""A/B experiments: define one (admin), list them with their split and assignments, assign a user
to a variant (consistent, 24-hour dedup)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request

from recsys.api import errors
from recsys.api.dependencies import (
    AssignmentCountsDep,
    AssignmentsDep,
    ExperimentDefinitionsDep,
    ExperimentStoreDep,
)
from recsys.api.guards import requires
from recsys.api.models import (
    AssignmentRequest,
    AssignmentResponse,
    ExperimentListResponse,
    ExperimentRequest,
    ExperimentResponse,
    ExperimentSummary,
    Variant,
    VariantSummary,
)
from recsys.api.routes import error_responses
from recsys.engine.blend import Blend
from recsys.logic.experiments import assign, routing_experiment, traffic_shares

write_router = APIRouter(tags=["experiments"])
assign_router = APIRouter(tags=["experiments"])
list_router = APIRouter(tags=["experiments"])
ExperimentId = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")]


@write_router.put(
    "/v1/experiments/{experiment_id}",
    response_model=ExperimentResponse,
    responses=error_responses(403),
    summary="Define an experiment's variants and weights",
    dependencies=[Depends(requires("admin"))],
)
async def put_experiment(
    request: Request, experiment_id: ExperimentId, body: ExperimentRequest, store: ExperimentStoreDep
) -> ExperimentResponse:
    names = [v.name for v in body.variants]
    if len(set(names)) != len(names):
        raise errors.InvalidInput(
            "Variant names must be unique", {"field": "variants", "reason": "duplicate name"}
        )
    for variant in body.variants:
        try:
            Blend().with_overrides(variant.blend or {})
        except ValueError as exc:
            raise errors.InvalidInput(str(exc), {"field": "variants.blend", "reason": str(exc)}) from None
    store.put(experiment_id, [v.model_dump() for v in body.variants], body.is_active)
    return ExperimentResponse(
        experiment_id=experiment_id,
        variants=body.variants,
        is_active=body.is_active,
        request_id=request.state.request_id,
    )


@assign_router.post(
    "/v1/experiments/{experiment_id}/assignments",
    response_model=AssignmentResponse,
    responses=error_responses(403, 404),
    summary="The variant a user sees",
    dependencies=[Depends(requires("read"))],
)
async def assign_variant(
    request: Request,
    experiment_id: ExperimentId,
    body: AssignmentRequest,
    store: ExperimentStoreDep,
    assignments: AssignmentsDep,
) -> AssignmentResponse:
    found = store.get(experiment_id)
    if found is None or not found[1]:
        raise errors.NotFound(f"experiment {experiment_id} does not exist or is not active")
    variants = [Variant(**v).model_dump() for v in found[0]]
    assignment = assign(assignments, body.user_id, experiment_id, variants)
    return AssignmentResponse(
        experiment_id=experiment_id,
        user_id=body.user_id,
        variant=assignment["variant"],
        assigned_at=datetime.fromisoformat(assignment["assigned_at"]),
        request_id=request.state.request_id,
    )


@list_router.get(
    "/v1/experiments",
    response_model=ExperimentListResponse,
    responses=error_responses(403),
    summary="Every experiment: its variants, their traffic split and assignments",
    dependencies=[Depends(requires("read"))],
)
async def list_experiments(
    request: Request, store: ExperimentDefinitionsDep, counts: AssignmentCountsDep
) -> ExperimentListResponse:
    experiments = store.all()
    assigned = counts.counts([e.experiment_id for e in experiments]) if experiments else {}
    routing = routing_experiment(experiments)
    return ExperimentListResponse(
        experiments=[
            ExperimentSummary(
                experiment_id=e.experiment_id,
                is_active=e.is_active,
                routes_recommendations=e.experiment_id == routing,
                created_at=e.created_at,
                variants=[
                    VariantSummary(
                        name=v["name"],
                        weight=v["weight"],
                        share=round(share, 6),
                        blend=v.get("blend"),
                        assignments=assigned.get(e.experiment_id, {}).get(v["name"], 0),
                    )
                    for v, share in zip(e.variants, traffic_shares(e.variants), strict=True)
                ],
            )
            for e in experiments
        ],
        request_id=request.state.request_id,
    )
