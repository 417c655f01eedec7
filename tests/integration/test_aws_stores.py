import json
import uuid
from datetime import UTC, datetime

from recsys.connections import aws_client
from recsys.domain import Interaction
from recsys.stores.index_artifacts import S3IndexArtifacts
from recsys.stores.interaction_stream import KinesisInteractionStream


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


def test_interaction_is_published_to_the_stream_and_read_back(settings):
    kinesis = aws_client("kinesis")
    stream = settings.interaction_stream_name
    shard = kinesis.describe_stream(StreamName=stream)["StreamDescription"]["Shards"][0]["ShardId"]
    interaction = Interaction(uuid.uuid4().hex, "user_1", "movie_1", "click", datetime.now(UTC))

    sequence = KinesisInteractionStream(kinesis, stream).publish(interaction)

    iterator = kinesis.get_shard_iterator(
        StreamName=stream,
        ShardId=shard,
        ShardIteratorType="AT_SEQUENCE_NUMBER",
        StartingSequenceNumber=sequence,
    )["ShardIterator"]
    record = kinesis.get_records(ShardIterator=iterator, Limit=1)["Records"][0]
    assert record["PartitionKey"] == "user_1"
    assert Interaction.from_record(json.loads(record["Data"])) == interaction


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
