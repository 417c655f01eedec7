"""The stores behind the console's endpoints, on the real servers: Redis's per-minute counts and
refresh hold, S3's version listing, SQS's queue depth."""

import time
import uuid

from recsys.connections import aws_client, redis_client
from recsys.stores.failure_queue import SqsFailureQueue
from recsys.stores.feature_store import LiveEvent, RedisFeatureStore
from recsys.stores.index_artifacts import S3IndexArtifacts
from recsys.stores.refresh_trigger import RedisRefreshHold


def _last_two_minutes(store: RedisFeatureStore) -> int:
    return sum(n for _, n in store.applied_per_minute(2, time.time()))


def test_events_applied_are_counted_in_their_minute_once_each(settings):
    store = RedisFeatureStore(redis_client(settings))
    user = f"user_{uuid.uuid4().hex[:8]}"
    events = [LiveEvent(uuid.uuid4().hex, user, f"movie_{n}", "click", 1.0, 1_700_000_000) for n in range(3)]
    before, total = _last_two_minutes(store), store.events_applied()
    assert store.apply_events(events) == 3
    assert store.apply_events(events[:2]) == 0  # redelivered: not counted again
    assert _last_two_minutes(store) - before == 3 and store.events_applied() - total == 3
    minute = store.applied_per_minute(5, time.time())
    assert len(minute) == 5 and minute[-1][0] == int(time.time() // 60)
    assert 0 < redis_client(settings).ttl(f"events:applied:minute:{minute[-1][0]}") <= 120 * 60


def test_the_refresh_hold_lets_one_request_through_until_it_ends_or_is_released(settings):
    hold = RedisRefreshHold(redis_client(settings), seconds=5)
    hold.release()
    assert hold.claim("req-1") is None
    assert 1 <= (hold.claim("req-2") or 0) <= 5
    hold.release()
    assert hold.claim("req-3") is None
    hold.release()


def test_every_version_prefix_in_the_bucket_is_listed(settings):
    artifacts = S3IndexArtifacts(aws_client("s3"), settings.index_bucket_name)
    version = f"ease-sequential-20261201T000000Z-{uuid.uuid4().hex[:4]}"
    artifacts.put(version, "metadata.json", b"{}")
    artifacts.put(version, "spark/job.py", b"")
    listed = artifacts.versions()
    assert version in listed and len(listed) == len(set(listed))  # once, however many files


def test_the_failure_queue_reports_what_waits_and_what_is_in_flight(function_env):
    sqs = aws_client("sqs")
    url = sqs.create_queue(QueueName=f"depth-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    try:
        queue = SqsFailureQueue(sqs, url)
        assert (queue.depth().waiting, queue.depth().in_flight) == (0, 0)
        queue.park("RealtimeFeaturesFunction", "ZGF0YQ==", "1", "boom")
        queue.park("RealtimeFeaturesFunction", "ZGF0YQ==", "2", "boom")
        assert queue.depth().waiting == 2
        assert len(queue.receive(1)) == 1
        depth = queue.depth()
        assert (depth.waiting, depth.in_flight) == (1, 1)
    finally:
        sqs.delete_queue(QueueUrl=url)
