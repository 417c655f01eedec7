"""The interaction log (Cassandra): per-user history newest first, per-item history, event ids."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

from cassandra.concurrent import execute_concurrent
from cassandra.query import UNSET_VALUE, BatchStatement, BatchType, BoundStatement, SimpleStatement

from recsys.domain import Interaction

if TYPE_CHECKING:
    from cassandra.cluster import Session


# An unlogged batch holds at most UNLOGGED_BATCH_ROWS rows and BATCH_BYTES of estimated size:
# Cassandra refuses a batch over 50 KiB by default (batch_size_fail_threshold), and counts about
# 340 bytes for a row of this log with an empty context (128 such rows: 44 KiB). With the
# commit log synced before each acknowledgement, 128 rows to a batch cost the server 25 % less
# per event than 64.
UNLOGGED_BATCH_ROWS = 128
BATCH_BYTES = 44 * 1024
ROW_OVERHEAD_BYTES = 300


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
    def append_many(self, interactions: list[Interaction], concurrency: int = 32) -> None: ...
    def has_event(self, user_id: str, event_id: str) -> bool: ...
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
        self._select_event = session.prepare(
            "SELECT event_id FROM user_events WHERE user_id = ? AND event_id = ?"
        )
        self._select_item = session.prepare(
            "SELECT user_id, event_time, event_id, action_type FROM item_events WHERE item_id = ?"
        )

    def append_many(self, interactions: list[Interaction], concurrency: int = 32) -> None:
        """Bulk write: the rows grouped by the replicas that own them (token-aware, as the Spark
        Cassandra Connector can group its writes), up to UNLOGGED_BATCH_ROWS to an unlogged batch, many
        batches in flight. Each batch goes to a coordinator that owns every row of it, so nothing
        is forwarded; a statement per row cost the driver and the server about twice as much. A
        failure raises, and since every write is idempotent the load can be run again: a replay,
        or a retry carrying another time, rewrites the same rows (they are keyed by event id)."""
        groups: dict[tuple[str, ...], list[tuple[BoundStatement, int]]] = {}
        one_node = len(self._session.cluster.metadata.all_hosts()) == 1
        for interaction in interactions:
            size = ROW_OVERHEAD_BYTES + sum(len(k) + len(v) for k, v in interaction.context.items())
            for statement in self._rows(interaction):
                group = groups.setdefault(() if one_node else self._replicas(statement), [])
                group.append((statement, size))
        batches = []
        for rows in groups.values():
            batch, size = BatchStatement(batch_type=BatchType.UNLOGGED), 0
            for row, row_size in rows:
                if len(batch) and (len(batch) >= UNLOGGED_BATCH_ROWS or size + row_size > BATCH_BYTES):
                    batches.append((batch, None))
                    batch, size = BatchStatement(batch_type=BatchType.UNLOGGED), 0
                batch.add(row)
                size += row_size
            if len(batch):
                batches.append((batch, None))
        execute_concurrent(self._session, batches, concurrency=concurrency, raise_on_first_error=True)

    def _replicas(self, statement: BoundStatement) -> tuple[str, ...]:
        hosts = self._session.cluster.metadata.get_replicas(self._session.keyspace, statement.routing_key)
        return tuple(sorted(str(host.host_id) for host in hosts))

    def _rows(self, interaction: Interaction) -> tuple[BoundStatement, BoundStatement]:
        return (
            self._insert_user.bind(
                (
                    interaction.user_id,
                    interaction.event_time,
                    interaction.item_id,
                    interaction.event_id,
                    interaction.action,
                    interaction.weight,
                    # a null (None, an empty map) is written as a tombstone, which every later
                    # read of the partition (training scans it all) has to step over: leave unset
                    interaction.context or UNSET_VALUE,
                    interaction.session_id if interaction.session_id is not None else UNSET_VALUE,
                )
            ),
            self._insert_item.bind(
                (
                    interaction.item_id,
                    interaction.event_time,
                    interaction.user_id,
                    interaction.event_id,
                    interaction.action,
                )
            ),
        )

    def has_event(self, user_id: str, event_id: str) -> bool:
        return self._session.execute(self._select_event, (user_id, event_id)).one() is not None

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
