"""What a user told the service that ranking must honour (PostgreSQL), read in one round trip:
the items of their live `not_interested` feedback, and their current preferences' excluded items
and favourite categories. The two tables belong to the feedback and preference stores, which
write them; this reader is the request path's, where a second round trip cost a tenth of a
recommendation's time in the handler."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import psycopg


@dataclass(frozen=True)
class UserSignals:
    excluded: frozenset[str]  # never recommend these: not_interested, and preferences' excluded_items
    favourite_categories: tuple[str, ...]  # as the user wrote them


class UserSignalReader(Protocol):
    def for_user(self, user_id: str) -> UserSignals: ...


_QUERY = """
SELECT ARRAY(
           SELECT item_id FROM feedback
           WHERE user_id = %(user)s AND feedback_type = 'not_interested' AND deleted_at IS NULL
       ),
       current.excluded_items,
       current.favorite_categories
FROM (VALUES (1)) AS one (x)
LEFT JOIN LATERAL (
    SELECT excluded_items, favorite_categories FROM user_preferences
    WHERE user_id = %(user)s ORDER BY version DESC LIMIT 1
) AS current ON TRUE
"""


class PostgresUserSignals:
    def __init__(self, conn: psycopg.Connection) -> None:
        self._conn = conn

    def for_user(self, user_id: str) -> UserSignals:
        row = self._conn.execute(_QUERY, {"user": user_id}).fetchone()
        not_interested, excluded, favourites = row if row else ([], None, None)
        return UserSignals(
            excluded=frozenset(not_interested or ()) | frozenset(excluded or ()),
            favourite_categories=tuple(favourites or ()),
        )
