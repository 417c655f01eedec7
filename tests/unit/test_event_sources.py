"""The local Kinesis poller's batches, against moto's in-process Kinesis."""

import threading
from types import SimpleNamespace

import boto3
from moto import mock_aws

from localcloud.runtime.event_sources import MAX_PAYLOAD_BYTES, KinesisMapping
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
