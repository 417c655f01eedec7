"""Kinesis consumer: every accepted interaction into the Cassandra interaction log.

A batch is written in bulk (many writes in flight) rather than record by record through
Powertools' BatchProcessor: per-record round trips capped ingest far below what the stream
carries, and since every write is idempotent per event id a failed batch is simply applied again.
The answer is still Lambda's partial batch response (ReportBatchItemFailures)."""

from typing import Any

from recsys.api.dependencies import failure_queue, interaction_log
from recsys.logic.interactions import consume_batch, write_to_log
from recsys.observability import metrics, observed


@observed(long_lived=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    records = [(r["kinesis"]["sequenceNumber"], r["kinesis"]["data"]) for r in event["Records"]]
    failed = consume_batch(
        "InteractionLogWriter", records, lambda batch: write_to_log(batch, interaction_log()), failure_queue()
    )
    metrics.add_metric(name="InteractionsLogged", unit="Count", value=len(records) - len(failed))
    return {"batchItemFailures": [{"itemIdentifier": sequence} for sequence in failed]}
