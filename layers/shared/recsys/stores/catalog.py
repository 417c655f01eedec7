"""Users and the item catalog (PostgreSQL)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from recsys.domain import Item, User

if TYPE_CHECKING:
    import psycopg

    from recsys.engine.bundle import CatalogSnapshot


class CatalogReader(Protocol):
    """What the request path reads of the catalog."""

    def get_item(self, item_id: str) -> Item | None: ...
    def get_items(self, item_ids: list[str]) -> dict[str, Item]: ...
    def popular_items(self, limit: int, category: str | None = None) -> list[tuple[str, float]]: ...


class Catalog(Protocol):
    def upsert_item(self, item: Item) -> None: ...
    def upsert_items(self, items: list[Item]) -> None: ...
    def get_item(self, item_id: str) -> Item | None: ...
    def get_items(self, item_ids: list[str]) -> dict[str, Item]: ...
    def categories(self, item_ids: list[str]) -> dict[str, str | None]: ...
    def popular_items(self, limit: int, category: str | None = None) -> list[tuple[str, float]]: ...
    def upsert_user(self, user: User) -> None: ...
    def active_items(self) -> list[Item]: ...
    def count_interactions(self, events: list[tuple[str, str, str | None]]) -> int: ...
    def counted(self, event_ids: list[str]) -> int: ...
    def forget_applied_events(self, older_than_seconds: int) -> int: ...
    def get_user(self, user_id: str) -> User | None: ...


_ITEM_COLUMNS = (
    "item_id, title, description, category, subcategory, tags, content_features,"
    " thumbnail_url, avg_rating, interaction_count, is_active, created_at"
)
_USER_COLUMNS = (
    "user_id, preferred_categories, language, country, engagement_level,"
    " total_interactions, is_new_user, created_at"
)


_UPSERT_ITEM = (
    "INSERT INTO items (item_id, title, description, category, subcategory, tags,"
    " content_features, thumbnail_url, avg_rating, is_active)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
    " ON CONFLICT (item_id) DO UPDATE SET title = EXCLUDED.title,"
    " description = EXCLUDED.description, category = EXCLUDED.category,"
    " subcategory = EXCLUDED.subcategory, tags = EXCLUDED.tags,"
    " content_features = EXCLUDED.content_features, thumbnail_url = EXCLUDED.thumbnail_url,"
    " avg_rating = EXCLUDED.avg_rating, is_active = EXCLUDED.is_active, updated_at = NOW()"
)


_COUNT_USERS = (
    "INSERT INTO users (user_id, total_interactions, is_new_user, last_active_at)"
    " SELECT user_id, n, FALSE, NOW() FROM unnest(%s::text[], %s::int[]) AS counted(user_id, n)"
    " ON CONFLICT (user_id) DO UPDATE"
    " SET total_interactions = users.total_interactions + EXCLUDED.total_interactions,"
    " is_new_user = FALSE, last_active_at = NOW()"
)


def _item_params(item: Item) -> tuple[object, ...]:
    return (
        item.item_id,
        item.title,
        item.description,
        item.category,
        item.subcategory,
        list(item.tags),
        Jsonb(item.content_features),
        item.thumbnail_url,
        item.avg_rating,
        item.is_active,
    )


def _item_from_row(row: dict[str, Any]) -> Item:
    row["tags"] = tuple(row["tags"] or ())
    row["content_features"] = row["content_features"] or {}
    return Item(**row)


class PostgresCatalog:
    def __init__(self, conn: psycopg.Connection) -> None:
        self._conn = conn

    def upsert_item(self, item: Item) -> None:
        self.upsert_items([item])

    def upsert_items(self, items: list[Item]) -> None:
        """Insert or update items, all in one transaction."""
        with self._conn.transaction(), self._conn.cursor() as cur:
            cur.executemany(_UPSERT_ITEM, [_item_params(item) for item in items])

    def get_item(self, item_id: str) -> Item | None:
        with self._conn.cursor(row_factory=dict_row) as cur:
            row = cur.execute(f"SELECT {_ITEM_COLUMNS} FROM items WHERE item_id = %s", (item_id,)).fetchone()
        return _item_from_row(row) if row else None

    def get_items(self, item_ids: list[str]) -> dict[str, Item]:
        with self._conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(
                f"SELECT {_ITEM_COLUMNS} FROM items WHERE item_id = ANY(%s)", (item_ids,)
            ).fetchall()
        return {row["item_id"]: _item_from_row(row) for row in rows}

    def categories(self, item_ids: list[str]) -> dict[str, str | None]:
        """Each catalogued item's category (None when it has none); unknown items are left out.
        The consumers' lookup: two columns, not whole items (building 1,682 Items a batch was a
        tenth of the real-time features consumer's CPU)."""
        rows = self._conn.execute(
            "SELECT item_id, category FROM items WHERE item_id = ANY(%s)", (item_ids,)
        ).fetchall()
        return {item_id: category for item_id, category in rows}

    def changed_since(self, since: datetime | None) -> tuple[list[str], datetime]:
        """The items written (inserted, updated) after `since`, and the database's time now."""
        row = self._conn.execute(
            "SELECT statement_timestamp(),"
            " array(SELECT item_id FROM items WHERE %s::timestamptz IS NOT NULL AND updated_at > %s)",
            (since, since),
        ).fetchone()
        assert row is not None
        return list(row[1]), row[0]

    def popular_items(self, limit: int, category: str | None = None) -> list[tuple[str, float]]:
        """Active items by recorded interactions, then rating, then recency (the catalog's own view)."""
        rows = self._conn.execute(
            "SELECT item_id, interaction_count FROM items"
            " WHERE is_active AND (%s::text IS NULL OR category = %s)"
            " ORDER BY interaction_count DESC, avg_rating DESC NULLS LAST, created_at DESC, item_id LIMIT %s",
            (category, category, limit),
        ).fetchall()
        return [(row[0], float(row[1] or 0)) for row in rows]

    def active_items(self) -> list[Item]:
        """The whole active catalog, in a stable order (what training learns embeddings for)."""
        with self._conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(f"SELECT {_ITEM_COLUMNS} FROM items WHERE is_active ORDER BY id").fetchall()
        return [_item_from_row(row) for row in rows]

    def count_interactions(self, events: list[tuple[str, str, str | None]]) -> int:
        """Count (event_id, user_id, item_id) events on their users and items (item None: not in
        the catalog), each event once: the counters and the mark that an event was counted change
        in one transaction. Returns how many events were new."""
        once = list({event[0]: event for event in events}.values())
        with self._conn.transaction(), self._conn.cursor() as cur:
            rows = cur.execute(
                "INSERT INTO applied_events (event_id) SELECT unnest(%s::text[])"
                " ON CONFLICT DO NOTHING RETURNING event_id",
                ([event_id for event_id, _, _ in once],),
            ).fetchall()
            fresh = {row[0] for row in rows}
            # an event id twice in one batch (a redelivery beside the original) counts once
            new = [(user_id, item_id) for event_id, user_id, item_id in once if event_id in fresh]
            items = Counter(item_id for _, item_id in new if item_id is not None)
            users = Counter(user_id for user_id, _ in new)
            if items:
                ids, counts = zip(*sorted(items.items()), strict=True)
                # Two shards' consumers count the same items at once: lock the rows in one order
                # first, so that their transactions never wait on each other in a cycle.
                cur.execute(
                    "SELECT 1 FROM items WHERE item_id = ANY(%s) ORDER BY item_id FOR UPDATE", (list(ids),)
                )
                cur.execute(
                    "UPDATE items SET interaction_count = interaction_count + counted.n, is_new_item = FALSE"
                    " FROM unnest(%s::text[], %s::int[]) AS counted(item_id, n)"
                    " WHERE items.item_id = counted.item_id",
                    (list(ids), list(counts)),
                )
            if users:  # a user's events are all on one shard: no other consumer counts them
                ids, counts = zip(*sorted(users.items()), strict=True)
                cur.execute(_COUNT_USERS, (list(ids), list(counts)))
        return len(new)

    def counted(self, event_ids: list[str]) -> int:
        """How many of these events count_interactions has counted."""
        row = self._conn.execute(
            "SELECT count(*) FROM applied_events WHERE event_id = ANY(%s)", (event_ids,)
        ).fetchone()
        return int(row[0]) if row else 0

    def forget_applied_events(self, older_than_seconds: int) -> int:
        """Drop marks older than any redelivery can be (housekeeping)."""
        cursor = self._conn.execute(
            "DELETE FROM applied_events WHERE applied_at < NOW() - make_interval(secs => %s)",
            (older_than_seconds,),
        )
        return cursor.rowcount

    def upsert_user(self, user: User) -> None:
        self._conn.execute(
            "INSERT INTO users (user_id, preferred_categories, language, country, engagement_level,"
            " total_interactions, is_new_user) VALUES (%s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (user_id) DO UPDATE SET preferred_categories = EXCLUDED.preferred_categories,"
            " language = EXCLUDED.language, country = EXCLUDED.country,"
            " engagement_level = EXCLUDED.engagement_level,"
            " total_interactions = EXCLUDED.total_interactions, is_new_user = EXCLUDED.is_new_user",
            (
                user.user_id,
                list(user.preferred_categories),
                user.language,
                user.country,
                user.engagement_level,
                user.total_interactions,
                user.is_new_user,
            ),
        )

    def get_user(self, user_id: str) -> User | None:
        with self._conn.cursor(row_factory=dict_row) as cur:
            row = cur.execute(f"SELECT {_USER_COLUMNS} FROM users WHERE user_id = %s", (user_id,)).fetchone()
        if row is None:
            return None
        row["preferred_categories"] = tuple(row["preferred_categories"] or ())
        return User(**row)


