"""The local AWS emulator keeps every record that concurrent producers put on a stream."""

from __future__ import annotations

import concurrent.futures
import json

import boto3
from moto import mock_aws

import localcloud.services.moto_server  # noqa: F401  (applies the fix, as the emulator's process does)


def test_concurrent_producers_lose_no_record():
    with mock_aws():
        kinesis = boto3.client("kinesis")
        kinesis.create_stream(StreamName="s", ShardCount=1)

        def put(batch: int) -> int:
            records = [{"Data": json.dumps([batch, i]).encode(), "PartitionKey": f"u{i}"} for i in range(200)]
            return int(kinesis.put_records(StreamName="s", Records=records)["FailedRecordCount"])

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            assert sum(pool.map(put, range(40))) == 0
        shard = kinesis.list_shards(StreamName="s")["Shards"][0]["ShardId"]
        iterator = kinesis.get_shard_iterator(StreamName="s", ShardId=shard, ShardIteratorType="TRIM_HORIZON")
        position, seen = iterator["ShardIterator"], set[tuple[int, int]]()
        while True:
            reply = kinesis.get_records(ShardIterator=position, Limit=10000)
            seen.update(tuple(json.loads(r["Data"])) for r in reply["Records"])
            position = reply["NextShardIterator"]
            if not reply["Records"]:
                break
        assert len(seen) == 40 * 200
