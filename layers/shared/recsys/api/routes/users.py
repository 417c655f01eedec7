"""Users: profile (read, write) and versioned preferences."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request

from recsys.api.dependencies import CatalogDep, PreferenceStoreDep
from recsys.api.guards import idempotency_key, request_hash, requires
from recsys.api.models import ID_PATTERN, PreferencesRequest, PreferencesResponse, UserRequest, UserResponse
from recsys.api.routes import error_responses, found
from recsys.domain import User

read_router = APIRouter(tags=["users"])
write_router = APIRouter(tags=["users"])
preferences_router = APIRouter(tags=["users"])
UserId = Annotated[str, Path(pattern=ID_PATTERN)]


def _user_response(user: User, request_id: str) -> UserResponse:
    return UserResponse(
        user_id=user.user_id,
        preferred_categories=list(user.preferred_categories),
        language=user.language,
        country=user.country,
        total_interactions=user.total_interactions,
        is_new_user=user.is_new_user,
        created_at=user.created_at,
        request_id=request_id,
    )


@read_router.get(
    "/v1/users/{user_id}",
    response_model=UserResponse,
    responses=error_responses(403, 404),
    summary="A user's profile",
    dependencies=[Depends(requires("read"))],
)
async def get_user(request: Request, user_id: UserId, catalog: CatalogDep) -> UserResponse:
    user = found(catalog.get_user(user_id), f"user {user_id}", user_id=user_id)
    return _user_response(user, request.state.request_id)


@write_router.put(
    "/v1/users/{user_id}",
    response_model=UserResponse,
    responses=error_responses(403),
    summary="Create or update a user's profile (idempotent)",
    dependencies=[Depends(requires("write"))],
)
async def put_user(request: Request, user_id: UserId, body: UserRequest, catalog: CatalogDep) -> UserResponse:
    existing = catalog.get_user(user_id)
    catalog.upsert_user(
        User(
            user_id=user_id,
            preferred_categories=tuple(body.preferred_categories),
            language=body.language,
            country=body.country,
            total_interactions=existing.total_interactions if existing else 0,
            is_new_user=existing.is_new_user if existing else True,
        )
    )
    stored = found(catalog.get_user(user_id), f"user {user_id}", user_id=user_id)  # deleted meanwhile
    return _user_response(stored, request.state.request_id)


@preferences_router.put(
    "/v1/users/{user_id}/preferences",
    response_model=PreferencesResponse,
    responses=error_responses(403, 409),
    summary="Store a user's explicit preferences (idempotent by key or version)",
    dependencies=[Depends(requires("write"))],
)
async def put_preferences(
    request: Request,
    user_id: UserId,
    body: PreferencesRequest,
    store: PreferenceStoreDep,
    key: Annotated[str | None, Depends(idempotency_key)] = None,
) -> PreferencesResponse:
    values = body.model_dump(exclude={"version"})
    written = store.put(
        user_id,
        body.favorite_categories,
        body.excluded_items,
        body.language,
        expected_version=body.version,
        idempotency_key=key,
        request_hash=request_hash(values),
    )
    return PreferencesResponse(
        user_id=user_id,
        version=written.version,
        updated_at=written.updated_at,
        request_id=request.state.request_id,
        favorite_categories=written.values["favorite_categories"] or [],
        excluded_items=written.values["excluded_items"] or [],
        language=written.values["language"],
    )
