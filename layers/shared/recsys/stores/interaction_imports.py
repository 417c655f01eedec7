"""Bulk imports of interaction history: their progress (PostgreSQL) and their files (S3)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

if TYPE_CHECKING:
    import psycopg

_COLUMNS = (
    "import_id, owner_key, file_format, object_key, status, rows_read, accepted, duplicates,"
    " rejected, errors, byte_offset, lines_read, sentinels, failure, created_at, read_at, completed_at"
)
# A worker that has not checkpointed for this long is presumed dead; its import may be resumed.
STALE_SECONDS = 300


@dataclass(frozen=True)
class ImportProgress:
    """One chunk's outcome, added to the import's counters with its checkpoint."""

    rows_read: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class InteractionImport:
    import_id: str
    owner_key: str
    file_format: str
    object_key: str
    status: str
    rows_read: int
    accepted: int
    duplicates: int
    rejected: int
    errors: list[dict[str, Any]]
    byte_offset: int
    lines_read: int
    sentinels: list[dict[str, str]]
    failure: str | None
    created_at: datetime
    read_at: datetime | None
    completed_at: datetime | None


class ImportRegistry(Protocol):
    def create(self, import_id: str, owner_key: str, file_format: str, object_key: str) -> None: ...
    def get(self, import_id: str) -> InteractionImport | None: ...
    def claim(self, import_id: str, continuing_from: int | None) -> InteractionImport | None: ...
    def checkpoint(
        self,
        import_id: str,
        byte_offset: int,
        lines_read: int,
        sentinels: list[dict[str, str]],
        progress: ImportProgress,
        max_errors: int,
    ) -> None: ...
    def finish_reading(self, import_id: str) -> None: ...
    def complete(self, import_id: str) -> None: ...
    def fail(self, import_id: str, reason: str) -> None: ...


class PostgresImportRegistry:
    def __init__(self, conn: psycopg.Connection) -> None:
        self._conn = conn

    def create(self, import_id: str, owner_key: str, file_format: str, object_key: str) -> None:
        self._conn.execute(
            "INSERT INTO interaction_imports (import_id, owner_key, file_format, object_key)"
            " VALUES (%s, %s, %s, %s)",
            (import_id, owner_key, file_format, object_key),
        )

    def get(self, import_id: str) -> InteractionImport | None:
        with self._conn.cursor(row_factory=dict_row) as cur:
            row = cur.execute(
                f"SELECT {_COLUMNS} FROM interaction_imports WHERE import_id = %s",
                (import_id,),
            ).fetchone()
        return InteractionImport(**row) if row else None

    def claim(self, import_id: str, continuing_from: int | None) -> InteractionImport | None:
        """Take the import to read it on from its checkpoint: a new upload, this reader's own
        continuation (`continuing_from` is the checkpoint it left), or an import whose reader
        stopped checkpointing. None: another reader has it, it moved on, or it does not exist
        (a redelivered message finds nothing to do)."""
        with self._conn.cursor(row_factory=dict_row) as cur:
            row = cur.execute(
                "UPDATE interaction_imports SET status = 'processing', heartbeat_at = NOW()"
                " WHERE import_id = %(id)s AND (status = 'awaiting_upload' OR status = 'processing'"
                "  AND (byte_offset = %(offset)s OR heartbeat_at < NOW() - make_interval(secs => %(stale)s)))"
                f" RETURNING {_COLUMNS}",
                {"id": import_id, "offset": continuing_from, "stale": STALE_SECONDS},
            ).fetchone()
        return InteractionImport(**row) if row else None

    def checkpoint(
        self,
        import_id: str,
        byte_offset: int,
        lines_read: int,
        sentinels: list[dict[str, str]],
        progress: ImportProgress,
        max_errors: int,
    ) -> None:
        """Add a chunk's counts and move the checkpoint, in one statement (so a resumed import
        counts each row once); the error list keeps its first `max_errors` entries."""
        self._conn.execute(
            "UPDATE interaction_imports SET byte_offset = %s, lines_read = %s, sentinels = %s,"
            " heartbeat_at = NOW(),"
            " rows_read = rows_read + %s, accepted = accepted + %s, duplicates = duplicates + %s,"
            " rejected = rejected + %s,"
            " errors = CASE WHEN jsonb_array_length(errors) >= %s THEN errors ELSE"
            "  (SELECT COALESCE(jsonb_agg(e), '[]') FROM (SELECT e FROM jsonb_array_elements(errors || %s) e"
            "   LIMIT %s) first) END"
            " WHERE import_id = %s",
            (
                byte_offset,
                lines_read,
                Jsonb(sentinels),
                progress.rows_read,
                progress.accepted,
                progress.duplicates,
                progress.rejected,
                max_errors,
                Jsonb(progress.errors),
                max_errors,
                import_id,
            ),
        )

    def finish_reading(self, import_id: str) -> None:
        """Every row is read and published: the consumers are storing what was accepted."""
        self._conn.execute(
            "UPDATE interaction_imports SET status = 'applying', read_at = NOW() WHERE import_id = %s",
            (import_id,),
        )

    def complete(self, import_id: str) -> None:
        self._conn.execute(
            "UPDATE interaction_imports SET status = 'completed', completed_at = NOW()"
            " WHERE import_id = %s AND status = 'applying'",
            (import_id,),
        )

    def fail(self, import_id: str, reason: str) -> None:
        self._conn.execute(
            "UPDATE interaction_imports SET status = 'failed', failure = %s, read_at = NOW()"
            " WHERE import_id = %s",
            (reason[:1000], import_id),
        )


class ImportFiles(Protocol):
    def upload_url(self, key: str, expires_in: int) -> str: ...
    def lines(self, key: str, byte_offset: int) -> Iterator[tuple[bytes, int]]: ...


class S3ImportFiles:
    def __init__(self, s3: Any, bucket: str) -> None:
        self._s3 = s3
        self._bucket = bucket

    def upload_url(self, key: str, expires_in: int) -> str:
        """A presigned PUT: the client uploads the file straight to S3, not through the API."""
        return str(
            self._s3.generate_presigned_url(
                "put_object", Params={"Bucket": self._bucket, "Key": key}, ExpiresIn=expires_in
            )
        )

    def lines(self, key: str, byte_offset: int) -> Iterator[tuple[bytes, int]]:
        """The file's lines from `byte_offset` on, each with the offset just past it (where a
        reader resumes), streamed rather than read whole."""
        kwargs: dict[str, Any] = {"Bucket": self._bucket, "Key": key}
        if byte_offset:
            kwargs["Range"] = f"bytes={byte_offset}-"
        try:
            body = self._s3.get_object(**kwargs)["Body"]
        except self._s3.exceptions.NoSuchKey:
            raise FileNotFoundError(f"no file was uploaded at {key}") from None
        offset, pending = byte_offset, b""
        for chunk in body.iter_chunks(1 << 20):
            pending += chunk
            *complete, pending = pending.split(b"\n")
            for line in complete:
                offset += len(line) + 1
                yield line, offset
        if pending:
            yield pending, offset + len(pending)
