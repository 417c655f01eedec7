"""Seed the served stack with MovieLens-100k, so a newcomer's `make up` serves real answers.

The data set ships inside the PyPI wheel of recbole 1.2.1 (its licence forbids redistribution,
so it is fetched at set-up time into the user's cache, never committed). The catalog goes in
through the catalog store; the ratings go in as a client's history would, through the bulk
import (a JSON Lines file in the import bucket, its worker, the stream and its consumers), so
`make up` and `make eval` exercise the path they measure: an item's interaction count and its
popularity come from the consumers, never from here.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
import zipfile
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from localcloud.connections import postgres, redis_db
from localcloud.deploy import deploy
from localcloud.progress import Progress
from localcloud.services.servers import Servers
from localcloud.settings import Stack
from localcloud.template import StackContext
from recsys.domain import Interaction, Item, User
from recsys.logic.interaction_import import current_status, object_key
from recsys.stores.catalog import PostgresCatalog
from recsys.stores.feature_store import RedisFeatureStore
from recsys.stores.interaction_imports import PostgresImportRegistry
from recsys.stores.interaction_log import CassandraInteractionLog

WHEEL = "recbole==1.2.1"
MEMBER = "recbole/dataset_example/ml-100k/ml-100k.{}"
# set once the whole seed (log keyed by event id, catalog, history) is in
SEED_MARKER = "seed:movielens-100k:v2"


def fetch(cache: Path) -> Path:
    """The folder holding ml-100k.item/.user/.inter, downloaded once."""
    target = cache / "ml-100k"
    if (target / "ml-100k.inter").exists():
        return target
    wheels = cache / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--no-deps", WHEEL, "-d", str(wheels)],
        check=True,
        capture_output=True,
        text=True,
    )
    wheel = next(wheels.glob("recbole-1.2.1-*.whl"))
    target.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as archive:
        for kind in ("item", "user", "inter"):
            (target / f"ml-100k.{kind}").write_bytes(archive.read(MEMBER.format(kind)))
    return target


def _rows(path: Path) -> list[list[str]]:
    lines = path.read_text(encoding="latin-1").splitlines()
    return [line.split("\t") for line in lines[1:] if line.strip()]


def action_for(rating: float) -> str:
    return "dislike" if rating <= 2 else "watch"


def read_movielens(folder: Path) -> tuple[list[Item], list[Interaction]]:
    """The catalog, and the ratings as interactions in the data file's order."""
    items: dict[str, Item] = {}
    for item_id, title, year, genres in (row[:4] for row in _rows(folder / "ml-100k.item")):
        tags = tuple(genres.split()) if genres else ()
        items[f"movie_{item_id}"] = Item(
            item_id=f"movie_{item_id}",
            title=title.strip()[:500] or f"Movie {item_id}",
            category=tags[0] if tags else None,
            tags=tags,
            content_features={"release_year": int(year) if year.isdigit() else None, "genres": list(tags)},
        )
    ratings: dict[str, list[float]] = defaultdict(list)
    interactions: list[Interaction] = []
    for user_id, item_id, rating, timestamp in (row[:4] for row in _rows(folder / "ml-100k.inter")):
        value = float(rating)
        ratings[f"movie_{item_id}"].append(value)
        interactions.append(
            Interaction(
                event_id=f"ml100k-{user_id}-{item_id}",
                user_id=f"user_{user_id}",
                item_id=f"movie_{item_id}",
                action=action_for(value),
                event_time=datetime.fromtimestamp(float(timestamp), UTC),
                context={"source": "movielens", "rating": rating},
            )
        )
    for item_id, values in ratings.items():
        item = items[item_id]
        items[item_id] = Item(**{**item.__dict__, "avg_rating": Decimal(f"{sum(values) / len(values):.2f}")})
    return list(items.values()), interactions


