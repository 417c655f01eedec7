"""How the model's terms are weighted when ranking (numpy-free, so the API can validate a blend
without importing the engine)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any


@dataclass(frozen=True)
class Blend:
    """How the terms are weighted when ranking. Chosen on a validation split (see evaluation/);
    an experiment variant may override any of them (`Blend.with_overrides`)."""

    # long term: every item the user acted on, through EASE's rows
    history_weight: float = 1.0
    history_norm: float = 0.0  # scaled by (20 / number of items) ** history_norm
    dislike_history: float = -0.25  # a disliked item's long-term coefficient is multiplied by this
    # short term: EASE's rows of the last `recent_items` actions, decayed from the newest
    recent_weight: float = 8.0
    recent_decay: float = 0.8
    recent_items: int = 10
    # the next-item model's rows of the last `sequence_items` actions (training fits it to this
    # decayed vector, so decay and window take effect with the next refresh)
    sequence_weight: float = 40.0
    sequence_decay: float = 0.95
    sequence_items: int = 30
    dislike_recent: float = 1.0  # a disliked recent action's short-term coefficients are multiplied by this
    # the current session's items through EASE's rows (no session data to fit it on: a product choice)
    session_weight: float = 2.0
    popularity_weight: float = -0.1  # × log(1 + interactions): EASE favours popular items a little too much
    favourite_weight: float = 1.0  # added for items in one of the user's favourite categories
    # new items: × exp(-days in the catalog / freshness_days). MovieLens has no catalog dates to fit
    # it on (every item enters at once), so this is a product choice: a new item gets a small lift.
    freshness_weight: float = 0.1
    freshness_days: float = 7.0
    # diversity: at most this share of a list from one category (0.5 cost 0.0006 NDCG@10 on MovieLens)
    max_category_share: float = 0.5

    def with_overrides(self, overrides: Mapping[str, Any]) -> Blend:
        known = {f.name: f.type for f in fields(self)}
        unknown = set(overrides) - set(known)
        if unknown:
            raise ValueError(f"unknown blend parameter(s): {', '.join(sorted(unknown))}")
        return replace(self, **{k: type(getattr(self, k))(v) for k, v in overrides.items()})

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)
