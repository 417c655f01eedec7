"""The interaction log (Cassandra): per-user history newest first, per-item history, event ids."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

from cassandra.concurrent import execute_concurrent
from cassandra.query import BatchStatement, BatchType, SimpleStatement

from recsys.domain import Interaction

if TYPE_CHECKING:
    from cassandra.cluster import Session


@dataclass(frozen=True)
class ItemInteraction:
    user_id: str
    action: str
    event_time: datetime
    event_id: str


@dataclass(frozen=True)
class LoggedEvent:
    """One row of the log as training reads it."""

    user_id: str
    item_id: str
    action: str
    event_time: datetime
    rating: float | None  # an explicit rating the client sent in the context, if any


class InteractionLog(Protocol):
    def append(self, interaction: Interaction) -> None: ...
    def append_many(self, interactions: list[Interaction], concurrency: int = 64) -> None: ...
    def for_user(self, user_id: str, limit: int = 100) -> list[Interaction]: ...
    def for_item(self, item_id: str, limit: int = 100) -> list[ItemInteraction]: ...
    def scan(self, page_size: int = 5000) -> Iterator[LoggedEvent]: ...


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _utc(value: datetime) -> datetime:
    # The driver returns naive datetimes that are in UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


class CassandraInteractionLog:
    def __init__(self, session: Session) -> None:
        self._session = session
        self._insert_user = session.prepare(
            "INSERT INTO user_events (user_id, event_time, item_id, event_id, action_type, weight,"
            " context, session_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        )
        self._insert_item = session.prepare(
            "INSERT INTO item_events (item_id, event_time, user_id, event_id, action_type)"
            " VALUES (?, ?, ?, ?, ?)"
        )
        self._select_user = session.prepare(
            "SELECT user_id, event_time, item_id, event_id, action_type, context, session_id"
            " FROM user_events WHERE user_id = ?"
        )
        self._select_item = session.prepare(
            "SELECT user_id, event_time, event_id, action_type FROM item_events WHERE item_id = ?"
        )

    def append(self, interaction: Interaction) -> None:
        """Write both views of one event; a replay, or a retry carrying another time, rewrites the
        same rows (they are keyed by event id)."""
        self._session.execute(self._batch(interaction))

    def append_many(self, interactions: list[Interaction], concurrency: int = 64) -> None:
        """Bulk load, many events in flight at once. Unlogged batches: a failure raises, and since
        every write is idempotent the whole load can simply be run again."""
        execute_concurrent(
            self._session,
            ((self._batch(i, logged=False), None) for i in interactions),
            concurrency=concurrency,
            raise_on_first_error=True,
        )

    def _batch(self, interaction: Interaction, logged: bool = True) -> BatchStatement:
        # A logged batch: either both tables get the event or the batch log replays it.
        batch = BatchStatement(batch_type=BatchType.LOGGED if logged else BatchType.UNLOGGED)
        batch.add(
            self._insert_user,
            (
                interaction.user_id,
                interaction.event_time,
                interaction.item_id,
                interaction.event_id,
                interaction.action,
                interaction.weight,
                interaction.context,
                interaction.session_id,
            ),
        )
        batch.add(
            self._insert_item,
            (
                interaction.item_id,
                interaction.event_time,
                interaction.user_id,
                interaction.event_id,
                interaction.action,
            ),
        )
        return batch

    def for_user(self, user_id: str, limit: int = 100) -> list[Interaction]:
        """The user's newest `limit` events, newest first (the partition is read whole)."""
        rows = sorted(
            self._session.execute(self._select_user, (user_id,)), key=lambda r: r.event_time, reverse=True
        )
        return [
            Interaction(
                event_id=row.event_id,
                user_id=row.user_id,
                item_id=row.item_id,
                action=row.action_type,
                event_time=_utc(row.event_time),
                context=dict(row.context or {}),
                session_id=row.session_id,
            )
            for row in rows[:limit]
        ]

    def for_item(self, item_id: str, limit: int = 100) -> list[ItemInteraction]:
        rows = sorted(
            self._session.execute(self._select_item, (item_id,)), key=lambda r: r.event_time, reverse=True
        )[:limit]
        return [
            ItemInteraction(row.user_id, row.action_type, _utc(row.event_time), row.event_id) for row in rows
        ]

    def scan(self, page_size: int = 5000) -> Iterator[LoggedEvent]:
        """Every event of the log, a page at a time; a user's events come together, by event id
        (readers order them by time)."""
        statement = SimpleStatement(
            "SELECT user_id, item_id, action_type, event_time, context FROM user_events",
            fetch_size=page_size,
        )
        for row in self._session.execute(statement):
            rating = (row.context or {}).get("rating")
            yield LoggedEvent(
                row.user_id, row.item_id, row.action_type, _utc(row.event_time), _number(rating)
            )
