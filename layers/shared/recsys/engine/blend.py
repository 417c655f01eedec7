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

    history_weight: float = 1.0
    history_norm: float = 0.5  # h_u is divided by (number of history items) ** history_norm
    dislike_scale: float = 1.0  # a dislike's weight is multiplied by this (it stays negative)
    recent_weight: float = 1.0
    recent_decay: float = 0.8
    recent_items: int = 10
    session_weight: float = 0.5
    popularity_weight: float = 0.0
    favourite_weight: float = 0.2
    max_category_share: float = 1.0  # diversity: at most this share of a list from one category

    def with_overrides(self, overrides: Mapping[str, Any]) -> Blend:
        known = {f.name: f.type for f in fields(self)}
        unknown = set(overrides) - set(known)
        if unknown:
            raise ValueError(f"unknown blend parameter(s): {', '.join(sorted(unknown))}")
        return replace(self, **{k: type(getattr(self, k))(v) for k, v in overrides.items()})

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)
