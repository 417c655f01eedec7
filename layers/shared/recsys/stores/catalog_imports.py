"""A bulk catalog import's progress (Redis; its chunks travel on a queue: stores/queues.py).

Progress is a Redis hash `catalog_import:{id}`: `total`, and one `chunk:{n}` field per applied
chunk (set once, so a redelivered chunk is not counted twice).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import redis

PROGRESS_TTL = 7 * 86400


class CatalogImportProgress(Protocol):
    def start(self, import_id: str, total: int) -> None: ...
    def chunk_applied(self, import_id: str, chunk: int, items: int) -> None: ...
    def status(self, import_id: str) -> tuple[int, int] | None: ...


class RedisImportProgress:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    @staticmethod
    def _key(import_id: str) -> str:
        return f"catalog_import:{import_id}"

    def start(self, import_id: str, total: int) -> None:
        with self._redis.pipeline() as pipe:
            pipe.hset(self._key(import_id), mapping={"total": total})
            pipe.expire(self._key(import_id), PROGRESS_TTL)
            pipe.execute()

    def chunk_applied(self, import_id: str, chunk: int, items: int) -> None:
        self._redis.hsetnx(self._key(import_id), f"chunk:{chunk}", str(items))

    def status(self, import_id: str) -> tuple[int, int] | None:
        """(items in the import, items applied), or None for an unknown (or expired) import."""
        progress: dict[bytes, bytes] = self._redis.hgetall(self._key(import_id))  # type: ignore[assignment]
        if not progress:
            return None
        fields = {k.decode(): int(v) for k, v in progress.items()}
        return fields.get("total", 0), sum(v for k, v in fields.items() if k.startswith("chunk:"))
