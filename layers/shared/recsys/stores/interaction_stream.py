"""The interaction stream (Kinesis): accepted interactions on their way to the consumers."""

from __future__ import annotations

import json
from typing import Any, Protocol

from recsys.domain import Interaction


class InteractionStream(Protocol):
    def publish(self, interaction: Interaction) -> str: ...
    def publish_many(self, interactions: list[Interaction]) -> list[bool]: ...
    def read_range(self, shard_id: str, first: str, last: str) -> list[bytes]: ...
    def republish(self, records: list[bytes]) -> int: ...


class KinesisInteractionStream:
    def __init__(self, kinesis: Any, stream_name: str) -> None:
        self._kinesis = kinesis
        self._stream_name = stream_name

    def publish(self, interaction: Interaction) -> str:
        """Put one interaction keyed by user (a user's events stay in order); returns its sequence number."""
        response = self._kinesis.put_record(
            StreamName=self._stream_name,
            Data=json.dumps(interaction.to_record(), separators=(",", ":")).encode(),
            PartitionKey=interaction.user_id,
        )
        return str(response["SequenceNumber"])

    def publish_many(self, interactions: list[Interaction]) -> list[bool]:
        """PutRecords, 500 at a time, each keyed by user; records the stream refused (throttled)
        are tried once more. Returns, per interaction, whether it is on the stream."""
        results = [False] * len(interactions)
        for start in range(0, len(interactions), 500):
            pending = list(range(start, min(start + 500, len(interactions))))
            for _ in range(2):
                entries = [
                    {
                        "Data": json.dumps(interactions[n].to_record(), separators=(",", ":")).encode(),
                        "PartitionKey": interactions[n].user_id,
                    }
                    for n in pending
                ]
                reply = self._kinesis.put_records(StreamName=self._stream_name, Records=entries)
                refused = []
                for n, record in zip(pending, reply["Records"], strict=True):
                    if "ErrorCode" in record:
                        refused.append(n)
                    else:
                        results[n] = True
                pending = refused
                if not pending:
                    break
        return results

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
        """Put records again as they were (consumers apply each event id once, so this is safe)."""
        for start in range(0, len(records), 500):
            chunk = records[start : start + 500]
            entries = [{"Data": data, "PartitionKey": json.loads(data)["user_id"]} for data in chunk]
            while entries:
                reply = self._kinesis.put_records(StreamName=self._stream_name, Records=entries)
                entries = [e for e, r in zip(entries, reply["Records"], strict=True) if "ErrorCode" in r]
        return len(records)
