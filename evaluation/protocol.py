"""The offline evaluation protocol: events, the leave-last-out splits and the ranking metrics.

Protocol (fixed, so that numbers from different runs and models compare):

* Each user's events are sorted by timestamp with a STABLE sort: events at the same second keep the
  order of the data file. MovieLens has many events per second, so the tie rule decides the splits.
* Test: each user's last event is held out; the model trains on everything before it.
* Validation: the same cut applied to the training events (the second-to-last event is held out, the
  model trains on everything before it). Hyper-parameters are chosen on validation only; the test split
  is evaluated once, with the chosen parameters and the model retrained on all-but-last.
* Each user's ranking covers every item the user has NOT interacted with in their training events.
* Metrics at 10 with one relevant item per user: HR@10, NDCG@10 (1 / log2(rank + 1), rank from 1),
  catalog coverage@10 (distinct items in all top-10 lists / number of items), and a bootstrap standard
  error over users for HR and NDCG (1,000 resamples, fixed seed).
* Ratings map to the product's actions: rating <= 2 is a "dislike" (weight -3.0), else "watch" (3.0).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

DISLIKE = "dislike"
WATCH = "watch"
ACTION_WEIGHTS: dict[str, float] = {DISLIKE: -3.0, WATCH: 3.0}
K = 10


class Event(NamedTuple):
    """One interaction, as the product records it."""

    user: str
    item: str
    action: str
    timestamp: float

    @property
    def weight(self) -> float:
        return ACTION_WEIGHTS[self.action]


def action_for_rating(rating: float) -> str:
    """The product's action for a MovieLens rating: 1-2 stars say the user disliked the movie."""
    return DISLIKE if rating <= 2 else WATCH


def load_events(path: str | Path) -> list[Event]:
    """Events of a RecBole ``.inter`` file (user, item, rating, timestamp; tab separated), in file order."""
    with open(path, newline="", encoding="utf-8") as handle:
        rows = csv.reader(handle, delimiter="\t")
        header = next(rows)
        column = {name.split(":")[0]: index for index, name in enumerate(header)}
        return [
            Event(
                user=row[column["user_id"]],
                item=row[column["item_id"]],
                action=action_for_rating(float(row[column["rating"]])),
                timestamp=float(row[column["timestamp"]]),
            )
            for row in rows
            if row
        ]


def load_genres(path: str | Path) -> dict[str, list[str]]:
    """Each item's genres from a RecBole ``.item`` file (the ``class`` column, space separated)."""
    with open(path, newline="", encoding="utf-8") as handle:
        rows = csv.reader(handle, delimiter="\t")
        header = next(rows)
        column = {name.split(":")[0]: index for index, name in enumerate(header)}
        return {row[column["item_id"]]: row[column["class"]].split() for row in rows if row}


def item_universe(events: Iterable[Event]) -> list[str]:
    """Every item that occurs in the events, in a fixed order (sorted), so that indices are reproducible."""
    return sorted({event.item for event in events})


def histories(events: Iterable[Event]) -> dict[str, list[Event]]:
    """Each user's events in time order; the sort is stable, so events at the same second keep file order."""
    by_user: dict[str, list[Event]] = {}
    for event in events:
        by_user.setdefault(event.user, []).append(event)
    return {user: sorted(seq, key=lambda event: event.timestamp) for user, seq in by_user.items()}


def leave_last_out(events: Sequence[Event]) -> tuple[list[Event], dict[str, str]]:
    """Split off each user's last event (by stable time order).

    Returns the remaining events, still in file order, and the held-out item per user. Because the
    remaining events keep file order, applying this function to them again carves the validation split
    with the same tie rule (see :func:`validation_split`).
    """
    last_position: dict[str, int] = {}
    for position, event in enumerate(events):
        current = last_position.get(event.user)
        # ">=" keeps the later file position among events at the same second: the stable sort's last.
        if current is None or event.timestamp >= events[current].timestamp:
            last_position[event.user] = position
    held = set(last_position.values())
    train = [event for position, event in enumerate(events) if position not in held]
    return train, {user: events[position].item for user, position in last_position.items()}


def validation_split(train_events: Sequence[Event]) -> tuple[list[Event], dict[str, str]]:
    """The validation split: the leave-last-out cut applied to the training events of the test split."""
    return leave_last_out(train_events)


def metrics(
    rankings: Mapping[str, Sequence[str]],
    held_out: Mapping[str, str],
    n_items: int,
    k: int = K,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, float]:
    """HR@k, NDCG@k, catalog coverage@k and bootstrap standard errors over the held-out users.

    A user without a ranking counts as a miss, so a model cannot gain by skipping hard users. Only the
    first k entries of each ranking are read.
    """
    users = sorted(held_out)
    hits = np.zeros(len(users))
    gains = np.zeros(len(users))
    shown: set[str] = set()
    for row, user in enumerate(users):
        top = list(rankings.get(user, ()))[:k]
        shown.update(top)
        if held_out[user] in top:
            rank = top.index(held_out[user]) + 1
            hits[row] = 1.0
            gains[row] = 1.0 / np.log2(rank + 1)
    result = {
        f"hr@{k}": float(hits.mean()) if users else 0.0,
        f"ndcg@{k}": float(gains.mean()) if users else 0.0,
        f"coverage@{k}": len(shown) / n_items if n_items else 0.0,
        f"se_hr@{k}": 0.0,
        f"se_ndcg@{k}": 0.0,
    }
    if users and n_boot > 0:
        rng = np.random.default_rng(seed)
        sample = rng.integers(0, len(users), size=(n_boot, len(users)))
        result[f"se_hr@{k}"] = float(hits[sample].mean(axis=1).std(ddof=1))
        result[f"se_ndcg@{k}"] = float(gains[sample].mean(axis=1).std(ddof=1))
    return result
