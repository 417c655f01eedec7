"""`make replay` (ReplayFailuresFunction): put what the failure queue holds back on the stream.

A consumer's parked message carries its record; the event-source mapping's on-failure pointer
names a range of the stream, which is read back. Either way the records go onto the stream again
as they were, and the consumers, which apply each event id once, take them as if new. Messages
that arrive while the replay runs (a record that fails again) wait for the next replay.
"""

from __future__ import annotations

import base64
import time
from typing import TYPE_CHECKING

from recsys.observability import logger
from recsys.stores.interaction_stream import events_in

if TYPE_CHECKING:
    from recsys.stores.failure_queue import FailureQueue
    from recsys.stores.interaction_stream import InteractionStream


def replay(queue: FailureQueue, stream: InteractionStream, limit: int = 10_000) -> dict[str, int]:
    started = time.time()
    messages = records = events = 0
    while messages < limit:
        batch = [parked for parked in queue.receive(10) if parked.sent_at < started]
        if not batch:
            break
        for parked in batch:
            info = parked.batch_info
            if parked.records is not None:
                data = [base64.b64decode(record) for record in parked.records]
            elif info is not None:
                data = stream.read_range(
                    info["shardId"], info["startSequenceNumber"], info["endSequenceNumber"]
                )
            else:
                logger.warning("failure-queue message of unknown shape dropped", extra={"body": parked.body})
                data = []
            records += stream.republish(data)
            events += sum(len(events_in(d)) for d in data)
            queue.remove(parked)
            messages += 1
    return {"messages": messages, "records": records, "events": events}
