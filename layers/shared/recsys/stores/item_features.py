"""Item features (PostgreSQL, versioned; see versioned.py). The item must be in the catalog."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from recsys.stores.versioned import Version, VersionedDocuments

if TYPE_CHECKING:
    import psycopg

FEATURE_GROUPS = ("content_features", "popularity_features", "engagement_features")


class PostgresItemFeatureStore:
    def __init__(self, conn: psycopg.Connection) -> None:
        self._documents = VersionedDocuments(
            conn, "item_features", "items", "item_id", FEATURE_GROUPS, json_columns=frozenset(FEATURE_GROUPS)
        )

    def current(self, item_id: str) -> Version | None:
        return self._documents.current(item_id)

    def put(
        self,
        item_id: str,
        groups: dict[str, dict[str, Any]],
        *,
        expected_version: int | None,
        idempotency_key: str | None,
        request_hash: str,
    ) -> Version:
        return self._documents.write(
            item_id,
            {g: groups.get(g) or {} for g in FEATURE_GROUPS},
            expected_version=expected_version,
            idempotency_key=idempotency_key,
            request_hash=request_hash,
        )
