"""Bulk import of interaction history from a file (POST /v1/interactions/imports).

The client uploads a CSV (`user_id,item_id,action,timestamp[,context]`, an optional header line)
or JSON Lines file straight to S3 with a presigned URL. The upload's notification starts a worker
that reads the file in chunks of IMPORT_CHUNK rows, validates each row as the API validates an
event, and accepts the valid ones the way the batch endpoint does (claims, then aggregated
records on the interaction stream), checkpointing its counts and byte offset after every chunk.

- Event ids are the spec's fingerprint of user, item, action and timestamp (or a JSON line's own
  `event_id`): importing the same file again doubles nothing. Within 24 hours its rows come back
  as duplicates; later, the consumers still apply each event id once.
- A worker near its time limit hands the rest of the file to a new invocation (a message with its
  checkpoint); a worker that dies is resumed from its checkpoint by the redelivered message (the
  rows of a chunk it had published but not checkpointed come back then as duplicates: stored
  once, counted under `duplicates` rather than `accepted`).
- `applying`: every row is read and published. `completed`: the consumers have stored it all,
  known from the last accepted event of each shard (a shard is consumed in order) being in the
  interaction log, in the real-time features and in the counters.
"""

from __future__ import annotations

import csv
import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from recsys.domain import Interaction
from recsys.logic.interactions import accept_many
from recsys.observability import logger
from recsys.stores.interaction_imports import ImportProgress

if TYPE_CHECKING:
    from recsys.stores.catalog import Catalog
    from recsys.stores.event_claims import EventClaims
    from recsys.stores.feature_store import FeatureStore
    from recsys.stores.interaction_imports import ImportFiles, ImportRegistry, InteractionImport
    from recsys.stores.interaction_log import InteractionLog
    from recsys.stores.interaction_stream import InteractionStream

IMPORT_CHUNK = 5000
MAX_ERRORS = 20
UPLOAD_EXPIRES_SECONDS = 3600
RESERVE_MS = 60_000  # time a worker keeps back to checkpoint and hand over the rest
PUBLISH_ATTEMPTS = 5
FORMATS = ("csv", "jsonl")
CSV_COLUMNS = ("user_id", "item_id", "action", "timestamp", "context")


class RowError(ValueError):
    """A row that cannot be imported, in the error envelope's terms."""

    def __init__(self, message: str, code: str = "INVALID_INPUT", details: dict[str, Any] | None = None):
        super().__init__(message)
        self.code, self.message, self.details = code, message, details or {}


# Validates one row's fields as the API validates an event and returns the interaction; raises
# RowError. The API layer provides it (its request models hold the rules).
RowValidator = Callable[[dict[str, Any]], Interaction]


def object_key(import_id: str) -> str:
    return f"imports/{import_id}/source"


def import_id_of(key: str) -> str | None:
    parts = key.split("/")
    return parts[1] if len(parts) == 3 and parts[0] == "imports" else None


def start_import(
    registry: ImportRegistry, files: ImportFiles, owner_key: str, file_format: str
) -> tuple[str, str]:
    """Register an import awaiting its file; returns its id and the URL to PUT the file to."""
    import_id = f"iimp_{uuid.uuid4().hex}"
    key = object_key(import_id)
    registry.create(import_id, owner_key, file_format, key)
    return import_id, files.upload_url(key, UPLOAD_EXPIRES_SECONDS)


def parse_row(line: bytes, file_format: str) -> dict[str, Any] | None:
    """A row's fields, None for a CSV header line; raises RowError."""
    try:
        text = line.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise RowError("The line is not UTF-8") from None
    if file_format == "jsonl":
        try:
            row = json.loads(text)
        except ValueError as exc:
            raise RowError(f"The line is not JSON: {exc}") from None
        if not isinstance(row, dict):
            raise RowError("The line must be a JSON object")
    else:
        fields = next(csv.reader([text]))
        if fields and fields[0].strip().lower() == "user_id":
            return None
        if not 4 <= len(fields) <= 5:
            raise RowError(
                f"Expected {','.join(CSV_COLUMNS[:4])}[,context]; found {len(fields)} fields",
                details={"columns": list(CSV_COLUMNS)},
            )
        row = dict(zip(CSV_COLUMNS, (f.strip() for f in fields), strict=False))
        if row.get("context"):
            try:
                row["context"] = json.loads(row["context"])
            except ValueError:
                raise RowError("context must be a JSON object", details={"field": "context"}) from None
        else:
            row.pop("context", None)
    if row.get("timestamp") in (None, ""):
        raise RowError("timestamp is required in an import", details={"field": "timestamp"})
    row["timestamp"] = _timestamp(row["timestamp"])
    return row


