"""On demand (`make replay`): the interaction failure queue's records back onto the stream."""

from typing import Any

from recsys.api import dependencies as deps
from recsys.logic.replay import replay
from recsys.observability import observed


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    queue = deps.failure_queue()
    if queue is None:
        raise RuntimeError("FAILURE_QUEUE_URL is not set for this function")
    return replay(queue, deps.interaction_stream(), int(event.get("limit", 10_000)))
