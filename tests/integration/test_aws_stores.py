import json
import uuid
from datetime import UTC, datetime

from recsys.connections import aws_client
from recsys.domain import Interaction
from recsys.stores.index_artifacts import S3IndexArtifacts
from recsys.stores.interaction_stream import KinesisInteractionStream, events_in


def test_index_artifact_round_trips_through_the_emulators_s3(settings, function_env):
    s3 = aws_client("s3")
    assert s3.meta.endpoint_url == function_env["AWS_ENDPOINT_URL"]
    artifacts = S3IndexArtifacts(s3, settings.index_bucket_name)
    version = f"v-{uuid.uuid4().hex[:6]}"
    payload = bytes(range(256)) * 1000
    artifacts.put(version, "items.faiss", payload)
    artifacts.mark_latest(version)
    assert artifacts.get(version, "items.faiss") == payload
    assert artifacts.latest_version() == version
    listed = s3.list_objects_v2(Bucket=settings.index_bucket_name, Prefix=f"{version}/")
    assert [obj["Key"] for obj in listed["Contents"]] == [f"{version}/items.faiss"]


def _shards(kinesis, stream: str) -> list[str]:
    """Shard ids in hash-key order (the order KinesisInteractionStream.shard_of numbers them)."""
    shards = kinesis.list_shards(StreamName=stream)["Shards"]
    return [s["ShardId"] for s in sorted(shards, key=lambda s: int(s["HashKeyRange"]["StartingHashKey"]))]


def _read_shard(kinesis, stream: str, shard: str, after: str | None = None) -> list[dict]:
    kwargs = (
        {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "StartingSequenceNumber": after}
        if after
        else {"ShardIteratorType": "TRIM_HORIZON"}
    )
    iterator = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard, **kwargs)["ShardIterator"]
    records: list[dict] = []
    while True:
        reply = kinesis.get_records(ShardIterator=iterator, Limit=10_000)
        records += reply["Records"]
        if not reply["Records"]:
            return records
        iterator = reply["NextShardIterator"]


def test_interaction_is_published_to_its_users_shard_and_read_back(settings):
    kinesis = aws_client("kinesis")
    name = settings.interaction_stream_name
    stream = KinesisInteractionStream(kinesis, name)
    interaction = Interaction(uuid.uuid4().hex, "user_1", "movie_1", "click", datetime.now(UTC))
    shard = _shards(kinesis, name)[stream.shard_of("user_1")]
    before = (_read_shard(kinesis, name, shard) or [{"SequenceNumber": None}])[-1]["SequenceNumber"]

    assert stream.publish_many([interaction]) == [True]

    [record] = _read_shard(kinesis, name, shard, before)
    assert record["PartitionKey"] == "user_1"
    assert Interaction.from_record(json.loads(record["Data"])) == interaction  # one event: its own form


def test_a_batch_travels_aggregated_one_shard_per_user_in_order(settings):
    kinesis = aws_client("kinesis")
    name = settings.interaction_stream_name
    stream = KinesisInteractionStream(kinesis, name)
    shards = _shards(kinesis, name)
    assert len(shards) >= 2  # the template's default
    before = {
        shard: (_read_shard(kinesis, name, shard) or [{"SequenceNumber": None}])[-1]["SequenceNumber"]
        for shard in shards
    }
    tag = uuid.uuid4().hex[:6]
    batch = [
        Interaction(f"{tag}-{n}", f"agg_{tag}_{n % 50}", f"movie_{n}", "watch", datetime.now(UTC))
        for n in range(1200)
    ]

    assert stream.publish_many(batch) == [True] * 1200

    seen: dict[str, list[str]] = {}
    records = carried = 0
    for index, shard in enumerate(shards):
        for record in _read_shard(kinesis, name, shard, before[shard]):
            records += 1
            carried += len(record["Data"])
            for event in events_in(record["Data"]):
                assert stream.shard_of(event["user_id"]) == index  # every event on its user's shard
                seen.setdefault(event["user_id"], []).append(event["event_id"])
    assert records <= 2 * len(shards) + 2  # 1,200 events in a handful of records, not 1,200
    as_json = sum(len(json.dumps(i.to_record())) for i in batch)
    assert carried < as_json / 5  # compressed: what the stream, each poll and each invocation carry
    expected: dict[str, list[str]] = {}
    for interaction in batch:
        expected.setdefault(interaction.user_id, []).append(interaction.event_id)
    assert seen == expected  # each event once, each user's in the order sent


def test_template_resources_exist_in_the_emulator(settings):
    sqs = aws_client("sqs")
    attributes = sqs.get_queue_attributes(QueueUrl=settings.catalog_import_queue_url, AttributeNames=["All"])[
        "Attributes"
    ]
    redrive = json.loads(attributes["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"].endswith(":recsys-test-catalog-import-dlq")
    assert int(redrive["maxReceiveCount"]) == 5
    assert attributes["VisibilityTimeout"] == "180"
    failures = sqs.get_queue_url(QueueName="recsys-test-interaction-failures")["QueueUrl"]
    assert failures.endswith("/recsys-test-interaction-failures")
    versioning = aws_client("s3").get_bucket_versioning(Bucket=settings.index_bucket_name)
    assert versioning["Status"] == "Enabled"
