"""Kinesis consumer: every accepted interaction into the Cassandra interaction log."""

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.kinesis_stream_event import KinesisStreamRecord

from recsys.api.dependencies import failure_queue, interaction_log
from recsys.logic.interactions import consume_record, write_to_log
from recsys.observability import logger

# A batch that fails whole is reported record by record too: the stream retries from the first.
processor = BatchProcessor(event_type=EventType.KinesisDataStreams, raise_on_entire_batch_failure=False)


def record_handler(record: KinesisStreamRecord) -> None:
    consume_record(
        "InteractionLogWriter",
        record.kinesis.data,
        record.kinesis.sequence_number,
        lambda interaction: write_to_log([interaction], interaction_log()),
        failure_queue(),
    )


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