class HistoryImport:
    """Interactions into a stack through its bulk import, as a client would send its history: the
    file to the import bucket, then wait until the consumers have stored every row. Needs the
    stack's runtime running (the import worker and the stream's consumers)."""

    def __init__(
        self,
        s3: Any,
        bucket: str,
        registry: PostgresImportRegistry,
        log: CassandraInteractionLog,
        features: RedisFeatureStore,
        catalog: PostgresCatalog,
    ) -> None:
        self._s3, self._bucket, self._registry = s3, bucket, registry
        self.catalog = catalog
        self._stores = (log, features, catalog)

    def run(self, interactions: list[Interaction], timeout: float = 300.0) -> dict[str, Any]:
        """Import the interactions in time order (a stable sort, so events within one second keep
        their order): the real-time history is built in arrival order. Returns the import's counts."""
        import_id = f"iimp_{uuid.uuid4().hex}"
        key = object_key(import_id)
        self._registry.create(import_id, "localcloud", "jsonl", key)
        rows = (
            json.dumps(
                {
                    "event_id": i.event_id,
                    "user_id": i.user_id,
                    "item_id": i.item_id,
                    "action": i.action,
                    "timestamp": i.event_time.isoformat(),
                    "context": i.context,
                }
            )
            for i in sorted(interactions, key=lambda i: i.event_time)
        )
        self._s3.put_object(Bucket=self._bucket, Key=key, Body="\n".join(rows).encode())
        deadline = time.monotonic() + timeout
        with Progress("history import", total=len(interactions), unit="rows") as bar:
            while time.monotonic() < deadline:
                found = self._registry.get(import_id)
                status = current_status(found, self._registry, *self._stores) if found else "uploaded"
                bar.set(found.rows_read if found else 0, status=status)
                if status in ("completed", "failed"):
                    final = self._registry.get(import_id)
                    assert final is not None
                    if final.status == "failed" or final.rejected:
                        raise RuntimeError(f"import {import_id}: {final.failure or final.errors[:3]}")
                    return {"accepted": final.accepted, "duplicates": final.duplicates}
                time.sleep(0.2)
        raise TimeoutError(f"import {import_id} did not complete in {timeout:.0f}s")


@contextmanager
def history_import(servers: Servers, stack: Stack, context: StackContext) -> Iterator[HistoryImport]:
    """A HistoryImport into `stack` (whose runtime must be serving)."""
    features = RedisFeatureStore(redis_db(servers.ports.redis, stack.redis_db))
    with postgres(servers.ports.postgres, stack.database) as conn, servers.cassandra.session() as session:
        session.set_keyspace(stack.keyspace)
        yield HistoryImport(
            servers.aws_client("s3"),
            context.resources["InteractionImportBucket"]["Ref"],
            PostgresImportRegistry(conn),
            CassandraInteractionLog(session),
            features,
            PostgresCatalog(conn),
        )


def load_catalog(catalog: PostgresCatalog, items: list[Item], chunk: int = 2_000) -> None:
    """Items into the catalog store, in transactions of `chunk` items (a bar on a terminal)."""
    with Progress("catalog", total=len(items), unit="items") as bar:
        for start in range(0, len(items), chunk):
            catalog.upsert_items(items[start : start + chunk])
            bar.set(min(len(items), start + chunk))


@dataclass(frozen=True)
class Seeded:
    """What an ingest stored: the catalog's items and users, and the history's rows the import
    accepted or found stored already (duplicates)."""

    items: int
    users: int
    interactions: int
    duplicates: int


def ingest(items: list[Item], interactions: list[Interaction], history: HistoryImport) -> Seeded:
    """A catalog (through the catalog store) and its history (through the bulk import)."""
    load_catalog(history.catalog, items)
    users = sorted({i.user_id for i in interactions})
    with Progress("users", total=len(users), unit="users") as bar:
        for user_id in users:
            history.catalog.upsert_user(User(user_id=user_id, is_new_user=False))
            bar.advance()
    counts = history.run(interactions)
    return Seeded(len(items), len(users), counts["accepted"], counts["duplicates"])


def seed_stack(servers: Servers, stack: Stack, context: StackContext) -> None:
    """Load MovieLens-100k into `stack` once (its runtime serving); a failure to fetch it is
    reported, not fatal."""
    features = RedisFeatureStore(redis_db(servers.ports.redis, stack.redis_db))
    if features.has_marker(SEED_MARKER):
        return
    with postgres(servers.ports.postgres, stack.database) as conn:
        query = "SELECT count(*) FROM items WHERE item_id LIKE %s"
        present = conn.execute(query, ("movie\\_%",)).fetchone()
    if present and present[0] > 0:  # no marker: a seed cut short, or an older version's
        print(f"  {stack.name} holds an unfinished or older seed: re-creating the stack")
        context = deploy(servers, stack, fresh=True)
    started = time.monotonic()
    try:
        folder = fetch(servers.layout.cache / "datasets")
    except Exception as exc:  # no registry: the stack still runs, just empty
        print(f"  seed data skipped: could not fetch MovieLens-100k ({exc})")
        return
    with history_import(servers, stack, context) as history:
        seeded = ingest(*read_movielens(folder), history)
    features.set_marker(SEED_MARKER)
    print(
        f"  seeded {stack.name} with MovieLens-100k: {seeded.items} items, {seeded.users} users,"
        f" {seeded.interactions} interactions (bulk import) in {time.monotonic() - started:.0f}s"
    )
