"""Explicit feedback (PostgreSQL). Deletes are tombstones, so repeating one changes nothing."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from psycopg import errors as pg_errors
from psycopg.rows import dict_row

from recsys.errors import IdempotencyMismatchError, NotFoundError, VersionConflictError

if TYPE_CHECKING:
    import psycopg

_COLUMNS = "id, user_id, item_id, feedback_type, reason, version, created_at, updated_at, deleted_at"


@dataclass(frozen=True)
class Feedback:
    id: uuid.UUID
    user_id: str
    item_id: str
    feedback_type: str
    reason: str | None
    version: int
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None


class FeedbackStore(Protocol):
    def create(
        self,
        user_id: str,
        item_id: str,
        feedback_type: str,
        reason: str | None,
        idempotency_key: str | None,
        *,
        scope: str | None = None,
        request_hash: str | None = None,
    ) -> Feedback: ...
    def update(
        self, feedback_id: uuid.UUID, feedback_type: str, reason: str | None, expected_version: int | None
    ) -> Feedback: ...
    def delete(self, feedback_id: uuid.UUID) -> Feedback | None: ...


class NotInterestedFeedback(Protocol):
    """What training reads of the feedback: the (user, item) pairs marked not interested."""

    def not_interested_pairs(self) -> list[tuple[str, str]]: ...


class PostgresFeedbackStore:
    def __init__(self, conn: psycopg.Connection) -> None:
        self._conn = conn

    def _one(self, query: str, params: tuple[Any, ...]) -> Feedback | None:
        with self._conn.cursor(row_factory=dict_row) as cur:
            row = cur.execute(query, params).fetchone()
        return Feedback(**row) if row else None

    def create(
        self,
        user_id: str,
        item_id: str,
        feedback_type: str,
        reason: str | None,
        idempotency_key: str | None,
        *,
        scope: str | None = None,
        request_hash: str | None = None,
    ) -> Feedback:
        """Record feedback. The same idempotency key from the same caller (`scope`, the API key)
        yields the first record; with another request body it is refused."""
        try:
            created = self._one(
                f"INSERT INTO feedback (user_id, item_id, feedback_type, reason, idempotency_key,"
                f" idempotency_scope, request_hash) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING {_COLUMNS}",
                (user_id, item_id, feedback_type, reason, idempotency_key, scope, request_hash),
            )
        except pg_errors.UniqueViolation:
            with self._conn.cursor(row_factory=dict_row) as cur:
                row = cur.execute(
                    f"SELECT {_COLUMNS}, request_hash FROM feedback"
                    " WHERE idempotency_scope IS NOT DISTINCT FROM %s AND idempotency_key = %s",
                    (scope, idempotency_key),
                ).fetchone()
            assert row is not None
            if row.pop("request_hash") != request_hash:
                raise IdempotencyMismatchError(
                    "this idempotency key was already used with a different request",
                    field="Idempotency-Key",
                    reason="reused with a different body",
                ) from None
            created = Feedback(**row)
        assert created is not None
        return created

    def get(self, feedback_id: uuid.UUID) -> Feedback | None:
        return self._one(f"SELECT {_COLUMNS} FROM feedback WHERE id = %s", (feedback_id,))

    def update(
        self, feedback_id: uuid.UUID, feedback_type: str, reason: str | None, expected_version: int | None
    ) -> Feedback:
        """Change live feedback; with `expected_version`, only if nobody changed it since."""
        updated = self._one(
            f"UPDATE feedback SET feedback_type = %s, reason = %s, version = version + 1, updated_at = NOW()"
            f" WHERE id = %s AND deleted_at IS NULL AND (%s::int IS NULL OR version = %s::int)"
            f" RETURNING {_COLUMNS}",
            (feedback_type, reason, feedback_id, expected_version, expected_version),
        )
        if updated is not None:
            return updated
        current = self.get(feedback_id)
        if current is None or current.deleted_at is not None:
            raise NotFoundError("no such feedback", id=str(feedback_id))
        if (current.feedback_type, current.reason, current.version) == (
            feedback_type,
            reason,
            (expected_version or 0) + 1,
        ):
            return current  # the retry of an update that already succeeded
        raise VersionConflictError(
            f"expected version {expected_version}, but the current version is {current.version}",
            current_version=current.version,
        )

    def delete(self, feedback_id: uuid.UUID) -> Feedback | None:
        """Tombstone the feedback. Returns it, or None when no such feedback ever existed."""
        self._conn.execute(
            "UPDATE feedback SET deleted_at = NOW() WHERE id = %s AND deleted_at IS NULL", (feedback_id,)
        )
        return self.get(feedback_id)

    def not_interested_pairs(self) -> list[tuple[str, str]]:
        """Every live (user, item) `not_interested`: training counts them against the item."""
        rows = self._conn.execute(
            "SELECT user_id, item_id FROM feedback"
            " WHERE feedback_type = 'not_interested' AND deleted_at IS NULL"
        ).fetchall()
        return [(row[0], row[1]) for row in rows]
