"""The interaction log (Cassandra): per-user history newest first, per-item history, event ids."""

from __future__ import annotations

import functools
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from cassandra.concurrent import execute_concurrent
from cassandra.cqltypes import DateType
from cassandra.query import UNSET_VALUE, BatchStatement, BatchType, PreparedStatement, SimpleStatement

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


# CQL's encodings of the log's scalar columns (text: UTF-8; float: 4 bytes big-endian; timestamp:
# milliseconds since the epoch, 8 bytes), written here rather than through the driver's
# per-type serializers: calling those was a quarter of the log writer's CPU. A unit test holds
# them equal to the driver's.
_FLOAT = struct.Struct(">f").pack
_INT64 = struct.Struct(">q").pack
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def encode_timestamp(value: datetime) -> bytes:
    """An aware datetime as a CQL timestamp (truncated to the millisecond, as the driver does)."""
    delta = value - _EPOCH
    if delta.days < 0:  # before 1970 the driver's float arithmetic rounds differently: use it
        return bytes(DateType.serialize(value, 4))
    return _INT64((delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000)


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


Placement = Callable[[bytes], tuple[str, ...]]  # the replicas that own a partition key


def batch_rows[Row](
    rows: list[tuple[bytes, Row, int]], placement: Placement
) -> list[tuple[bytes, list[Row]]]:
    """(partition key, row, estimated size) rows in batches, each with the partition key of its
    first row: sorted by the replicas that own them, then by partition, and cut when the replicas
    change or a batch would pass UNLOGGED_BATCH_ROWS rows or BATCH_BYTES."""
    batches: list[tuple[bytes, list[Row]]] = []
    owners: tuple[str, ...] | None = None
    size = 0
    for key, row, row_size in sorted(rows, key=lambda r: (placement(r[0]), r[0])):
        row_owners = placement(key)
        full = not batches or len(batches[-1][1]) >= UNLOGGED_BATCH_ROWS or size + row_size > BATCH_BYTES
        if full or row_owners != owners:
            batches.append((key, []))
            owners, size = row_owners, 0
        batches[-1][1].append(row)
        size += row_size
    return batches


class _Batch(BatchStatement):  # type: ignore[misc]  # the driver is untyped
    """An unlogged batch of one prepared insert's rows given as serialized values, routed by the
    partition key of its first row (every row of it has the same replicas)."""

    def __init__(self, prepared: PreparedStatement, rows: list[list[Any]], routing_key: bytes) -> None:
        super().__init__(batch_type=BatchType.UNLOGGED)
        self.routing_key = routing_key
        self.keyspace = prepared.keyspace
        for values in rows:
            self._add_statement_and_params(True, prepared.query_id, values)


class _EncodedEvent(NamedTuple):
    user_key: bytes  # the partition keys, serialized
    item_key: bytes
    user_row: list[Any]  # user_events' values, in the insert's order
    item_row: list[Any]
    size: int  # estimated, per row


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
        # the context map's serializer (the scalar columns are encoded by the functions above)
        self._serialize_context: Callable[[Any, int], bytes] = next(
            column.type.serialize for column in self._insert_user.column_metadata if column.name == "context"
        )
        self._protocol_version: int = self._insert_user.protocol_version
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
        """Bulk write: both tables' rows in unlogged batches, many in flight. A failure raises,
        and since every write is idempotent the load can be run again: a replay, or a retry
        carrying another time, rewrites the same rows (they are keyed by event id).

        - Rows are sorted by partition before they are cut into batches, so the rows of one
          partition travel together and Cassandra applies them as one mutation (one commit-log
          entry, one memtable update): 60,000 events of 200 users cost the server half the CPU
          they did in arrival order.
        - On a cluster a batch holds only rows owned by the same replicas (token-aware, as the
          Spark Cassandra Connector groups its writes), so its coordinator forwards nothing.
        - An event's values are serialized once for both of its rows, straight into the batch:
          binding each row through the driver cost three times as much."""
        encoded = [self._encode(interaction) for interaction in interactions]
        placement = self._placement()
        batches: list[tuple[BatchStatement, None]] = []
        for prepared, rows in (
            (self._insert_user, [(e.user_key, e.user_row, e.size) for e in encoded]),
            (self._insert_item, [(e.item_key, e.item_row, e.size) for e in encoded]),
        ):
            for routing_key, group in batch_rows(rows, placement):
                batches.append((_Batch(prepared, group, routing_key), None))
        execute_concurrent(self._session, batches, concurrency=concurrency, raise_on_first_error=True)

    def _placement(self) -> Placement:
        if len(self._session.cluster.metadata.all_hosts()) == 1:
            return lambda key: ()
        metadata, keyspace = self._session.cluster.metadata, self._session.keyspace

        @functools.cache
        def replicas(key: bytes) -> tuple[str, ...]:
            return tuple(sorted(str(host.host_id) for host in metadata.get_replicas(keyspace, key)))

        return replicas

    def _encode(self, interaction: Interaction) -> _EncodedEvent:
        """Both rows of an event, each value serialized as its column's type does it. Absent
        values are left unset: a null (None, an empty map) is a tombstone that every later read
        of the partition (training scans it all) has to step over."""
        user = interaction.user_id.encode()
        item = interaction.item_id.encode()
        event = interaction.event_id.encode()
        action = interaction.action.encode()
        when = encode_timestamp(interaction.event_time)
        context, session_id = interaction.context, interaction.session_id
        user_values = [
            user,
            when,
            item,
            event,
            action,
            _FLOAT(interaction.weight),
            self._serialize_context(context, self._protocol_version) if context else UNSET_VALUE,
            session_id.encode() if session_id is not None else UNSET_VALUE,
        ]
        size = ROW_OVERHEAD_BYTES + sum(len(k) + len(v) for k, v in context.items())
        return _EncodedEvent(user, item, user_values, [item, when, user, event, action], size)

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
