"""A/B assignment: a user's variant is a pure function of (user, experiment), so every function
instance agrees; the first assignment is also kept (24 hours, per the spec) to report when it
was made."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from recsys.logic.recommend import Variant
    from recsys.stores.experiments import Assignments, Experiment, RankingExperiments


def choose_variant(user_id: str, experiment_id: str, variants: list[dict[str, Any]]) -> str:
    """Consistent hashing onto the cumulative weights of the variants."""
    total = sum(float(v["weight"]) for v in variants)
    digest = hashlib.sha256(f"{experiment_id}:{user_id}".encode()).digest()
    point = int.from_bytes(digest[:8], "big") / 2**64 * total
    cumulative = 0.0
    for variant in variants:
        cumulative += float(variant["weight"])
        if point < cumulative:
            return str(variant["name"])
    return str(variants[-1]["name"])


def assign(
    assignments: Assignments, user_id: str, experiment_id: str, variants: list[dict[str, Any]]
) -> dict[str, Any]:
    fresh = {
        "variant": choose_variant(user_id, experiment_id, variants),
        "assigned_at": datetime.now(UTC).isoformat(),
    }
    kept, new = assignments.keep_first(user_id, experiment_id, fresh)
    return {**kept, "new": new}


def ranking_variant(store: RankingExperiments, user_id: str) -> Variant | None:
    """The ranking blend this user gets from the active ranking experiment (the same consistent
    hashing as an assignment, so the assignment endpoint and the served variant agree)."""
    from recsys.logic.recommend import Variant

    found = store.active_ranking()
    if found is None:
        return None
    experiment_id, variants = found
    name = choose_variant(user_id, experiment_id, variants)
    chosen = next(v for v in variants if v["name"] == name)
    return Variant(experiment_id, name, dict(chosen.get("blend") or {}))


def routing_experiment(newest_first: list[Experiment]) -> str | None:
    """The experiment that routes recommendations among these, as the store's active_ranking
    chooses it: the newest active one with a ranking blend."""
    return next(
        (
            e.experiment_id
            for e in newest_first
            if e.is_active and any(isinstance(v.get("blend"), dict) for v in e.variants)
        ),
        None,
    )


def traffic_shares(variants: list[dict[str, Any]]) -> list[float]:
    """Each variant's share of the traffic that choose_variant gives it."""
    total = sum(float(v["weight"]) for v in variants)
    return [float(v["weight"]) / total if total > 0 else 0.0 for v in variants]
