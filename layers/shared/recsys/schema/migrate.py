"""Apply the numbered migration files of this package, each once, in order.

Each engine keeps a `schema_migrations` table recording the version, file name and checksum
of every applied file; applying again is a no-op, and editing an applied file is refused.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psycopg
    from cassandra.cluster import Session

_FILE_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.(sql|cql)$")
# Serializes concurrent `make up` / test sessions applying PostgreSQL migrations.
_PG_LOCK_ID = 0x7265637379730001


class MigrationError(RuntimeError):
    pass


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    text: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()


def load_migrations(engine: str) -> list[Migration]:
    """The migrations of `engine` ("postgres" or "cassandra"), ordered by version."""
    folder = resources.files(__package__).joinpath(engine)
    found: dict[int, Migration] = {}
    for entry in folder.iterdir():
        match = _FILE_NAME.match(entry.name)
        if not match:
            continue
        version = int(match.group(1))
        if version in found:
            raise MigrationError(f"two {engine} migrations share version {version:04d}")
        found[version] = Migration(version, entry.name, entry.read_text(encoding="utf-8"))
    return [found[v] for v in sorted(found)]


def split_cql_statements(text: str) -> list[str]:
    """Statements of a CQL file (the driver runs one at a time): `--` comment lines dropped."""
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("--")]
    return [stmt.strip() for stmt in "\n".join(lines).split(";") if stmt.strip()]


def _check_unchanged(engine: str, applied: dict[int, str], migrations: list[Migration]) -> None:
    for migration in migrations:
        recorded = applied.get(migration.version)
        if recorded is not None and recorded != migration.checksum:
            raise MigrationError(
                f"{engine} migration {migration.name} changed after it was applied; "
                "add a new migration instead of editing an applied one"
            )


def migrate_postgres(conn: psycopg.Connection) -> list[str]:
    """Apply pending PostgreSQL migrations, each in its own transaction. Returns their names."""
    migrations = load_migrations("postgres")
    done: list[str] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_PG_LOCK_ID,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version INTEGER PRIMARY KEY, name TEXT NOT NULL, checksum CHAR(64) NOT NULL,"
            " applied_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW())"
        )
        rows = conn.execute("SELECT version, checksum FROM schema_migrations").fetchall()
        applied = {int(version): checksum for version, checksum in rows}
        _check_unchanged("postgres", applied, migrations)
        for migration in migrations:
            if migration.version in applied:
                continue
            with conn.transaction():
                # Without bind parameters psycopg sends the whole file as one simple query.
                conn.execute(migration.text.encode())
                conn.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                    (migration.version, migration.name, migration.checksum),
                )
            done.append(migration.name)
    return done


def ensure_keyspace(session: Session, keyspace: str, replication_factor: int = 1) -> None:
    if not keyspace.replace("_", "").isalnum():
        raise MigrationError(f"invalid keyspace name {keyspace!r}")
    # DDL takes no bind markers; the name is checked above and the factor is an int.
    session.execute(
        f"CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = "
        f"{{'class': 'SimpleStrategy', 'replication_factor': {int(replication_factor)}}}"
    )


def migrate_cassandra(session: Session, keyspace: str) -> list[str]:
    """Apply pending CQL migrations inside `keyspace` (which must exist). Returns their names."""
    migrations = load_migrations("cassandra")
    session.set_keyspace(keyspace)
    session.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INT PRIMARY KEY, name TEXT, checksum TEXT, applied_at TIMESTAMP)"
    )
    rows = session.execute("SELECT version, checksum FROM schema_migrations")
    applied = {row.version: row.checksum for row in rows}
    _check_unchanged("cassandra", applied, migrations)
    record = session.prepare(
        "INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (?, ?, ?, ?)"
    )
    done: list[str] = []
    for migration in migrations:
        if migration.version in applied:
            continue
        # CQL DDL is not transactional: every statement is written to be re-runnable.
        for statement in split_cql_statements(migration.text):
            session.execute(statement)
        session.execute(
            record,
            (migration.version, migration.name, migration.checksum, datetime.now(UTC)),
        )
        done.append(migration.name)
    return done
