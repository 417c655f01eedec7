"""Append-only versioned documents in PostgreSQL (user preferences, item features).

Each write inserts version n+1 under a row lock on the owner (the user or the item), so
concurrent writers serialize; an idempotency key seen before returns the version it made.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from psycopg import errors as pg_errors
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from recsys.errors import IdempotencyMismatchError, NotFoundError, VersionConflictError

if TYPE_CHECKING:
    import psycopg


@dataclass(frozen=True)
class Version:
    owner_id: str
    version: int
    values: dict[str, Any]
    updated_at: datetime
    replayed: bool = False  # True when an idempotency key returned an earlier write


class VersionedDocuments:
    def __init__(
        self,
        conn: psycopg.Connection,
        table: str,
        owner_table: str,
        owner_column: str,
        columns: tuple[str, ...],
        json_columns: frozenset[str] = frozenset(),
    ) -> None:
        self._conn = conn
        self._table, self._owner_table = sql.Identifier(table), sql.Identifier(owner_table)
        self._owner = sql.Identifier(owner_column)
        self._owner_name = owner_column
        self._columns = columns
        self._json = json_columns
        self._select = sql.SQL(
            "SELECT {owner}, version, {cols}, updated_at, request_hash FROM {table}"
        ).format(owner=self._owner, cols=sql.SQL(", ").join(map(sql.Identifier, columns)), table=self._table)

    def _version(self, row: dict[str, Any], replayed: bool = False) -> Version:
        values = {column: row[column] for column in self._columns}
        return Version(row[self._owner_name], row["version"], values, row["updated_at"], replayed)

    def current(self, owner_id: str) -> Version | None:
        query = self._select + sql.SQL(" WHERE {owner} = %s ORDER BY version DESC LIMIT 1").format(
            owner=self._owner
        )
        with self._conn.cursor(row_factory=dict_row) as cur:
            row = cur.execute(query, (owner_id,)).fetchone()
        return self._version(row) if row else None

    def _by_key(self, cur: psycopg.Cursor[dict[str, Any]], owner_id: str, key: str) -> dict[str, Any] | None:
        query = self._select + sql.SQL(" WHERE {owner} = %s AND idempotency_key = %s").format(
            owner=self._owner
        )
        return cur.execute(query, (owner_id, key)).fetchone()

    def write(
        self,
        owner_id: str,
        values: dict[str, Any],
        *,
        expected_version: int | None,
        idempotency_key: str | None,
        request_hash: str,
    ) -> Version:
        """Store `values` as the next version of `owner_id`'s document."""
        try:
            return self._write(owner_id, values, expected_version, idempotency_key, request_hash)
        except pg_errors.UniqueViolation:
            # A concurrent request with the same idempotency key (or version) won the race.
            if idempotency_key is None:
                raise VersionConflictError(
                    "a concurrent update took this version", owner_id=owner_id
                ) from None
            with self._conn.cursor(row_factory=dict_row) as cur:
                row = self._by_key(cur, owner_id, idempotency_key)
            if row is None:
                raise
            return self._replay(row, request_hash)

    def _replay(self, row: dict[str, Any], request_hash: str) -> Version:
        if row["request_hash"] != request_hash:
            raise IdempotencyMismatchError("this idempotency key was already used with a different request")
        return self._version(row, replayed=True)

    def _write(
        self,
        owner_id: str,
        values: dict[str, Any],
        expected_version: int | None,
        idempotency_key: str | None,
        request_hash: str,
    ) -> Version:
        with self._conn.transaction(), self._conn.cursor(row_factory=dict_row) as cur:
            locked = cur.execute(
                sql.SQL("SELECT 1 FROM {t} WHERE {o} = %s FOR UPDATE").format(
                    t=self._owner_table, o=self._owner
                ),
                (owner_id,),
            ).fetchone()
            if locked is None:
                raise NotFoundError(f"{owner_id} does not exist", id=owner_id)
            if idempotency_key is not None:
                row = self._by_key(cur, owner_id, idempotency_key)
                if row is not None:
                    return self._replay(row, request_hash)
            latest = cur.execute(
                sql.SQL("SELECT COALESCE(MAX(version), 0) AS v FROM {t} WHERE {o} = %s").format(
                    t=self._table, o=self._owner
                ),
                (owner_id,),
            ).fetchone()
            current = int(latest["v"]) if latest else 0
            if expected_version is not None and expected_version == current - 1:
                # The retry of a versioned write that already succeeded: the same request made version n+1.
                made = cur.execute(
                    self._select + sql.SQL(" WHERE {o} = %s AND version = %s").format(o=self._owner),
                    (owner_id, current),
                ).fetchone()
                if made is not None and made["request_hash"] == request_hash:
                    return self._version(made, replayed=True)
            if expected_version is not None and expected_version != current:
                raise VersionConflictError(
                    f"expected version {expected_version}, but the current version is {current}",
                    current_version=current,
                )
            columns = [self._owner_name, "version", *self._columns, "idempotency_key", "request_hash"]
            params = [
                owner_id,
                current + 1,
                *(Jsonb(values[c]) if c in self._json else values[c] for c in self._columns),
                idempotency_key,
                request_hash,
            ]
            row = cur.execute(
                sql.SQL(
                    "INSERT INTO {t} ({cols}) VALUES ({vals}) RETURNING {owner}, version, {data}, updated_at"
                ).format(
                    t=self._table,
                    cols=sql.SQL(", ").join(map(sql.Identifier, columns)),
                    vals=sql.SQL(", ").join(sql.Placeholder() * len(columns)),
                    owner=self._owner,
                    data=sql.SQL(", ").join(map(sql.Identifier, self._columns)),
                ),
                params,
            ).fetchone()
            assert row is not None
            return self._version(row)
