"""Kinesis and SQS event-source mappings, polled from the emulator with Lambda's semantics."""

from __future__ import annotations

import base64
import contextlib
import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from localcloud.runtime.environments import FunctionPool, Invocation

Log = Callable[[str], None]
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024  # Lambda's limit on a synchronous invocation's event
# An empty shard is read again after IDLE_POLL_SECONDS, doubling up to MAX_IDLE_POLL_SECONDS while
# it stays empty: the first event after a quiet spell waits at most that long, and idle stacks
# do not spend the machine on polling (at a fixed 0.1 s, two idle stacks' pollers and the
# emulator answering them took an eighth of both cores).
IDLE_POLL_SECONDS = 0.05
MAX_IDLE_POLL_SECONDS = 0.25
# Within a batching window the shard is read again every WINDOW_POLL_SECONDS (a full batch is
# delivered at most that late): reading it again as soon as a read returned records kept the
# emulator answering back-to-back reads of a few records each while ingest ran.
WINDOW_POLL_SECONDS = 0.2
SQS_WAIT_SECONDS = 2  # long polling, as Lambda's SQS pollers do: a message is delivered when it arrives


def _failed_identifiers(invocation: Invocation) -> set[str] | None:
    """Identifiers the function reported failed; None means the whole batch failed."""
    if invocation.error:
        return None
    try:
        result = json.loads(invocation.payload or b"null")
    except ValueError:
        return None
    if not isinstance(result, dict) or "batchItemFailures" not in result:
        return set()
    failures = result["batchItemFailures"] or []
    ids = {str(f.get("itemIdentifier") or "") for f in failures if isinstance(f, dict)}
    return None if "" in ids else ids


class _Mapping(threading.Thread):
    """What Kinesis and SQS mappings share: the function's pool, batching, partial responses."""

    kind = ""
    default_batch_size = 10

    def __init__(
        self,
        pool: FunctionPool,
        props: dict[str, Any],
        clients: Callable[[str], Any],
        region: str,
        stop: threading.Event,
        log: Log,
    ) -> None:
        super().__init__(daemon=True, name=f"{self.kind}-{pool.spec.logical_id}")
        self.pool, self.props, self.region, self.stop, self.log = pool, props, region, stop, log
        self.clients = clients
        self.sqs = clients("sqs")
        self.batch_size = int(props.get("BatchSize", self.default_batch_size))
        self.window = float(props.get("MaximumBatchingWindowInSeconds", 0))
        self.partial = "ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or [])


def backoff(attempt: int, base: float = 0.2, cap: float = 5.0) -> float:
    """Seconds to wait before retry `attempt` (1, 2, ...): doubling from `base`, at most `cap`."""
    return float(min(cap, base * 2 ** max(0, attempt - 1)))


