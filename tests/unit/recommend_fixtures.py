"""The engine fixtures' world behind in-memory stores (tests/unit/fakes.py): what recommend,
similar_items and explain read, on the model trained by the real code."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

from recsys.domain import Item
from recsys.logic.recommend import Stores
from recsys.stores.feature_store import RecentAction, UserHistory
from recsys.stores.precomputed import PrecomputedRow
from recsys.stores.user_signals import UserSignals
from tests.unit.engine_fixtures import histories, items, trained
from tests.unit.fakes import (
    FakeCatalog,
    FakeFeatureStore,
    FakeModels,
    FakePrecomputed,
    FakeRecommendationCache,
    FakeSignals,
)

_, BUNDLE = trained()
# each item's interactions in the training log: the catalog's counts and the real-time popularity
COUNTS = Counter(action.item_id for actions in histories().values() for action in actions)
CATALOG = {
    item.item_id: dataclasses.replace(item, interaction_count=COUNTS[item.item_id]) for item in items()
}


def world_stores(
    weights: Mapping[str, float] | None = None,
    recent: Sequence[tuple[str, str | None]] = (),  # (item, session), newest first; all "watch"
    excluded: Iterable[str] = (),  # not_interested feedback and the preferences' excluded items
    favourites: Iterable[str] = (),
    history_down: bool = False,  # Redis unreachable: no history, no real-time popularity
    models: FakeModels | None = None,  # default: the trained bundle
    precomputed: Iterable[PrecomputedRow] = (),
    precomputed_down: bool = False,  # PostgreSQL's precomputed rows unreachable
    inactive: Iterable[str] = (),
    extra: Iterable[Item] = (),  # items in the catalog that the model does not know
    cache: FakeRecommendationCache | None = None,
) -> Stores:
    off = set(inactive)
    catalog = [dataclasses.replace(i, is_active=False) if i.item_id in off else i for i in CATALOG.values()]
    history = UserHistory(dict(weights or {}), [RecentAction(i, "watch", s) for i, s in recent])
    return Stores(
        catalog=FakeCatalog([*catalog, *extra]),
        features=FakeFeatureStore(
            histories={"u1": history},
            popularity={i: float(n) for i, n in COUNTS.items()},
            categories={i: item.category for i, item in CATALOG.items()},
            down=history_down,
        ),
        signals=FakeSignals(
            UserSignals(excluded=frozenset(excluded), favourite_categories=tuple(favourites))
        ),
        precomputed=FakePrecomputed(precomputed, down=precomputed_down),
        models=models or FakeModels(BUNDLE),
        cache=cache,
    )
