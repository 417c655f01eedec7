"""Users: profile (read, write), versioned preferences (read, write) and history (read)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends, Path, Query, Request

from recsys.api.dependencies import CatalogDep, InteractionLogDep, PreferenceStoreDep, RecommendationCacheDep
from recsys.api.guards import idempotency_key, request_hash, requires
from recsys.api.models import (
    ID_PATTERN,
    HistoryEvent,
    PreferencesRequest,
    PreferencesResponse,
    UserHistoryResponse,
    UserRequest,
    UserResponse,
)
from recsys.api.routes import error_responses, found
from recsys.domain import User
from recsys.logic.recommend import forget_rankings

if TYPE_CHECKING:
    from recsys.stores.versioned import Version

read_router = APIRouter(tags=["users"])
write_router = APIRouter(tags=["users"])
preferences_router = APIRouter(tags=["users"])
preferences_read_router = APIRouter(tags=["users"])
history_router = APIRouter(tags=["users"])
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
    rankings: RecommendationCacheDep,
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
    forget_rankings(rankings, [user_id])
    return _preferences_response(user_id, written, request.state.request_id)


def _preferences_response(user_id: str, version: Version, request_id: str) -> PreferencesResponse:
    return PreferencesResponse(
        user_id=user_id,
        version=version.version,
        updated_at=version.updated_at,
        request_id=request_id,
        favorite_categories=version.values["favorite_categories"] or [],
        excluded_items=version.values["excluded_items"] or [],
        language=version.values["language"],
    )


@preferences_read_router.get(
    "/v1/users/{user_id}/preferences",
    response_model=PreferencesResponse,
    responses=error_responses(403, 404),
    summary="A user's current preferences",
    dependencies=[Depends(requires("read"))],
)
async def get_preferences(
    request: Request, user_id: UserId, store: PreferenceStoreDep
) -> PreferencesResponse:
    current = found(store.current(user_id), f"preferences of user {user_id}", user_id=user_id)
    return _preferences_response(user_id, current, request.state.request_id)


@history_router.get(
    "/v1/users/{user_id}/history",
    response_model=UserHistoryResponse,
    responses=error_responses(403),
    summary="A user's newest interactions, with each item's title and category",
    dependencies=[Depends(requires("read"))],
)
async def get_history(
    request: Request,
    user_id: UserId,
    log: InteractionLogDep,
    catalog: CatalogDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> UserHistoryResponse:
    events = log.for_user(user_id, limit)
    items = catalog.get_items(sorted({event.item_id for event in events})) if events else {}
    return UserHistoryResponse(
        user_id=user_id,
        events=[
            HistoryEvent(
                event_id=event.event_id,
                item_id=event.item_id,
                title=item.title if (item := items.get(event.item_id)) else None,
                category=item.category if item else None,
                action=event.action,
                event_time=event.event_time,
                session_id=event.session_id,
            )
            for event in events
        ],
        request_id=request.state.request_id,
    )
