"""The interaction failure queue (SQS): stream records that could not be applied, kept to be
inspected and replayed. Two kinds of message arrive there:

- a consumer's own, for a record that can never succeed as it is: the record's data and the error;
- the event-source mapping's on-failure pointer, for a batch that stayed failed past its maximum
  age: the shard and the range of sequence numbers, not the data (Lambda sends no data).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Parked:
    receipt: str
    body: dict[str, Any]
    sent_at: float  # epoch seconds the message reached the queue

    @property
    def records(self) -> list[str] | None:
        """Base64 record data carried by the message itself (a consumer's), else None."""
        data = self.body.get("record", {}).get("data")
        return [str(data)] if data else None

    @property
    def batch_info(self) -> dict[str, Any] | None:
        """The stream range an on-failure pointer names, else None."""
        info = self.body.get("KinesisBatchInfo")
        return dict(info) if isinstance(info, dict) else None


class FailureQueue(Protocol):
    def park(self, consumer: str, data: str, sequence_number: str, error: str) -> None: ...
    def receive(self, limit: int) -> list[Parked]: ...
    def remove(self, parked: Parked) -> None: ...


@dataclass(frozen=True)
class Depth:
    waiting: int  # ApproximateNumberOfMessages: parked, ready to be replayed
    in_flight: int  # ApproximateNumberOfMessagesNotVisible: received (a replay running), not yet removed


class QueueDepth(Protocol):
    def depth(self) -> Depth: ...


class SqsFailureQueue:
    def __init__(self, sqs: Any, queue_url: str) -> None:
        self._sqs = sqs
        self._url = queue_url

    def park(self, consumer: str, data: str, sequence_number: str, error: str) -> None:
        message = {
            "condition": "RecordCannotBeApplied",
            "consumer": consumer,
            "error": error[:2000],
            "record": {"data": data, "sequenceNumber": sequence_number},
        }
        self._sqs.send_message(QueueUrl=self._url, MessageBody=json.dumps(message))

    def receive(self, limit: int) -> list[Parked]:
        reply = self._sqs.receive_message(
            QueueUrl=self._url,
            MaxNumberOfMessages=min(10, limit),
            WaitTimeSeconds=0,
            VisibilityTimeout=60,
            AttributeNames=["SentTimestamp"],
        )
        return [
            Parked(m["ReceiptHandle"], json.loads(m["Body"]), int(m["Attributes"]["SentTimestamp"]) / 1000)
            for m in reply.get("Messages", [])
        ]

    def remove(self, parked: Parked) -> None:
        self._sqs.delete_message(QueueUrl=self._url, ReceiptHandle=parked.receipt)

    def depth(self) -> Depth:
        """How many records the queue holds (SQS's approximate counts)."""
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        attributes = self._sqs.get_queue_attributes(QueueUrl=self._url, AttributeNames=names)["Attributes"]
        return Depth(int(attributes.get(names[0], 0)), int(attributes.get(names[1], 0)))
