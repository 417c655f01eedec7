"""How the interaction log cuts a bulk write into Cassandra batches (batch_rows), and encodes its rows."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from cassandra.cqltypes import DateType, FloatType, MapType, UTF8Type

from recsys.domain import Interaction
from recsys.stores.interaction_log import (
    BATCH_BYTES,
    UNLOGGED_BATCH_ROWS,
    CassandraInteractionLog,
    batch_rows,
    encode_timestamp,
)


def one_node(key: bytes) -> tuple[str, ...]:
    return ()


def test_a_partitions_rows_travel_together_however_they_arrived():
    arrived = [(f"user_{n % 3}".encode(), n, 300) for n in range(30)]  # users interleaved
    batches = batch_rows(arrived, one_node)
    assert len(batches) == 1
    routing_key, rows = batches[0]
    assert [n % 3 for n in rows] == [0] * 10 + [1] * 10 + [2] * 10
    assert routing_key == b"user_0"


def test_a_batch_stays_within_its_rows_and_bytes():
    many = [(b"user_1", n, 300) for n in range(UNLOGGED_BATCH_ROWS + 1)]
    assert [len(rows) for _, rows in batch_rows(many, one_node)] == [UNLOGGED_BATCH_ROWS, 1]
    large = [(b"user_1", n, BATCH_BYTES // 3 + 1) for n in range(5)]
    assert [len(rows) for _, rows in batch_rows(large, one_node)] == [2, 2, 1]


def test_on_a_cluster_a_batch_holds_only_rows_of_the_same_replicas():
    owners = {b"a": ("n1", "n2"), b"b": ("n2", "n3"), b"c": ("n1", "n2")}
    rows = [(key, n, 300) for n, key in enumerate([b"a", b"b", b"c", b"b", b"a"])]
    batches = batch_rows(rows, owners.__getitem__)
    assert [(key, sorted(group)) for key, group in batches] == [(b"a", [0, 2, 4]), (b"b", [1, 3])]
    for key, group in batches:
        assert {owners[rows[n][0]] for n in group} == {owners[key]}


@pytest.mark.parametrize(
    "when",
    [
        datetime(2026, 12, 1, 20, 41, 7, 123_999, tzinfo=UTC),
        datetime(2026, 12, 1, 21, 41, 7, 5, tzinfo=timezone(timedelta(hours=1))),
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 58, 500_700, tzinfo=UTC),
        datetime(1998, 4, 23, 1, 2, 3, tzinfo=UTC),
    ],
)
def test_timestamps_are_encoded_as_the_driver_encodes_them(when: datetime) -> None:
    assert encode_timestamp(when) == DateType.serialize(when, 4)


def test_an_events_rows_carry_the_drivers_encoding_of_each_value() -> None:
    """The log's own encoders (text, float, timestamp) against the driver's serializers."""
    event = Interaction(
        "ev-é-1",
        "user_ü",
        "movie_42",
        "dislike",
        datetime(2026, 1, 2, 3, 4, 5, 678_000, tzinfo=UTC),
        {"rating": "4"},
        "sess-1",
    )
    log = CassandraInteractionLog.__new__(CassandraInteractionLog)  # no session: only the encoder
    log._serialize_context = MapType.apply_parameters([UTF8Type, UTF8Type]).serialize
    log._protocol_version = 4
    encoded = log._encode(event)
    text = UTF8Type.serialize
    assert encoded.user_row == [
        text("user_ü", 4),
        DateType.serialize(event.event_time, 4),
        text("movie_42", 4),
        text("ev-é-1", 4),
        text("dislike", 4),
        FloatType.serialize(-3.0, 4),
        log._serialize_context({"rating": "4"}, 4),
        text("sess-1", 4),
    ]
    assert encoded.item_row == [encoded.user_row[n] for n in (2, 1, 0, 3, 4)]
