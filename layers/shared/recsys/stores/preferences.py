"""Explicit user preferences (PostgreSQL, versioned; see versioned.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from recsys.stores.versioned import Version, VersionedDocuments

if TYPE_CHECKING:
    import psycopg

PREFERENCE_FIELDS = ("favorite_categories", "excluded_items", "language")


class PostgresPreferenceStore:
    def __init__(self, conn: psycopg.Connection) -> None:
        self._conn = conn
        self._documents = VersionedDocuments(conn, "user_preferences", "users", "user_id", PREFERENCE_FIELDS)

    def put(
        self,
        user_id: str,
        favorite_categories: list[str],
        excluded_items: list[str],
        language: str | None,
        *,
        expected_version: int | None,
        idempotency_key: str | None,
        request_hash: str,
    ) -> Version:
        """A new version of the user's preferences; the user is created on first write."""
        self._conn.execute(
            "INSERT INTO users (user_id) VALUES (%s) ON CONFLICT (user_id) DO NOTHING", (user_id,)
        )
        written = self._documents.write(
            user_id,
            {
                "favorite_categories": favorite_categories,
                "excluded_items": excluded_items,
                "language": language,
            },
            expected_version=expected_version,
            idempotency_key=idempotency_key,
            request_hash=request_hash,
        )
        if not written.replayed:
            self._conn.execute(
                "UPDATE users SET preferred_categories = %s, language = COALESCE(%s, language),"
                " onboarding_completed = TRUE WHERE user_id = %s",
                (favorite_categories, language, user_id),
            )
        return written

    def current(self, user_id: str) -> Version | None:
        """The user's newest preferences, if they ever set any."""
        return self._documents.current(user_id)
