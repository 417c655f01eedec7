"""Nothing acknowledged is lost, nothing is applied twice: the real-time consumer through the local
runtime's Invoke API, with Redis unreachable and then back, and with the same batch delivered again."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime

import pytest

from localcloud.connections import postgres, redis_db
from localcloud.settings import ACCOUNT_ID, REGION, TEST_STACK
from recsys.config import Settings
from recsys.connections import cassandra_session
from recsys.stores.interaction_log import CassandraInteractionLog
from tests.e2e.conftest import Runtime, free_port, wait_for


def kinesis_event(*records: dict) -> dict:
    return {
        "Records": [
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": record["user_id"],
                    "sequenceNumber": str(1000 + n),
                    "data": base64.b64encode(json.dumps(record).encode()).decode(),
                    "approximateArrivalTimestamp": 1705764600.0,
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": f"shardId-000000000000:{1000 + n}",
                "eventName": "aws:kinesis:record",
                "awsRegion": REGION,
                "eventSourceARN": f"arn:aws:kinesis:{REGION}:{ACCOUNT_ID}:stream/recsys-test-interactions",
            }
            for n, record in enumerate(records)
        ]
    }


def interaction(user: str, item: str, action: str = "watch") -> dict:
    return {
        "event_id": uuid.uuid4().hex,
        "user_id": user,
        "item_id": item,
        "action": action,
        "event_time": datetime.now(UTC).isoformat(),
        "context": {},
        "session_id": None,
    }


@pytest.fixture(scope="module")
def runtime(cloud, function_env, tmp_path_factory):
    started = Runtime(cloud, tmp_path_factory.mktemp("reliability"))
    yield started
    started.stop()


def total_interactions(cloud, user: str) -> int:
    with postgres(cloud.ports.postgres, TEST_STACK.database) as conn:
        row = conn.execute("SELECT total_interactions FROM users WHERE user_id = %s", (user,)).fetchone()
        return int(row[0]) if row else 0


def test_features_land_exactly_once_after_redis_was_down_and_under_redelivery(
    cloud, runtime, tmp_path_factory
):
    user = f"user_{uuid.uuid4().hex[:8]}"
    event = kinesis_event(interaction(user, "movie_1"), interaction(user, "movie_2", "purchase"))
    store = redis_db(cloud.ports.redis, TEST_STACK.redis_db)
    broken = Runtime(cloud, tmp_path_factory.mktemp("no-redis"), env={"RECSYS_REDIS_PORT": str(free_port())})
    try:
        error, reply = broken.invoke("RealtimeFeaturesFunction", event)
    finally:
        broken.stop()
    # With Redis down the batch is reported failed (so the stream redelivers it), and nothing is
    # marked done: neither the features nor the counters.
    assert error is None and len(reply["batchItemFailures"]) == 2
    assert store.hgetall(f"user_features:{user}") == {} and total_interactions(cloud, user) == 0

    for _ in range(3):  # Redis is back; the stream delivers the batch, then again and again
        error, reply = runtime.invoke("RealtimeFeaturesFunction", event)
        assert error is None and reply["batchItemFailures"] == []
    features = {k.decode(): v.decode() for k, v in store.hgetall(f"user_features:{user}").items()}
    assert features["interactions_total"] == "2" and features["count_purchase"] == "1"
    assert {k.decode(): float(v) for k, v in store.hgetall(f"user_items:{user}").items()} == {
        "movie_1": 3.0,
        "movie_2": 5.0,
    }
    assert store.llen(f"user_recent:{user}") == 2
    assert total_interactions(cloud, user) == 2


def drain(sqs, queue: str) -> None:
    """Empty the queue (PurgeQueue allows one call a minute)."""
    while messages := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages"):
        for message in messages:
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])


def stream_name(runtime) -> str:
    return f"{runtime.stack}-interactions"


def log_rows(cloud, user: str) -> int:
    """The user's rows in the test stack's interaction log (the environment is the stack's)."""
    return len(CassandraInteractionLog(cassandra_session(Settings.from_environment())).for_user(user))


def test_a_poison_record_is_parked_and_the_stream_moves_on(cloud, runtime):
    kinesis, sqs = runtime.aws("kinesis"), runtime.aws("sqs")
    queue = runtime.queue_url("interaction-failures")
    drain(sqs, queue)
    user = f"user_{uuid.uuid4().hex[:8]}"
    poison = {**interaction(user, "movie_1"), "action": "teleport"}  # no API would accept it
    good = interaction(user, "movie_2")
    for record in (poison, good):
        kinesis.put_record(
            StreamName=stream_name(runtime), Data=json.dumps(record).encode(), PartitionKey=user
        )
    assert wait_for(lambda: log_rows(cloud, user) == 1, 30), (
        "the good record behind the poison one was not applied"
    )

    def parked() -> list[dict]:
        reply = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, VisibilityTimeout=0)
        return [json.loads(m["Body"]) for m in reply.get("Messages", [])]

    messages = wait_for(lambda: len(parked()) >= 2 and parked(), 30)
    assert {m["consumer"] for m in messages} == {"InteractionLogWriter", "RealtimeFeatures"}
    assert all("teleport" in m["error"] for m in messages)
    assert json.loads(base64.b64decode(messages[0]["record"]["data"]))["event_id"] == poison["event_id"]


def test_replay_puts_parked_records_and_failed_ranges_back_through_the_consumers(cloud, runtime):
    kinesis, sqs = runtime.aws("kinesis"), runtime.aws("sqs")
    queue = runtime.queue_url("interaction-failures")
    drain(sqs, queue)
    user = f"user_{uuid.uuid4().hex[:8]}"
    # a record parked while it could not be applied (say, a bug since fixed): it is good now
    record = interaction(user, "movie_7")
    data = base64.b64encode(json.dumps(record).encode()).decode()
    sqs.send_message(
        QueueUrl=queue,
        MessageBody=json.dumps(
            {"condition": "RecordCannotBeApplied", "consumer": "test", "error": "x", "record": {"data": data}}
        ),
    )
    # an on-failure pointer: a range of the stream that stayed failed (here: already applied once)
    ranged = interaction(user, "movie_8")
    put = kinesis.put_record(
        StreamName=stream_name(runtime), Data=json.dumps(ranged).encode(), PartitionKey=user
    )
    assert wait_for(lambda: log_rows(cloud, user) == 1, 30)
    pointer = {
        "KinesisBatchInfo": {
            "shardId": put["ShardId"],
            "startSequenceNumber": put["SequenceNumber"],
            "endSequenceNumber": put["SequenceNumber"],
            "batchSize": 1,
        }
    }
    sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(pointer))
    error, counts = runtime.invoke("ReplayFailuresFunction", {})
    assert error is None and counts == {"messages": 2, "records": 2, "events": 2}
    assert wait_for(lambda: log_rows(cloud, user) == 2, 30)  # movie_7 arrived; movie_8 is still one row
    assert total_interactions(cloud, user) == 2  # the replayed range was not counted twice
    assert sqs.receive_message(QueueUrl=queue, VisibilityTimeout=0).get("Messages") is None
