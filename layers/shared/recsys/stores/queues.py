"""Messages handed to another function through a queue (SQS): a catalog import's chunks, an
interaction import's hand-over near the worker's time limit."""

from __future__ import annotations

from typing import Any, Protocol

SQS_BATCH = 10  # the most messages SendMessageBatch takes


class MessageQueue(Protocol):
    def send_all(self, bodies: list[str]) -> None: ...


class SqsQueue:
    def __init__(self, sqs: Any, queue_url: str) -> None:
        self._sqs, self._url = sqs, queue_url

    def send_all(self, bodies: list[str]) -> None:
        for start in range(0, len(bodies), SQS_BATCH):
            entries = [
                {"Id": str(n), "MessageBody": body}
                for n, body in enumerate(bodies[start : start + SQS_BATCH], start=start)
            ]
            reply = self._sqs.send_message_batch(QueueUrl=self._url, Entries=entries)
            if reply.get("Failed"):
                raise RuntimeError(f"SQS refused {len(reply['Failed'])} of {len(entries)} messages")
