"""SQS consumer: upsert each queued chunk of a bulk catalog import."""

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from recsys.api.dependencies import catalog, import_progress
from recsys.logic.catalog_import import apply_chunk
from recsys.observability import observed

processor = BatchProcessor(event_type=EventType.SQS)


def record_handler(record: SQSRecord) -> None:
    apply_chunk(record.body, catalog(), import_progress())


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
