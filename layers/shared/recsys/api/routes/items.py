"""Items: similar items, the catalog (read, write, bulk import) and versioned item features."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request

from recsys.api.dependencies import (
    CatalogChunksDep,
    CatalogDep,
    CatalogImportProgressDep,
    ItemFeatureStoreDep,
    RecommendationStoresDep,
)
from recsys.api.guards import idempotency_key, request_hash, requires
from recsys.api.models import (
    ID_PATTERN,
    CatalogImportAccepted,
    CatalogImportRequest,
    CatalogImportStatus,
    ItemFeaturesRequest,
    ItemFeaturesResponse,
    ItemMetadata,
    ItemRequest,
    ItemResponse,
    SimilarItem,
    SimilarItemsResponse,
    SourceItem,
)
from recsys.api.routes import error_responses, found
from recsys.domain import Item
from recsys.logic import recommend as model
from recsys.logic.catalog_import import start_import

similar_router = APIRouter(tags=["items"])
read_router = APIRouter(tags=["catalog"])
write_router = APIRouter(tags=["catalog"])
import_router = APIRouter(tags=["catalog"])
import_status_router = APIRouter(tags=["catalog"])
features_router = APIRouter(tags=["items"])
ItemId = Annotated[str, Path(pattern=ID_PATTERN)]


@similar_router.get(
    "/v1/items/{item_id}/similar",
    response_model=SimilarItemsResponse,
    responses=error_responses(403, 404),
    summary="Items similar to an item",
    dependencies=[Depends(requires("read"))],
)
async def get_similar_items(
    request: Request,
    item_id: ItemId,
    stores: RecommendationStoresDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> SimilarItemsResponse:
    answer = model.similar_items(stores, item_id, limit)
    return SimilarItemsResponse(
        source_item=SourceItem(item_id=answer.source.item_id, title=answer.source.title),
        similar_items=[
            SimilarItem(
                item_id=item.item_id,
                similarity_score=score,
                similarity_reason=reason,
                metadata=ItemMetadata(
                    title=item.title, category=item.category, thumbnail_url=item.thumbnail_url
                ),
            )
            for item, score, reason in answer.similar
        ],
        request_id=request.state.request_id,
        model_version=answer.model_version,
        generated_at=datetime.now(UTC),
    )


def _item_response(item: Item, request_id: str) -> ItemResponse:
    return ItemResponse(
        item_id=item.item_id,
        title=item.title,
        description=item.description,
        category=item.category,
        subcategory=item.subcategory,
        tags=list(item.tags),
        content_features=item.content_features,
        thumbnail_url=item.thumbnail_url,
        avg_rating=float(item.avg_rating) if item.avg_rating is not None else None,
        interaction_count=item.interaction_count,
        is_active=item.is_active,
        request_id=request_id,
    )


def _to_item(item_id: str, body: ItemRequest) -> Item:
    return Item(
        item_id=item_id,
        title=body.title,
        description=body.description,
        category=body.category,
        subcategory=body.subcategory,
        tags=tuple(body.tags),
        content_features=body.content_features,
        thumbnail_url=body.thumbnail_url,
        is_active=body.is_active,
        avg_rating=Decimal(str(round(body.avg_rating, 2))) if body.avg_rating is not None else None,
    )


@read_router.get(
    "/v1/items/{item_id}",
    response_model=ItemResponse,
    responses=error_responses(403, 404),
    summary="An item of the catalog",
    dependencies=[Depends(requires("read"))],
)
async def get_item(request: Request, item_id: ItemId, catalog: CatalogDep) -> ItemResponse:
    item = found(catalog.get_item(item_id), f"item {item_id}", item_id=item_id)
    return _item_response(item, request.state.request_id)


@write_router.put(
    "/v1/items/{item_id}",
    response_model=ItemResponse,
    responses=error_responses(403),
    summary="Create or replace an item (idempotent)",
    dependencies=[Depends(requires("admin"))],
)
async def put_item(request: Request, item_id: ItemId, body: ItemRequest, catalog: CatalogDep) -> ItemResponse:
    catalog.upsert_item(_to_item(item_id, body))
    stored = found(catalog.get_item(item_id), f"item {item_id}", item_id=item_id)  # deleted meanwhile
    return _item_response(stored, request.state.request_id)


@import_router.post(
    "/v1/catalog/imports",
    response_model=CatalogImportAccepted,
    status_code=202,
    responses=error_responses(403),
    summary="Import many items asynchronously",
    dependencies=[Depends(requires("admin"))],
)
async def post_catalog_import(
    request: Request, body: CatalogImportRequest, queue: CatalogChunksDep, progress: CatalogImportProgressDep
) -> CatalogImportAccepted:
    items = [_to_item(entry.item_id, entry) for entry in body.items]
    import_id = f"imp_{uuid.uuid4().hex}"
    chunks = start_import(queue, progress, import_id, items)
    return CatalogImportAccepted(
        import_id=import_id, items=len(items), chunks=chunks, request_id=request.state.request_id
    )


@import_status_router.get(
    "/v1/catalog/imports/{import_id}",
    response_model=CatalogImportStatus,
    responses=error_responses(403, 404),
    summary="Progress of a catalog import",
    dependencies=[Depends(requires("admin"))],
)
async def get_catalog_import(
    request: Request,
    import_id: Annotated[str, Path(pattern=r"^imp_[0-9a-f]{32}$")],
    progress: CatalogImportProgressDep,
) -> CatalogImportStatus:
    total, done = found(
        progress.status(import_id),
        f"import {import_id} (or one finished over 7 days ago)",
        import_id=import_id,
    )
    return CatalogImportStatus(
        import_id=import_id,
        items=total,
        imported=done,
        status="completed" if done >= total else "queued",
        request_id=request.state.request_id,
    )


@features_router.put(
    "/v1/items/{item_id}/features",
    response_model=ItemFeaturesResponse,
    responses=error_responses(403, 404, 409),
    summary="Store a new version of an item's features (idempotent by key or version)",
    dependencies=[Depends(requires("admin"))],
)
async def put_item_features(
    request: Request,
    item_id: ItemId,
    body: ItemFeaturesRequest,
    store: ItemFeatureStoreDep,
    key: Annotated[str | None, Depends(idempotency_key)] = None,
) -> ItemFeaturesResponse:
    groups = body.model_dump(exclude={"version"})
    written = store.put(
        item_id, groups, expected_version=body.version, idempotency_key=key, request_hash=request_hash(groups)
    )
    return ItemFeaturesResponse(
        item_id=item_id,
        version=written.version,
        updated_at=written.updated_at,
        request_id=request.state.request_id,
        **written.values,
    )
