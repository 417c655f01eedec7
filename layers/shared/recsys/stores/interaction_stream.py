"""The interaction stream (Kinesis): accepted interactions on their way to the consumers."""

from __future__ import annotations

import json
from typing import Any, Protocol

from recsys.domain import Interaction


class InteractionStream(Protocol):
    def publish(self, interaction: Interaction) -> str: ...


class KinesisInteractionStream:
    def __init__(self, kinesis: Any, stream_name: str) -> None:
        self._kinesis = kinesis
        self._stream_name = stream_name

    def publish(self, interaction: Interaction) -> str:
        """Put one interaction keyed by user (a user's events stay in order); returns its sequence number."""
        response = self._kinesis.put_record(
            StreamName=self._stream_name,
            Data=json.dumps(interaction.to_record(), separators=(",", ":")).encode(),
            PartitionKey=interaction.user_id,
        )
        return str(response["SequenceNumber"])
