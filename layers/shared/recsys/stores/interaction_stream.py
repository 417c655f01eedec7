"""The interaction stream (Kinesis): accepted interactions on their way to the consumers.

Events travel aggregated, as the Kinesis Producer Library does it: the events that map to one
shard share a record, `{"events": [...]}` compressed with zlib, up to MAX_AGGREGATE_EVENTS events
and MAX_AGGREGATE_BYTES (before compression); a record that carries one event is that event's
JSON form (`Interaction.to_record`), as readable as it was. A shard takes 1,000 records and 1 MB a
second in AWS, and every record costs the stream, the poller and the consumer the same however
small it is: one event per record capped ingest at a few thousand events a second. Compressed,
an aggregate is a twelfth of its JSON (about 14 bytes an event instead of 175), so a shard
carries some 70,000 events a second rather than 5,700, and every copy of it (the stream, each
consumer's poll, each invocation) is that much smaller. An aggregate goes to its first event's
shard (its partition key is that user), which is the shard of every event in it, so a user's
events stay in one shard, in order.
"""

from __future__ import annotations

import hashlib
import json
import time
import zlib
from collections.abc import Iterator
from typing import Any, Protocol

from recsys.domain import Interaction

MAX_AGGREGATE_EVENTS = 500
MAX_AGGREGATE_BYTES = 512 * 1024  # a record may hold 1 MiB
MAX_PUT_RECORDS = 500  # PutRecords: 500 records and 5 MiB per call
MAX_PUT_BYTES = 4 * 1024 * 1024
SHARD_MAP_SECONDS = 60.0


def events_in(data: bytes) -> list[dict[str, Any]]:
    """The events one record carries: one for a single event (JSON), many for an aggregate
    (zlib; JSON never starts with its header byte, 0x78)."""
    record = json.loads(zlib.decompress(data) if data[:1] == b"\x78" else data)
    if isinstance(record, dict) and isinstance(record.get("events"), list):
        return list(record["events"])
    return [record]


_COMPACT = json.JSONEncoder(separators=(",", ":"))  # json.dumps would build an encoder per call


def _encode(record: dict[str, Any]) -> bytes:
    return _COMPACT.encode(record).encode()


def _hash_key(partition_key: str) -> int:
    """Where Kinesis puts a partition key: the MD5 of it, as a 128-bit number."""
    return int.from_bytes(hashlib.md5(partition_key.encode()).digest(), "big")  # noqa: S324 (Kinesis's own mapping)


class InteractionStream(Protocol):
    def publish_many(self, interactions: list[Interaction]) -> list[bool]: ...
    def read_range(self, shard_id: str, first: str, last: str) -> list[bytes]: ...
    def republish(self, records: list[bytes]) -> int: ...
    def shard_of(self, partition_key: str) -> int: ...


