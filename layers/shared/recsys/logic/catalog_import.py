"""Bulk catalog import: the API queues chunks on SQS, a consumer upserts each chunk.

Progress lives in a Redis hash `catalog_import:{id}`: `total`, and one `chunk:{n}` field per
applied chunk (set once, so a redelivered chunk is not counted twice).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from decimal import Decimal
from typing import Any

from recsys.domain import Item
from recsys.stores.catalog import Catalog

IMPORT_CHUNK = 100
PROGRESS_TTL = 7 * 86400


def _key(import_id: str) -> str:
    return f"catalog_import:{import_id}"


def start_import(sqs: Any, queue_url: str, redis_client: Any, import_id: str, items: list[Item]) -> int:
    redis_client.hset(_key(import_id), mapping={"total": len(items)})
    redis_client.expire(_key(import_id), PROGRESS_TTL)
    chunks = [items[i : i + IMPORT_CHUNK] for i in range(0, len(items), IMPORT_CHUNK)]
    entries = [
        {
            "Id": str(n),
            "MessageBody": json.dumps(
                {"import_id": import_id, "chunk": n, "items": [asdict(item) for item in chunk]}, default=str
            ),
        }
        for n, chunk in enumerate(chunks)
    ]
    for start in range(0, len(entries), 10):
        reply = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries[start : start + 10])
        if reply.get("Failed"):
            raise RuntimeError(f"SQS refused {len(reply['Failed'])} chunk(s) of import {import_id}")
    return len(chunks)


def apply_chunk(body: str, catalog: Catalog, redis_client: Any) -> int:
    message = json.loads(body)
    items = []
    for raw in message["items"]:
        raw["tags"] = tuple(raw.get("tags") or ())
        raw["avg_rating"] = Decimal(raw["avg_rating"]) if raw.get("avg_rating") is not None else None
        raw.pop("created_at", None)
        items.append(Item(**raw))
    catalog.upsert_items(items)
    redis_client.hsetnx(_key(message["import_id"]), f"chunk:{message['chunk']}", len(items))
    return len(items)


def import_status(redis_client: Any, import_id: str) -> tuple[int, int] | None:
    progress = redis_client.hgetall(_key(import_id))
    if not progress:
        return None
    fields = {k.decode(): int(v) for k, v in progress.items()}
    return fields.get("total", 0), sum(v for k, v in fields.items() if k.startswith("chunk:"))
