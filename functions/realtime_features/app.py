"""Kinesis consumer: real-time features, popularity and the user's history (Redis), profile and
item counts (PostgreSQL); each applied exactly once per event id."""

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.kinesis_stream_event import KinesisStreamRecord

from recsys.api.dependencies import catalog, failure_queue, feature_store
from recsys.logic.interactions import consume_record, update_realtime_features
from recsys.observability import logger

# A batch that fails whole is reported record by record too: the stream retries from the first.
processor = BatchProcessor(event_type=EventType.KinesisDataStreams, raise_on_entire_batch_failure=False)


def record_handler(record: KinesisStreamRecord) -> None:
    consume_record(
        "RealtimeFeatures",
        record.kinesis.data,
        record.kinesis.sequence_number,
        lambda interaction: update_realtime_features([interaction], feature_store(), catalog()),
        failure_queue(),
    )


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
