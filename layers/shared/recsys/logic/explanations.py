"""Explanations drawn from the terms that produced a score (engine/model.py), never made up.

A recommendation's factors are the parts of its score, each weighted by its share of the total,
so the weights sum to 1; the items it names are the user's items whose exact contributions
(a_i · P_i·Q_j) were largest for this candidate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from recsys.domain import Item
from recsys.engine.bundle import ModelBundle
from recsys.engine.model import EMPTY, FACTORS, Scored, Term

TYPES = {
    "similar_items": "collaborative",
    "recent_activity": "sequential",
    "session": "session",
    "popularity": "popularity",
    "category_preference": "content_based",
    "recency": "recency",
}
PRIMARY_REASONS = {
    "similar_items": "collaborative_filtering",
    "recent_activity": "recent_activity",
    "session": "session_activity",
    "popularity": "popularity",
    "category_preference": "category_preference",
    "recency": "recency",
}
VERBS = {
    "watch": "watched",
    "purchase": "bought",
    "like": "liked",
    "click": "viewed",
    "add_to_cart": "added to your cart",
    "dislike": "disliked",
}


def shares(parts: Mapping[str, float]) -> list[tuple[str, float]]:
    """Each non-zero part's share of the total (they sum to 1), largest first. When the total is not
    positive the shares are of the absolute parts, so that they still sum to 1 in magnitude."""
    present = {name: value for name, value in parts.items() if abs(value) > 1e-9}
    total = sum(present.values())
    denominator = total if total > 1e-9 else sum(abs(v) for v in present.values())
    if denominator <= 0:
        return []
    return sorted(((n, v / denominator) for n, v in present.items()), key=lambda entry: -entry[1])


def primary_types(parts: np.ndarray) -> list[str]:
    """For each column of factor parts (rows in FACTORS order), the explanation type of its
    largest non-zero part: the first of `shares`, for many candidates at once."""
    present = np.where(np.abs(parts) > 1e-9, parts, -np.inf)
    largest = np.argmax(present, axis=0)
    found = np.isfinite(present[largest, np.arange(present.shape[1])])
    return [TYPES[FACTORS[f]] if ok else "popularity" for f, ok in zip(largest.tolist(), found, strict=True)]


def contributing_items(
    bundle: ModelBundle,
    terms: Mapping[str, Term],
    candidates: Sequence[int],
    factor_names: tuple[str, ...],
    top: int = 3,
) -> list[list[str]]:
    """For each candidate, the user's items that pushed it up the most, from the exact per-item
    shares (one product per term for all the candidates)."""
    n = len(bundle.item_ids)
    wanted = np.asarray(candidates, dtype=np.int64)
    parts = [
        (term.positions, term.contributions(bundle.P, bundle.vectors, wanted))  # both blocks of P
        for name in factor_names
        if len((term := terms.get(name, EMPTY)).positions)
    ]
    if not parts or not len(wanted):
        return [[] for _ in candidates]
    # an item has two rows of P (EASE's, the next-item model's): its shares are summed over both
    items, where = np.unique(np.concatenate([p % n for p, _ in parts]), return_inverse=True)
    totals = np.zeros((len(items), len(wanted)), dtype=np.float64)
    start = 0
    for positions, shares in parts:
        rows = where[start : start + len(positions)]
        start += len(positions)
        for block in (positions < n, positions >= n):  # within one block of one term, no repeats
            totals[rows[block]] += shares[block]
    best = np.argsort(-totals, axis=0, kind="stable")[:top]  # top × candidates
    return [
        [bundle.item_ids[int(items[k])] for k in best[:, column] if totals[k, column] > 0]
        for column in range(len(wanted))
    ]


def describe(
    primary: str,
    item: Item,
    because: list[str],
    titles: Mapping[str, Item],
    actions: Mapping[str, str],
    favourite: bool = False,
) -> str:
    first = titles.get(because[0]) if because else None
    if primary in ("similar_items", "recent_activity", "session") and first is not None:
        if actions.get(first.item_id) == "dislike":  # its share is positive: the item is unlike it
            return f"Unlike {first.title}, which you disliked"
        verb = VERBS.get(actions.get(first.item_id, ""), "interacted with")
        if primary == "recent_activity":
            return f"Because you recently {verb} {first.title}"
        if primary == "session":
            return f"Because of {first.title}, earlier in this session"
        return f"Because you {verb} {first.title}"
    if primary == "category_preference":
        return f"In {item.category}, a category you like"
    if primary == "recency":
        return "New in the catalog"
    if favourite:
        return f"Popular in {item.category}, a category you like"
    return f"Popular in {item.category}" if item.category else "Popular right now"


def recommendation_explanation(
    scored: Scored,
    k: int,
    item: Item,
    because: list[str],
    titles: Mapping[str, Item],
    actions: Mapping[str, str],
) -> dict[str, Any]:
    weighted = shares(scored.factor_shares(k))
    primary = weighted[0][0] if weighted else "popularity"
    favourite = any(name == "category_preference" and w > 0 for name, w in weighted)
    explanation: dict[str, Any] = {
        "type": TYPES[primary],
        "reason": describe(primary, item, because, titles, actions, favourite),
        "factors": [{"factor": name, "weight": round(weight, 4)} for name, weight in weighted],
    }
    if because and primary in ("similar_items", "recent_activity", "session"):
        explanation["similar_items"] = because
    if favourite:
        explanation["matching_attributes"] = ["category"]
    return explanation


FACTOR_DESCRIPTIONS = {
    "similar_items": "Users who consumed what you did also consumed this",
    "recent_activity": "Follows from what you did most recently",
    "session": "Related to what you viewed in this session",
    "popularity": "Popular with everyone",
    "category_preference": "In a category you said you like",
    "recency": "New in the catalog",
}


def factor_list(scored: Scored, k: int, item: Item) -> list[dict[str, Any]]:
    described = dict(FACTOR_DESCRIPTIONS)
    if item.category:
        described["category_preference"] = f"{item.category} is a category you said you like"
        described["popularity"] = f"Popular overall (this {item.category} item)"
    raw = scored.factor_shares(k)
    return [
        {
            "factor": name,
            "weight": round(weight, 4),
            "contribution": round(raw[name], 6),
            "description": described[name],
        }
        for name, weight in shares(raw)
    ]


def primary_reason(scored: Scored, k: int) -> str:
    weighted = shares(scored.factor_shares(k))
    return PRIMARY_REASONS[weighted[0][0]] if weighted else "none"


assert set(TYPES) == set(FACTORS) == set(PRIMARY_REASONS)
