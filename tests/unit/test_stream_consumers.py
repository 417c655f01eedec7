"""A consumer's step over aggregated records: applied in bulk, one bad event parked alone, a store
failure retried whole; and the import's row parsing."""

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from redis.exceptions import ConnectionError as RedisDown

from recsys.logic.interaction_import import RowError, parse_row
from recsys.logic.interactions import consume_batch
from tests.unit.fakes import FakeFailureQueue


def parked(queue: FakeFailureQueue) -> list[tuple[str, dict[str, Any], str]]:
    """(sequence number, event, error) of each parked record."""
    records = [(m.body["record"], m.body["error"]) for m in queue.messages]
    return [(r["sequenceNumber"], json.loads(base64.b64decode(r["data"])), error) for r, error in records]


def event(n: int, **changes: Any) -> dict[str, Any]:
    return {
        "event_id": f"e{n}",
        "user_id": f"u{n % 3}",
        "item_id": f"movie_{n}",
        "action": "watch",
        "event_time": datetime(2026, 1, 1, tzinfo=UTC).isoformat(),
        "context": {},
        "session_id": None,
        **changes,
    }


def record(sequence: str, *events: dict[str, Any]) -> tuple[str, str]:
    data = {"events": list(events)} if len(events) > 1 else events[0]
    return sequence, base64.b64encode(json.dumps(data).encode()).decode()


def test_aggregates_and_single_records_are_applied_together_in_one_call():
    calls = []
    records = [record("1", *(event(n) for n in range(5))), record("2", event(5))]
    assert (
        consume_batch(
            "c", records, lambda batch: calls.append([i.event_id for i in batch]), FakeFailureQueue()
        )
        == []
    )
    assert calls == [["e0", "e1", "e2", "e3", "e4", "e5"]]


def test_an_event_a_store_refuses_is_parked_alone_and_the_rest_applied():
    applied: list[str] = []

    def apply(batch):
        if any(i.item_id == "movie_3" for i in batch):
            raise ValueError("value out of range")
        applied.extend(i.event_id for i in batch)

    queue = FakeFailureQueue()
    records = [
        record("1", *(event(n) for n in range(8))),
        record("2", event(8), event(9, event_time="garbage")),
    ]
    assert consume_batch("c", records, apply, queue) == []
    assert sorted(applied) == sorted(f"e{n}" for n in (0, 1, 2, 4, 5, 6, 7, 8))
    assert [(sequence, data["event_id"]) for sequence, data, _ in parked(queue)] == [("2", "e9"), ("1", "e3")]
    assert "value out of range" in parked(queue)[1][2]


def test_a_store_that_is_down_fails_every_record_of_the_batch():
    def apply(batch):
        raise RedisDown("Connection refused")

    records = [record("1", event(0), event(1)), record("2", event(2))]
    assert consume_batch("c", records, apply, FakeFailureQueue()) == ["1", "2"]


def test_import_rows_csv_jsonl_and_their_errors():
    assert parse_row(b"user_id,item_id,action,timestamp", "csv") is None
    row = parse_row(b'u1,movie_1,like,881250949,"{""rating"": ""4""}"', "csv")
    assert row == {
        "user_id": "u1",
        "item_id": "movie_1",
        "action": "like",
        "timestamp": datetime.fromtimestamp(881250949, UTC),
        "context": {"rating": "4"},
    }
    row = parse_row(
        b'{"user_id":"u","item_id":"i","action":"watch","timestamp":"2024-01-20T15:30:00Z"}', "jsonl"
    )
    assert row is not None and row["timestamp"] == "2024-01-20T15:30:00Z"
    for line, fmt, message in (
        (b"u1,movie_1,like", "csv", "found 3 fields"),
        (b"u1,movie_1,like,,", "csv", "timestamp is required"),
        (b"u1,movie_1,like,1,{oops", "csv", "context must be a JSON object"),
        (b"[1,2]", "jsonl", "must be a JSON object"),
        (b"\xff\xfe", "csv", "not UTF-8"),
    ):
        with pytest.raises(RowError, match=message):
            parse_row(line, fmt)
