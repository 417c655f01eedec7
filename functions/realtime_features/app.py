"""Kinesis consumer: real-time features and popularity (Redis) and item counts (PostgreSQL)."""

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.kinesis_stream_event import KinesisStreamRecord

from recsys.api.dependencies import catalog, feature_store, interaction_log
from recsys.domain import Interaction
from recsys.logic.interactions import update_realtime_features
from recsys.observability import logger

processor = BatchProcessor(event_type=EventType.KinesisDataStreams)


def record_handler(record: KinesisStreamRecord) -> None:
    interaction = Interaction.from_record(record.kinesis.data_as_json())
    update_realtime_features([interaction], interaction_log(), feature_store(), catalog())


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
