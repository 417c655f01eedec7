"""Kinesis consumer: real-time features, popularity and the user's history (Redis), profile and
item counts (PostgreSQL); each applied exactly once per event id.

A batch is applied in bulk (one Redis pipeline, one PostgreSQL transaction) rather than record by
record: each store applies an event together with its mark, so applying a batch again after a
failure applies exactly what was missing. The answer is Lambda's partial batch response."""

from typing import Any

from recsys.api.dependencies import catalog, failure_queue, feature_store
from recsys.logic.interactions import consume_batch, update_realtime_features
from recsys.observability import metrics, observed


@observed(long_lived=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    records = [(r["kinesis"]["sequenceNumber"], r["kinesis"]["data"]) for r in event["Records"]]
    failed = consume_batch(
        "RealtimeFeatures",
        records,
        lambda batch: update_realtime_features(batch, feature_store(), catalog()),
        failure_queue(),
    )
    metrics.add_metric(name="InteractionsApplied", unit="Count", value=len(records) - len(failed))
    return {"batchItemFailures": [{"itemIdentifier": sequence} for sequence in failed]}
