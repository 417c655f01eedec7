"""SQS consumer: read an uploaded interaction history file (S3's notification, or a worker's
hand-over near its time limit) and accept its rows onto the interaction stream."""

import json
from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from recsys.api import dependencies as deps
from recsys.api.routes.interactions import interaction_from_row
from recsys.logic.interaction_import import import_id_of, run_import
from recsys.observability import logger, observed

processor = BatchProcessor(event_type=EventType.SQS)


def _hand_over(import_id: str, byte_offset: int) -> None:
    deps.interaction_import_hand_overs().send_all(
        [json.dumps({"import_id": import_id, "byte_offset": byte_offset})]
    )


def _work(message: dict[str, Any]) -> list[tuple[str, int | None]]:
    """(import id, checkpoint it continues from) for each import the message names."""
    if "import_id" in message:
        return [(str(message["import_id"]), int(message["byte_offset"]))]
    # S3 sends the key URL-encoded
    keys = [
        unquote_plus(r.get("s3", {}).get("object", {}).get("key", "")) for r in message.get("Records", [])
    ]
    return [(import_id, None) for import_id in map(import_id_of, keys) if import_id]  # s3:TestEvent: none


def handler_for(context: Any) -> Any:
    def record_handler(record: SQSRecord) -> None:
        for import_id, continuing_from in _work(json.loads(record.body)):
            status = run_import(
                import_id,
                continuing_from,
                deps.import_registry(),
                deps.import_files(),
                deps.interaction_stream(),
                deps.event_claims(),
                interaction_from_row,
                context.get_remaining_time_in_millis,
                _hand_over,
            )
            logger.info("import step done", extra={"import_id": import_id, "status": status})

    return record_handler


@observed(long_lived=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return process_partial_response(
        event=event, record_handler=handler_for(context), processor=processor, context=context
    )
