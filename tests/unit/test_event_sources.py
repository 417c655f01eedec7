"""The local Kinesis and SQS pollers' batches, against moto's in-process Kinesis and SQS."""

import threading
from types import SimpleNamespace

import boto3
from moto import mock_aws

from localcloud.runtime.event_sources import MAX_PAYLOAD_BYTES, KinesisMapping, SqsMapping
from localcloud.settings import REGION


def test_a_batch_stops_at_lambdas_payload_limit_and_the_next_starts_at_the_record_left_out():
    with mock_aws():
        session = boto3.session.Session(region_name=REGION)
        kinesis = session.client("kinesis")
        kinesis.create_stream(StreamName="s", ShardCount=1)
        shard = kinesis.list_shards(StreamName="s")["Shards"][0]["ShardId"]
        sequences = [
            kinesis.put_record(StreamName="s", Data=bytes([n]) * 900_000, PartitionKey="k")["SequenceNumber"]
            for n in range(6)
        ]
        arn = kinesis.describe_stream_summary(StreamName="s")["StreamDescriptionSummary"]["StreamARN"]
        mapping = KinesisMapping(
            SimpleNamespace(spec=SimpleNamespace(logical_id="Consumer")),
            {"Stream": arn, "BatchSize": 100, "StartingPosition": "TRIM_HORIZON"},
            session.client,
            REGION,
            threading.Event(),
            print,
        )

        first, iterator = mapping._collect(shard, mapping._iterator(shard))
        second, _ = mapping._collect(shard, iterator)

    # 900 kB records travel base64-encoded: five fit in an event of 6 MB, the sixth waits
    assert [r["SequenceNumber"] for r in first] == sequences[:5]
    assert sum(len(r["Data"]) * 4 // 3 for r in first) <= MAX_PAYLOAD_BYTES
    assert [r["SequenceNumber"] for r in second] == sequences[5:]


def test_a_message_received_again_within_the_window_is_in_the_batch_once_with_its_newest_handle():
    """A visibility timeout shorter than the batching window makes the queue hand the same
    message out again while the window is open (seen once in the e2e suite as a message
    processed twice): the function gets it once, and its newest receipt handle deletes it."""
    with mock_aws():
        session = boto3.session.Session(region_name=REGION)
        sqs = session.client("sqs")
        url = sqs.create_queue(QueueName="q", Attributes={"VisibilityTimeout": "0"})["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sqs.send_message(QueueUrl=url, MessageBody="only")
        mapping = SqsMapping(
            SimpleNamespace(spec=SimpleNamespace(logical_id="Worker")),
            {"Queue": arn, "BatchSize": 10, "MaximumBatchingWindowInSeconds": 0.3},
            session.client,
            REGION,
            threading.Event(),
            print,
        )

        batch = mapping._collect()
        assert [m["Body"] for m in batch] == ["only"]
        assert int(batch[0]["Attributes"]["ApproximateReceiveCount"]) > 1  # it was received again
        sqs.delete_message(QueueUrl=url, ReceiptHandle=batch[0]["ReceiptHandle"])
        left = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        assert left["ApproximateNumberOfMessages"] == "0"
        assert left["ApproximateNumberOfMessagesNotVisible"] == "0"
