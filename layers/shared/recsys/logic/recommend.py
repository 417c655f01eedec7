"""Recommendations from the data the service already has (model "popularity-v1"): what is
popular overall or in a category, boosted by the user's favourite categories, without what
the user has already seen, excluded, or said they are not interested in."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from recsys.domain import Item
from recsys.errors import NotFoundError
from recsys.observability import logger
from recsys.stores.failures import is_store_failure

if TYPE_CHECKING:  # the store modules import their drivers; a function loads only what it uses
    from recsys.stores.catalog import Catalog
    from recsys.stores.feature_store import FeatureStore
    from recsys.stores.feedback import PostgresFeedbackStore
    from recsys.stores.interaction_log import InteractionLog
    from recsys.stores.preferences import PostgresPreferenceStore

MODEL_VERSION = "popularity-v1"
FAVOURITE_BOOST = 1.25
SESSION_BOOST = 1.15
HISTORY_LIMIT = 200


@dataclass(frozen=True)
class Recommendation:
    item: Item
    score: float
    rank: int
    explanation: dict[str, Any]


@dataclass
class UserContext:
    """What is known about a user when ranking: exclusions, favourites, history."""

    excluded: set[str] = field(default_factory=set)
    favourites: set[str] = field(default_factory=set)
    history: list[str] = field(default_factory=list)  # item ids, newest first
    session_items: list[str] = field(default_factory=list)  # of the current session


@dataclass(frozen=True)
class RankingRequest:
    """Where the recommendations are shown (X-Session-Id, X-Device-Type and `context`)."""

    context: str = "homepage"
    session_id: str | None = None
    device_type: str | None = None


@dataclass(frozen=True)
class Stores:
    catalog: Catalog
    features: FeatureStore
    log: InteractionLog
    feedback: PostgresFeedbackStore
    preferences: PostgresPreferenceStore


def _degrade(what: str, fallback: Any, call: Any, *args: Any) -> Any:
    """A store that cannot answer makes the result less personal, not an error."""
    try:
        return call(*args)
    except Exception as exc:
        if not is_store_failure(exc):
            raise
        logger.warning(f"{what} unavailable; recommending without it")
        return fallback


def user_context(stores: Stores, user_id: str, session_id: str | None = None) -> UserContext:
    context = UserContext()
    context.excluded |= stores.feedback.excluded_items(user_id)
    preferences = stores.preferences.current(user_id)
    if preferences is not None:
        context.excluded |= set(preferences.values["excluded_items"] or [])
        context.favourites |= {c.lower() for c in preferences.values["favorite_categories"] or []}
    history = _degrade("interaction log", [], stores.log.for_user, user_id, HISTORY_LIMIT)
    context.history = [i.item_id for i in history if i.action != "impression"]
    if session_id:
        context.session_items = [i.item_id for i in history if i.session_id == session_id and i.weight > 0]
    return context


def _candidates(stores: Stores, category: str | None, wanted: int) -> list[tuple[str, float]]:
    ranked: list[tuple[str, float]] = _degrade("feature store", [], stores.features.popular, wanted, category)
    if len(ranked) < wanted:  # a young system: complete from the catalog's own counts
        seen = {item_id for item_id, _ in ranked}
        ranked += [(i, s) for i, s in stores.catalog.popular_items(wanted, category) if i not in seen]
    return ranked


def recommend(
    stores: Stores,
    user_id: str,
    limit: int,
    category: str | None = None,
    exclude: set[str] | None = None,
    request: RankingRequest | None = None,
) -> list[Recommendation]:
    """popularity-v1 ranks by popularity, boosted by favourite categories and by the categories of
    what the user engaged with in this session; the device type is not a signal it uses."""
    request = request or RankingRequest()
    context = user_context(stores, user_id, request.session_id)
    skip = context.excluded | set(context.history) | (exclude or set())
    pool = _candidates(stores, category, limit + len(skip) + 20)
    pool = [(item_id, score) for item_id, score in pool if item_id not in skip]
    items = stores.catalog.get_items([item_id for item_id, _ in pool] + context.session_items)
    session_categories = {(items[i].category or "").lower() for i in context.session_items if i in items}
    eligible = []
    for item_id, popularity in pool:
        item = items.get(item_id)
        if item is None or not item.is_active:
            continue
        if category is not None and (item.category or "").lower() != category.lower():
            continue
        eligible.append((item, popularity))
    top = max((popularity for _, popularity in eligible), default=0.0)
    top = top if top > 0 else 1.0
    scored = []
    for item, popularity in eligible:
        favourite = (item.category or "").lower() in context.favourites
        in_session = bool(item.category) and (item.category or "").lower() in session_categories
        score = (
            popularity
            / top
            * (FAVOURITE_BOOST if favourite else 1.0)
            * (SESSION_BOOST if in_session else 1.0)
        )
        scored.append((score, item, favourite))
    scored.sort(key=lambda entry: (-entry[0], entry[1].item_id))
    results = []
    for rank, (score, item, favourite) in enumerate(scored[:limit], start=1):
        where = f"in {item.category}" if item.category else "right now"
        explanation: dict[str, Any] = {"type": "popularity", "reason": f"Popular {where}"}
        if favourite:
            explanation = {
                "type": "content_based",
                "reason": f"Popular in {item.category}, a category you like",
                "matching_attributes": ["category"],
            }
        results.append(Recommendation(item, round(max(0.0, min(score, 1.0)), 4), rank, explanation))
    return results


def _histories(log: InteractionLog, user_ids: list[str], per_user: int) -> list[list[str]]:
    with ThreadPoolExecutor(max_workers=8) as pool:  # the driver is thread-safe; reads overlap
        histories = pool.map(lambda user_id: log.for_user(user_id, per_user), user_ids)
        return [[i.item_id for i in history] for history in histories]


def similar_items(stores: Stores, item_id: str, limit: int) -> tuple[Item, list[tuple[Item, float, str]]]:
    """Items the same users interacted with (co-interaction), else popular ones in its category."""
    source = stores.catalog.get_item(item_id)
    if source is None:
        raise NotFoundError(f"item {item_id} does not exist", item_id=item_id)
    users = [h.user_id for h in _degrade("interaction log", [], stores.log.for_item, item_id, 50)]
    counts: Counter[str] = Counter()
    if users:
        for history in _histories(stores.log, sorted(set(users)), 30):
            counts.update(set(history) - {item_id})
    reason = f"People who interacted with {source.title} also interacted with this"
    ranked = [(other, float(n)) for other, n in counts.most_common(limit * 3)]
    if len(ranked) < limit:
        seen = {other for other, _ in ranked} | {item_id}
        reason_fallback = f"Popular in {source.category}" if source.category else "Popular right now"
        extra = [(i, s) for i, s in _candidates(stores, source.category, limit + 1) if i not in seen]
        ranked_with_reason = [(i, s, reason) for i, s in ranked] + [
            (i, 0.0, reason_fallback) for i, _ in extra
        ]
    else:
        ranked_with_reason = [(i, s, reason) for i, s in ranked]
    items = stores.catalog.get_items([i for i, _, _ in ranked_with_reason])
    top = max((s for _, s, _ in ranked_with_reason), default=0.0) or 1.0
    results = []
    for other, count, why in ranked_with_reason:
        item = items.get(other)
        if item is not None and item.is_active:
            results.append((item, round(count / top, 4), why))
        if len(results) == limit:
            break
    return source, results


def explain(stores: Stores, user_id: str, item_id: str) -> dict[str, Any]:
    """Why `item_id` would be recommended to `user_id`: the popularity model's factors, weighted."""
    item = stores.catalog.get_item(item_id)
    if item is None:
        raise NotFoundError(f"item {item_id} does not exist", item_id=item_id)
    context = user_context(stores, user_id)
    popular = _candidates(stores, None, 100)
    top = max((s for _, s in popular), default=0.0) or 1.0
    popularity = next((s for i, s in popular if i == item_id), 0.0) / top
    history_items = stores.catalog.get_items(context.history[:50]) if context.history else {}
    same_category = [
        i
        for i in context.history[:50]
        if item.category and history_items.get(i) and history_items[i].category == item.category
    ]
    recent = item.created_at is not None and item.created_at > datetime.now(UTC) - timedelta(days=30)
    raw = {
        "similar_users": min(1.0, len(same_category) / 5),
        "genre_preference": 1.0 if (item.category or "").lower() in context.favourites else 0.0,
        "recency": 0.5 if recent else 0.0,
        "popularity": max(popularity, 0.05),
    }
    total = sum(raw.values())
    descriptions = {
        "similar_users": "You interacted with similar items",
        "genre_preference": f"You like {item.category}" if item.category else "Matches your preferences",
        "recency": "Recently added",
        "popularity": "Popular with everyone",
    }
    weighted = sorted(
        ((round(value / total, 2), name) for name, value in raw.items() if value > 0), reverse=True
    )
    factors = [
        {"factor": name, "weight": weight, "description": descriptions[name]} for weight, name in weighted
    ]
    primary = {
        "similar_users": "collaborative_filtering",
        "genre_preference": "content_based",
        "recency": "recency",
        "popularity": "popularity",
    }[weighted[0][1]]
    return {
        "primary_reason": primary,
        "contributing_factors": factors,
        "similar_items_watched": same_category[:5],
        "predicted_rating": float(item.avg_rating) if item.avg_rating is not None else None,
    }
