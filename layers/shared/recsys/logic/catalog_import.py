"""Bulk catalog import: the API queues chunks, a consumer upserts each chunk and counts it."""

from __future__ import annotations

import json
from dataclasses import asdict
from decimal import Decimal
from typing import TYPE_CHECKING

from recsys.domain import Item

if TYPE_CHECKING:
    from recsys.stores.catalog import Catalog
    from recsys.stores.catalog_imports import CatalogImportProgress
    from recsys.stores.queues import MessageQueue

IMPORT_CHUNK = 100


def start_import(
    queue: MessageQueue, progress: CatalogImportProgress, import_id: str, items: list[Item]
) -> int:
    """Queue the items in chunks of IMPORT_CHUNK; returns how many chunks."""
    progress.start(import_id, len(items))
    chunks = [items[i : i + IMPORT_CHUNK] for i in range(0, len(items), IMPORT_CHUNK)]
    queue.send_all(
        [
            json.dumps(
                {"import_id": import_id, "chunk": n, "items": [asdict(item) for item in chunk]}, default=str
            )
            for n, chunk in enumerate(chunks)
        ]
    )
    return len(chunks)


def apply_chunk(body: str, catalog: Catalog, progress: CatalogImportProgress) -> int:
    message = json.loads(body)
    items = []
    for raw in message["items"]:
        raw["tags"] = tuple(raw.get("tags") or ())
        raw["avg_rating"] = Decimal(raw["avg_rating"]) if raw.get("avg_rating") is not None else None
        raw.pop("created_at", None)
        items.append(Item(**raw))
    catalog.upsert_items(items)
    progress.chunk_applied(message["import_id"], message["chunk"], len(items))
    return len(items)