class KinesisInteractionStream:
    def __init__(self, kinesis: Any, stream_name: str) -> None:
        self._kinesis = kinesis
        self._stream_name = stream_name
        self._shards: list[tuple[int, int]] = []  # open shards' hash key ranges
        self._shards_read = 0.0

    def publish_many(self, interactions: list[Interaction]) -> list[bool]:
        """Aggregate the interactions by shard and put them with PutRecords; records the stream
        refused (throttled) are tried once more. Returns, per interaction, whether it is on the
        stream (the events of one record share its fate)."""
        records = list(self._aggregate(interactions))
        results = [False] * len(interactions)
        for chunk in self._put_chunks([(data, key) for data, key, _ in records]):
            pending = chunk
            for _ in range(2):
                reply = self._kinesis.put_records(
                    StreamName=self._stream_name,
                    Records=[{"Data": records[n][0], "PartitionKey": records[n][1]} for n in pending],
                )
                refused = []
                for n, outcome in zip(pending, reply["Records"], strict=True):
                    if "ErrorCode" in outcome:
                        refused.append(n)
                    else:
                        for member in records[n][2]:
                            results[member] = True
                pending = refused
                if not pending:
                    break
        return results

    def _aggregate(self, interactions: list[Interaction]) -> Iterator[tuple[bytes, str, list[int]]]:
        """(data, partition key, indexes of the interactions it carries) per aggregated record."""
        by_shard: dict[int, list[int]] = {}
        shard_of_user: dict[str, int] = {}
        for n, interaction in enumerate(interactions):
            user = interaction.user_id
            shard = shard_of_user.get(user)
            if shard is None:
                shard = shard_of_user[user] = self.shard_of(user)
            by_shard.setdefault(shard, []).append(n)
        for members in by_shard.values():
            events: list[bytes] = []
            carried: list[int] = []
            size = 0
            for n in members:
                event = _encode(interactions[n].to_record())
                if events and (
                    len(events) >= MAX_AGGREGATE_EVENTS or size + len(event) > MAX_AGGREGATE_BYTES
                ):
                    yield self._record(events, interactions[carried[0]].user_id, carried)
                    events, carried, size = [], [], 0
                events.append(event)
                carried.append(n)
                size += len(event) + 1
            if events:
                yield self._record(events, interactions[carried[0]].user_id, carried)

    @staticmethod
    def _record(events: list[bytes], key: str, carried: list[int]) -> tuple[bytes, str, list[int]]:
        if len(events) == 1:
            return events[0], key, carried
        return zlib.compress(b'{"events":[' + b",".join(events) + b"]}", 1), key, carried

    def shard_of(self, partition_key: str) -> int:
        """Which open shard a partition key maps to (an index into the cached shard map)."""
        if not self._shards or time.monotonic() - self._shards_read > SHARD_MAP_SECONDS:
            self._shards = self._open_shards()
            self._shards_read = time.monotonic()
        key = _hash_key(partition_key)
        for n, (start, end) in enumerate(self._shards):
            if start <= key <= end:
                return n
        return 0

    def _open_shards(self) -> list[tuple[int, int]]:
        shards: list[tuple[int, int]] = []
        kwargs: dict[str, Any] = {"StreamName": self._stream_name}
        while True:
            reply = self._kinesis.list_shards(**kwargs)
            shards += [
                (int(s["HashKeyRange"]["StartingHashKey"]), int(s["HashKeyRange"]["EndingHashKey"]))
                for s in reply["Shards"]
                if "EndingSequenceNumber" not in s["SequenceNumberRange"]  # closed by a reshard
            ]
            if not reply.get("NextToken"):
                return sorted(shards)
            kwargs = {"NextToken": reply["NextToken"]}

    @staticmethod
    def _put_chunks(records: list[tuple[bytes, str]]) -> Iterator[list[int]]:
        """Indexes of the records, in PutRecords-sized groups."""
        chunk: list[int] = []
        size = 0
        for n, (data, key) in enumerate(records):
            if chunk and (len(chunk) >= MAX_PUT_RECORDS or size + len(data) + len(key) > MAX_PUT_BYTES):
                yield chunk
                chunk, size = [], 0
            chunk.append(n)
            size += len(data) + len(key)
        if chunk:
            yield chunk

    def read_range(self, shard_id: str, first: str, last: str) -> list[bytes]:
        """The data of the records from sequence number `first` to `last`, inclusive."""
        iterator = self._kinesis.get_shard_iterator(
            StreamName=self._stream_name,
            ShardId=shard_id,
            ShardIteratorType="AT_SEQUENCE_NUMBER",
            StartingSequenceNumber=first,
        )["ShardIterator"]
        found: list[bytes] = []
        while iterator:
            reply = self._kinesis.get_records(ShardIterator=iterator, Limit=1000)
            for record in reply["Records"]:
                if int(record["SequenceNumber"]) > int(last):
                    return found
                found.append(bytes(record["Data"]))
            if not reply["Records"]:
                return found
            iterator = reply.get("NextShardIterator")
        return found

    def republish(self, records: list[bytes]) -> int:
        """Put records again as they were, single or aggregated (consumers apply each event id
        once, so this is safe)."""
        entries = [{"Data": data, "PartitionKey": events_in(data)[0]["user_id"]} for data in records]
        for chunk in self._put_chunks([(e["Data"], e["PartitionKey"]) for e in entries]):
            pending = [entries[n] for n in chunk]
            while pending:
                reply = self._kinesis.put_records(StreamName=self._stream_name, Records=pending)
                pending = [e for e, r in zip(pending, reply["Records"], strict=True) if "ErrorCode" in r]
        return len(records)
