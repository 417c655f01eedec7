"""Seed the served stack with MovieLens-100k, so a newcomer's `make up` serves real answers.

The data set ships inside the PyPI wheel of recbole 1.2.1 (its licence forbids redistribution,
so it is fetched at set-up time into the user's cache, never committed). Items, users and
ratings go in through the project's own store adapters: the catalog (PostgreSQL), the
interaction log (Cassandra) and the popularity rankings (Redis).
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from recsys.domain import Interaction, Item, User
from recsys.logic.interactions import update_realtime_features
from recsys.stores.catalog import PostgresCatalog
from recsys.stores.feature_store import RedisFeatureStore
from recsys.stores.interaction_log import CassandraInteractionLog

WHEEL = "recbole==1.2.1"
MEMBER = "recbole/dataset_example/ml-100k/ml-100k.{}"


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


def load(
    folder: Path, catalog: PostgresCatalog, log: CassandraInteractionLog, features: RedisFeatureStore
) -> int:
    """Load MovieLens into the stores; returns the number of interactions written."""
    items, interactions = read_movielens(folder)
    return ingest(items, interactions, catalog, log, features)


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


def ingest(
    items: list[Item],
    interactions: list[Interaction],
    catalog: PostgresCatalog,
    log: CassandraInteractionLog,
    features: RedisFeatureStore,
) -> int:
    """Write a catalog and its history through the store adapters, exactly as the consumers do:
    the log, then each event's real-time effects and counters (update_realtime_features), in time
    order (a stable sort, so events within one second keep the file's order)."""
    catalog.upsert_items(items)
    for user_id in sorted({i.user_id for i in interactions}):
        catalog.upsert_user(User(user_id=user_id, is_new_user=False))
    log.append_many(interactions)
    in_order = sorted(interactions, key=lambda i: i.event_time)
    for start in range(0, len(in_order), 5_000):
        update_realtime_features(in_order[start : start + 5_000], features, catalog)
    return len(interactions)
