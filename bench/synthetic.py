"""A synthetic catalog and history at a real product's scale, reproducible from a seed (`make bench
SCALE=100k`): 100,000 items in genres with a power-law popularity, 1,000,000 interactions from
users with tastes and habits.

- Items belong to one of GENRES genres (genre sizes themselves uneven) and, within it, to a series
  of SERIES_LENGTH consecutive items (episodes, volumes, a product line). Within a genre an item's
  popularity falls as a power of its rank.
- A user has one to three favourite genres, with weights; each interaction is in one of them
  (EXPLORE of the time: any genre), of an item drawn by popularity, or, CONTINUE of the time,
  the next item of the series the user's previous interaction was in. Users' activity is
  lognormal: most act a few times, some hundreds of times.
- Actions: mostly watch and click, some likes, purchases and dislikes; times spread over 180
  days, in order within each user.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt

from recsys.domain import Item

GENRES = 24
SERIES_LENGTH = 6
EXPLORE = 0.1
CONTINUE = 0.35
POPULARITY_EXPONENT = 0.9
DAYS = 180
START = datetime(2026, 1, 1, tzinfo=UTC)
ACTIONS = ("watch", "click", "like", "purchase", "dislike")
ACTION_SHARES = (0.55, 0.3, 0.08, 0.04, 0.03)


@dataclass(frozen=True)
class World:
    items: list[Item]
    users: npt.NDArray[np.int64]  # per event, sorted by user and then time
    item_of: npt.NDArray[np.int64]  # per event: index into items
    action_of: npt.NDArray[np.int64]  # per event: index into ACTIONS
    seconds: npt.NDArray[np.int64]  # per event: epoch seconds

    def item_id(self, n: int) -> str:
        return self.items[n].item_id

    def rows(self) -> Iterator[str]:
        """The history as an import file's CSV rows: user_id,item_id,action,timestamp."""
        yield "user_id,item_id,action,timestamp"
        ids = [item.item_id for item in self.items]
        for u, i, a, t in zip(
            self.users.tolist(),
            self.item_of.tolist(),
            self.action_of.tolist(),
            self.seconds.tolist(),
            strict=True,
        ):
            yield f"u_{u},{ids[i]},{ACTIONS[a]},{t}"


def generate(n_items: int = 100_000, n_events: int = 1_000_000, seed: int = 2026) -> World:
    rng = np.random.default_rng(seed)
    sizes = rng.dirichlet(np.full(GENRES, 2.0)) * n_items
    genre_of_item = np.repeat(np.arange(GENRES), np.maximum(1, sizes.round().astype(np.int64)))[:n_items]
    genre_of_item = np.concatenate([genre_of_item, rng.integers(0, GENRES, n_items - len(genre_of_item))])
    genre_of_item.sort()  # a genre's items are consecutive, and so are a series' episodes
    start_of_genre = np.searchsorted(genre_of_item, np.arange(GENRES + 1))
    # popularity within a genre: a power of a random rank
    cdfs = []
    for g in range(GENRES):
        size = start_of_genre[g + 1] - start_of_genre[g]
        weights = 1.0 / (rng.permutation(size) + 1.0) ** POPULARITY_EXPONENT
        cdfs.append(np.cumsum(weights) / weights.sum())

    n_users = max(1, n_events // 17)
    activity = rng.lognormal(2.2, 1.0, n_users)
    per_user = 2 + rng.multinomial(n_events - 2 * n_users, activity / activity.sum())  # sums to n_events
    users = np.repeat(np.arange(n_users), per_user)

    favourites = rng.integers(0, GENRES, (n_users, 3))
    taste = rng.dirichlet(np.full(3, 0.7), n_users)
    choice = (rng.random(len(users))[:, None] > np.cumsum(taste, axis=1)[users]).sum(axis=1)
    genre = favourites[users, np.minimum(choice, 2)]
    explore = rng.random(len(users)) < EXPLORE
    genre[explore] = rng.integers(0, GENRES, explore.sum())
    item_of = np.empty(len(users), dtype=np.int64)
    draws = rng.random(len(users))
    for g in range(GENRES):
        mask = genre == g
        item_of[mask] = start_of_genre[g] + np.minimum(
            np.searchsorted(cdfs[g], draws[mask]), len(cdfs[g]) - 1
        )
    # a user often goes on with the next item of the series they were in
    same_user = np.concatenate([[False], users[1:] == users[:-1]])
    goes_on = same_user & (rng.random(len(users)) < CONTINUE)
    for n in np.flatnonzero(goes_on):  # in order: a run of continuations walks the series
        following = item_of[n - 1] + 1
        if following % SERIES_LENGTH and following < n_items and genre_of_item[following] == genre[n]:
            item_of[n] = following

    action_of = rng.choice(len(ACTIONS), len(users), p=ACTION_SHARES)
    first = rng.integers(0, DAYS * 86400 // 2, n_users)
    gaps = rng.exponential(3600.0 * 6, len(users)).astype(np.int64) + 1
    elapsed = np.cumsum(gaps)
    starts = np.cumsum(per_user) - per_user  # each user's first event
    seconds = int(START.timestamp()) + first[users] + elapsed - (elapsed[starts] - gaps[starts])[users]

    names = [f"Genre {g:02d}" for g in range(GENRES)]
    created = START - timedelta(days=365)
    items = [
        Item(
            item_id=f"item_{n}",
            title=f"{names[genre_of_item[n]]} series {n // SERIES_LENGTH} part {n % SERIES_LENGTH + 1}",
            category=names[genre_of_item[n]],
            tags=(names[genre_of_item[n]].lower(), f"series_{n // SERIES_LENGTH}"),
            created_at=created,
        )
        for n in range(n_items)
    ]
    return World(items, users, item_of, action_of, seconds)
