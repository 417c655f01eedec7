"""Precomputed recommendations (PostgreSQL, spec: `precomputed_recommendations`): what the refresh
ranked for every user it trained on, served when the real-time path cannot be (Redis, the index
or S3 unavailable) until the rows expire."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import psycopg


@dataclass(frozen=True)
class PrecomputedRow:
    user_id: str
    item_id: str
    rank: int
    score: float
    explanation_type: str
    model_version: str


class PrecomputedStore(Protocol):
    def replace(
        self, kind: str, rows: list[PrecomputedRow], computed_at: datetime, expires_at: datetime
    ) -> None: ...
    def for_user(self, user_id: str, kind: str, now: datetime) -> list[PrecomputedRow]: ...


class PostgresPrecomputedStore:
    def __init__(self, conn: psycopg.Connection) -> None:
        self._conn = conn

    def replace(
        self, kind: str, rows: list[PrecomputedRow], computed_at: datetime, expires_at: datetime
    ) -> None:
        """Swap every row of `kind` for `rows` in one transaction: readers see the old set or the new."""
        with self._conn.transaction(), self._conn.cursor() as cur:
            cur.execute("DELETE FROM precomputed_recommendations WHERE recommendation_type = %s", (kind,))
            with cur.copy(
                "COPY precomputed_recommendations (user_id, recommendation_type, item_id, rank, score,"
                " explanation_type, model_version, computed_at, expires_at) FROM STDIN"
            ) as copy:
                for row in rows:
                    copy.write_row(
                        (
                            row.user_id,
                            kind,
                            row.item_id,
                            row.rank,
                            row.score,
                            row.explanation_type,
                            row.model_version,
                            computed_at,
                            expires_at,
                        )
                    )

    def for_user(self, user_id: str, kind: str, now: datetime) -> list[PrecomputedRow]:
        rows = self._conn.execute(
            "SELECT user_id, item_id, rank, score, explanation_type, model_version"
            " FROM precomputed_recommendations"
            " WHERE user_id = %s AND recommendation_type = %s AND expires_at > %s ORDER BY rank",
            (user_id, kind, now),
        ).fetchall()
        return [PrecomputedRow(*row) for row in rows]