class KinesisMapping(_Mapping):
    """One shard iterator per shard; a batch is retried with backoff (bisected on error) until it
    succeeds, its retries run out or its oldest record passes MaximumRecordAgeInSeconds, and then
    it goes to the on-failure destination. A poller that loses the emulator (it restarted, the
    stream was re-created) reconnects by itself, from its StartingPosition (the template's is
    TRIM_HORIZON)."""

    kind = "kinesis"
    default_batch_size = 100

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.kinesis = self.clients("kinesis")
        self.stream_arn = str(self.props["Stream"])
        self.stream = self.stream_arn.split("/", 1)[1]
        self.account_id = self.stream_arn.split(":")[4]  # arn:aws:kinesis:<region>:<account>:stream/<name>
        self.max_retries = int(self.props.get("MaximumRetryAttempts", -1))
        self.max_age = int(self.props.get("MaximumRecordAgeInSeconds", -1))
        self.bisect = bool(self.props.get("BisectBatchOnFunctionError", False))
        destination = ((self.props.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
        self.on_failure = str(destination) if destination else None

    def _iterator(self, shard_id: str, at_sequence_number: str | None = None) -> str:
        position = str(self.props.get("StartingPosition", "LATEST"))
        kwargs: dict[str, Any] = {"ShardIteratorType": position}
        if at_sequence_number is not None:
            kwargs = {"ShardIteratorType": "AT_SEQUENCE_NUMBER", "StartingSequenceNumber": at_sequence_number}
        elif position == "AT_TIMESTAMP":
            kwargs["Timestamp"] = self.props["StartingPositionTimestamp"]
        return str(
            self.kinesis.get_shard_iterator(StreamName=self.stream, ShardId=shard_id, **kwargs)[
                "ShardIterator"
            ]
        )

    def run(self) -> None:
        """One reader per shard, as Lambda polls each shard on its own: shards are processed in
        parallel, and in order within each. When a reader loses the stream, all start over."""
        failures = 0
        while not self.stop.is_set():
            try:
                shards = [s["ShardId"] for s in self.kinesis.list_shards(StreamName=self.stream)["Shards"]]
            except Exception as exc:  # the emulator restarted, the stream is gone or re-created, ...
                failures += 1
                if failures == 1 or failures % 30 == 0:
                    self.log(f"{self.pool.spec.logical_id}: polling {self.stream} failed ({exc}); retrying")
                self.stop.wait(backoff(failures))
                continue
            lost = threading.Event()
            readers = [
                threading.Thread(
                    target=self._read, args=(shard_id, lost), daemon=True, name=f"{self.name}-{n}"
                )
                for n, shard_id in enumerate(shards)
            ]
            for reader in readers:
                reader.start()
            for reader in readers:
                reader.join()
            failures = 0 if not lost.is_set() else failures + 1
            if lost.is_set():
                self.stop.wait(backoff(failures))

    def _read(self, shard_id: str, lost: threading.Event) -> None:
        try:
            iterator = self._iterator(shard_id)
            idle = IDLE_POLL_SECONDS
            while not self.stop.is_set() and not lost.is_set():
                batch, iterator = self._collect(shard_id, iterator)
                if batch:
                    self._deliver(shard_id, batch)
                    idle = IDLE_POLL_SECONDS
                elif not self.stop.is_set():
                    self.stop.wait(idle)
                    idle = min(MAX_IDLE_POLL_SECONDS, idle * 2)
        except Exception as exc:  # start over: shards and iterators may no longer exist
            if not lost.is_set():
                self.log(
                    f"{self.pool.spec.logical_id}: reading {self.stream}/{shard_id} failed ({exc}); retrying"
                )
            lost.set()

    def _collect(self, shard_id: str, iterator: str) -> tuple[list[dict[str, Any]], str]:
        """Records up to the batch size and Lambda's 6 MB payload, waiting at most the window
        once the first record is there (an empty shard returns at once)."""
        batch: list[dict[str, Any]] = []
        size = 0
        deadline = time.monotonic() + self.window
        while len(batch) < self.batch_size and size < MAX_PAYLOAD_BYTES:
            reply = self.kinesis.get_records(ShardIterator=iterator, Limit=self.batch_size - len(batch))
            iterator = reply["NextShardIterator"]
            for record in reply["Records"]:
                record_size = len(record["Data"]) * 4 // 3 + 400  # base64 and the record's envelope
                if batch and size + record_size > MAX_PAYLOAD_BYTES:
                    # the rest waits for the next batch, which starts at this record
                    return batch, self._iterator(shard_id, record["SequenceNumber"])
                batch.append(record)
                size += record_size
            remaining = deadline - time.monotonic()
            if not batch or remaining <= 0 or self.stop.is_set():
                break
            self.stop.wait(min(WINDOW_POLL_SECONDS, remaining))
        return batch, iterator

    def _event(self, shard_id: str, records: list[dict[str, Any]]) -> bytes:
        return json.dumps(
            {
                "Records": [
                    {
                        "kinesis": {
                            "kinesisSchemaVersion": "1.0",
                            "partitionKey": r["PartitionKey"],
                            "sequenceNumber": r["SequenceNumber"],
                            "data": base64.b64encode(r["Data"]).decode(),
                            "approximateArrivalTimestamp": r["ApproximateArrivalTimestamp"].timestamp(),
                        },
                        "eventSource": "aws:kinesis",
                        "eventVersion": "1.0",
                        "eventID": f"{shard_id}:{r['SequenceNumber']}",
                        "eventName": "aws:kinesis:record",
                        "invokeIdentityArn": f"arn:aws:iam::{self.account_id}:role/{self.pool.spec.name}",
                        "awsRegion": self.region,
                        "eventSourceARN": self.stream_arn,
                    }
                    for r in records
                ]
            }
        ).encode()

    def _deliver(self, shard_id: str, batch: list[dict[str, Any]]) -> None:
        work: list[tuple[list[dict[str, Any]], int]] = [(batch, 0)]
        while work and not self.stop.is_set():
            records, attempts = work.pop(0)
            invocation = self.pool.invoke(self._event(shard_id, records))
            failed = _failed_identifiers(invocation) if self.partial or invocation.error else set()
            if failed == set():
                continue
            if failed is None:
                remaining = records
            else:  # resume from the lowest failed sequence number, as Lambda checkpoints
                sequences = [r["SequenceNumber"] for r in records]
                first = min((sequences.index(s) for s in failed if s in sequences), default=0)
                remaining = records[first:]
            if (self.max_retries != -1 and attempts >= self.max_retries) or self._expired(remaining):
                self._send_failure(shard_id, remaining, attempts + 1, invocation)
                continue
            self.stop.wait(backoff(attempts + 1))  # a store that is down gets time to come back
            if failed is None and self.bisect and len(remaining) > 1:
                half = len(remaining) // 2
                work[:0] = [(remaining[:half], attempts + 1), (remaining[half:], attempts + 1)]
            else:
                work.insert(0, (remaining, attempts + 1))

    def _expired(self, records: list[dict[str, Any]]) -> bool:
        if self.max_age == -1 or not records:
            return False
        oldest = min(r["ApproximateArrivalTimestamp"].timestamp() for r in records)
        return time.time() - oldest > self.max_age

    def _send_failure(
        self, shard_id: str, records: list[dict[str, Any]], attempts: int, invocation: Invocation
    ) -> None:
        self.log(
            f"{self.pool.spec.logical_id}: {len(records)} record(s) from {shard_id} failed {attempts} times"
        )
        if not self.on_failure:
            return
        # Lambda sends the batch's location, not its data, to an on-failure destination.
        message = {
            "requestContext": {
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": attempts,
                "functionArn": f"function:{self.pool.spec.name}",
            },
            "responseContext": {"functionError": invocation.error or "", "statusCode": 200},
            "timestamp": datetime.now(UTC).isoformat(),
            "KinesisBatchInfo": {
                "shardId": shard_id,
                "startSequenceNumber": records[0]["SequenceNumber"],
                "endSequenceNumber": records[-1]["SequenceNumber"],
                "batchSize": len(records),
                "streamArn": self.stream_arn,
            },
        }
        queue_url = self.sqs.get_queue_url(QueueName=self.on_failure.rsplit(":", 1)[1])["QueueUrl"]
        self.sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(message))


class SqsMapping(_Mapping):
    """Receive, invoke, delete what succeeded; the rest reappears after the visibility timeout
    and, past the queue's maxReceiveCount, the queue's redrive policy moves it to the DLQ."""

    kind = "sqs"

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.queue_arn = str(self.props["Queue"])
        self.queue_url = self.sqs.get_queue_url(QueueName=self.queue_arn.rsplit(":", 1)[1])["QueueUrl"]

    def run(self) -> None:
        failures = 0
        while not self.stop.is_set():
            try:
                messages = self._collect()
                if messages:
                    self._deliver(messages)
                failures = 0
            except Exception as exc:  # the emulator restarted or the queue was re-created
                failures += 1
                if failures == 1 or failures % 30 == 0:
                    self.log(
                        f"{self.pool.spec.logical_id}: polling {self.queue_arn} failed ({exc}); retrying"
                    )
                self.stop.wait(backoff(failures))
                with contextlib.suppress(Exception):  # still down: the next round tries again
                    self.queue_url = self.sqs.get_queue_url(QueueName=self.queue_arn.rsplit(":", 1)[1])[
                        "QueueUrl"
                    ]

    def _collect(self) -> list[dict[str, Any]]:
        """Messages up to the batch size: the first receive waits for one to arrive (long
        polling), the next ones gather more until the window closes. A message whose visibility
        timeout ends within the window is received again: it is in the batch once, with its
        newest receipt handle (the one that deletes it)."""
        messages: dict[str, dict[str, Any]] = {}
        deadline = time.monotonic() + self.window
        while len(messages) < self.batch_size and not self.stop.is_set():
            reply = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=min(10, self.batch_size - len(messages)),
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
                WaitTimeSeconds=0 if messages else SQS_WAIT_SECONDS,
            )
            for message in reply.get("Messages", []):
                messages[message["MessageId"]] = message  # where it was first received
            if time.monotonic() >= deadline:
                break
        return list(messages.values())

    def _deliver(self, messages: list[dict[str, Any]]) -> None:
        event = {
            "Records": [
                {
                    "messageId": m["MessageId"],
                    "receiptHandle": m["ReceiptHandle"],
                    "body": m["Body"],
                    "attributes": m.get("Attributes", {}),
                    "messageAttributes": m.get("MessageAttributes", {}),
                    "md5OfBody": m["MD5OfBody"],
                    "eventSource": "aws:sqs",
                    "eventSourceARN": self.queue_arn,
                    "awsRegion": self.region,
                }
                for m in messages
            ]
        }
        invocation = self.pool.invoke(json.dumps(event).encode())
        failed = _failed_identifiers(invocation) if self.partial or invocation.error else set()
        if failed is None:
            return  # every message becomes visible again after its visibility timeout
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                    for i, m in enumerate(done[start : start + 10])
                ],
            )