class CachedCatalog:
    """The catalog as the request path reads it: an item, once read, is kept in this execution
    environment's memory and dropped when PostgreSQL says it was written since (updated_at),
    which it is asked at most every `check_seconds`. So a request reads PostgreSQL only for
    items this environment has not seen, and a changed item (a new title, deactivated) is served
    as it now is within `check_seconds`. Popularity is the database's own view, read each time.

    Items not yet read come from `snapshot()` when it has them: the catalog published with the
    model this environment serves, less every item written since it was taken (asked once per
    snapshot). So at 100,000 items a new environment reads PostgreSQL for none of the items it
    answers with, rather than for most of them.

    A writer's `updated_at` is its transaction's start, so a write that commits after a check
    can carry a time before it: each check looks OVERLAP further back than the last one."""

    OVERLAP = timedelta(seconds=10)

    def __init__(
        self,
        catalog: Callable[[], PostgresCatalog],  # the store on the current connection
        check_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        snapshot: Callable[[], CatalogSnapshot | None] = lambda: None,
    ) -> None:
        self._catalog = catalog
        self._check_seconds = check_seconds
        self._clock = clock
        self._snapshot = snapshot
        self._items: dict[str, Item | None] = {}  # None: read, and not in the catalog
        self._since: datetime | None = None
        self._checked = float("-inf")
        self._lock = threading.Lock()
        self._adopted: CatalogSnapshot | None = None
        self._written: set[str] = set()  # items written since the adopted snapshot was taken

    def _forget_changed(self) -> None:
        if self._clock() - self._checked < self._check_seconds:
            return
        with self._lock:
            changed, now = self._catalog().changed_since(self._since - self.OVERLAP if self._since else None)
            for item_id in changed:
                self._items.pop(item_id, None)
            self._written.update(changed)
            self._since, self._checked = now, self._clock()

    def _current_snapshot(self) -> CatalogSnapshot | None:
        snapshot = self._snapshot()
        if snapshot is not None and snapshot is not self._adopted:
            with self._lock:  # what was written since it was taken; later checks (above) add to it
                changed, _ = self._catalog().changed_since(snapshot.taken_at - self.OVERLAP)
                self._written = set(changed)
                self._adopted = snapshot
        return self._adopted

    def get_items(self, item_ids: list[str]) -> dict[str, Item]:
        self._forget_changed()
        missing = [item_id for item_id in item_ids if item_id not in self._items]
        if missing and (snapshot := self._current_snapshot()) is not None:
            for item_id in missing:
                if item_id not in self._written and (item := snapshot.get(item_id)) is not None:
                    self._items[item_id] = item
            missing = [item_id for item_id in missing if item_id not in self._items]
        if missing:
            found = self._catalog().get_items(missing)
            self._items.update({item_id: found.get(item_id) for item_id in missing})
        return {i: item for i in item_ids if (item := self._items.get(i)) is not None}

    def get_item(self, item_id: str) -> Item | None:
        return self.get_items([item_id]).get(item_id)

    def popular_items(self, limit: int, category: str | None = None) -> list[tuple[str, float]]:
        return self._catalog().popular_items(limit, category)