def _timestamp(value: Any) -> Any:
    """Epoch seconds (as MovieLens has them) become an aware time; ISO text is left to validation."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str) and value.replace(".", "", 1).isdigit():
        return datetime.fromtimestamp(float(value), UTC)
    return value


def run_import(
    import_id: str,
    continuing_from: int | None,
    registry: ImportRegistry,
    files: ImportFiles,
    stream: InteractionStream,
    claims: EventClaims,
    validate: RowValidator,
    remaining_ms: Callable[[], int],
    continue_later: Callable[[str, int], None],
) -> str | None:
    """Read the import's file on from its checkpoint. Returns its status after this run, or None
    when there was nothing to do (another reader has it, or it moved on)."""
    imp = registry.claim(import_id, continuing_from)
    if imp is None:
        logger.info("import not claimed: taken, finished or unknown", extra={"import_id": import_id})
        return None
    sentinels = {str(s["shard"]): s for s in imp.sentinels}
    lines, offset = imp.lines_read, imp.byte_offset
    chunk: list[Interaction] = []
    rejected: list[dict[str, Any]] = []
    read = 0

    def flush(end: int) -> None:
        nonlocal chunk, rejected, read
        progress = _publish(chunk, rejected, read, stream, claims, sentinels)
        registry.checkpoint(import_id, end, lines, list(sentinels.values()), progress, MAX_ERRORS)
        chunk, rejected, read = [], [], 0

    try:
        for line, end in files.lines(imp.object_key, imp.byte_offset):
            lines += 1
            offset = end
            if not line.strip():
                continue
            try:
                row = parse_row(line, imp.file_format)
                if row is None:  # the header
                    continue
                chunk.append(validate(row))
            except RowError as exc:
                rejected.append(
                    {"line": lines, "code": exc.code, "message": exc.message, "details": exc.details}
                )
            read += 1
            if read >= IMPORT_CHUNK:
                flush(offset)
                if remaining_ms() < RESERVE_MS:
                    continue_later(import_id, offset)
                    return "processing"
        flush(offset)
    except FileNotFoundError as exc:
        registry.fail(import_id, str(exc))
        return "failed"
    registry.finish_reading(import_id)
    return "applying"


def _publish(
    chunk: list[Interaction],
    rejected: list[dict[str, Any]],
    read: int,
    stream: InteractionStream,
    claims: EventClaims,
    sentinels: dict[str, dict[str, Any]],
) -> ImportProgress:
    """Accept a chunk's valid rows; rows the stream could not take now are tried again."""
    accepted = duplicates = 0
    pending = chunk
    for attempt in range(PUBLISH_ATTEMPTS):
        outcomes = accept_many(pending, stream, claims)
        retry = []
        for interaction, outcome in zip(pending, outcomes, strict=True):
            if outcome == "accepted":
                accepted += 1
                shard = str(stream.shard_of(interaction.user_id))
                sentinels[shard] = {
                    "shard": shard,
                    "user_id": interaction.user_id,
                    "event_id": interaction.event_id,
                }
            elif outcome == "failed":
                retry.append(interaction)
            else:  # a duplicate, or the same event in flight in another request
                duplicates += 1
        pending = retry
        if not pending:
            break
        time.sleep(0.2 * 2**attempt)
    if pending:
        raise RuntimeError(f"the stream refused {len(pending)} events {PUBLISH_ATTEMPTS} times")
    return ImportProgress(read, accepted, duplicates, len(rejected), rejected[:MAX_ERRORS])


def current_status(
    imp: InteractionImport,
    registry: ImportRegistry,
    log: InteractionLog,
    features: FeatureStore,
    catalog: Catalog,
) -> str:
    """The import's status; an import whose accepted rows are all stored becomes `completed`."""
    if imp.status != "applying":
        return imp.status
    event_ids = [s["event_id"] for s in imp.sentinels]
    stored = (
        all(log.has_event(s["user_id"], s["event_id"]) for s in imp.sentinels)
        and all(features.applied(event_ids))
        and catalog.counted(event_ids) == len(event_ids)
    )
    if not stored:
        return "applying"
    registry.complete(imp.import_id)
    return "completed"
