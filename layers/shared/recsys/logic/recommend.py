"""Recommendations, similar items and explanations: candidate sources → filters → scorer → explanation.

The trained model (engine/) answers whenever it can: candidates from its FAISS index (queried with
the user's vector, folded in from the real-time history in Redis) and from popularity, filtered,
scored by the model's terms, re-ranked with a category cap for diversity, and explained by the
terms that made each score. The answer's `model_version` names the path that produced it:

- `<version>` (plus `/<experiment>:<variant>` when an experiment chose the blend): the model;
- `precomputed:<version>`: Redis, the index or S3 unavailable; what the last refresh ranked;
- `popularity-v1`: no model, or nothing precomputed for this user; popular items.

The model's answers are kept (stores/recommendation_cache.py) and served again to the same request
while the user has done nothing that changes them and every item in them is still active: the
answer then carries the time it was ranked (`generated_at`), and `cache` says which it was.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from recsys.domain import Item
from recsys.errors import NotFoundError
from recsys.observability import logger
from recsys.stores.failures import is_store_failure

if TYPE_CHECKING:  # the store modules import their drivers; a function loads only what it uses
    import numpy as np
    import numpy.typing as npt

    from recsys.engine.blend import Blend
    from recsys.engine.bundle import ModelBundle
    from recsys.engine.model import Scored, Term
    from recsys.stores.catalog import CatalogReader
    from recsys.stores.feature_store import FeatureStore, UserHistory
    from recsys.stores.precomputed import PrecomputedRow, PrecomputedStore
    from recsys.stores.recommendation_cache import RecommendationCache
    from recsys.stores.user_signals import UserSignalReader

POPULARITY_MODEL = "popularity-v1"
PRECOMPUTED_KIND = "homepage"
# Contexts where showing what the user already consumed is the point (a "watch again" shelf).
CONTEXTS_SHOWING_CONSUMED = frozenset({"watch_again", "buy_again", "history"})
FAVOURITE_BONUS = 0.25  # popularity-v1: added to a popularity in [0, 1]
SESSION_BONUS = 0.15


class Models(Protocol):
    def current(self) -> ModelBundle | None: ...


@dataclass(frozen=True)
class Stores:
    catalog: CatalogReader
    features: FeatureStore
    signals: UserSignalReader  # not_interested feedback and preferences
    precomputed: PrecomputedStore
    models: Models
    cache: RecommendationCache | None = None  # the model's answers, kept per user and request


@dataclass(frozen=True)
class Variant:
    """An experiment's variant: its name and the blend parameters it overrides."""

    experiment_id: str
    name: str
    blend: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.experiment_id}:{self.name}"


@dataclass(frozen=True)
class RankingRequest:
    """Where the recommendations are shown (X-Session-Id, X-Device-Type and `context`)."""

    context: str = "homepage"
    session_id: str | None = None
    device_type: str | None = None
    variant: Variant | None = None


@dataclass(frozen=True)
class Recommendation:
    item: Item
    score: float
    rank: int
    explanation: dict[str, Any]


@dataclass(frozen=True)
class Answer:
    recommendations: list[Recommendation]
    model_version: str
    generated_at: float = field(default_factory=time.time)  # epoch seconds: when it was ranked
    cache: str | None = None  # "hit" or "miss" where the cache was asked; None where it was not


@dataclass
class UserContext:
    """What is known about a user when ranking."""

    excluded: set[str] = field(default_factory=set)  # not_interested feedback, excluded_items
    favourites: frozenset[str] = frozenset()  # lower-case categories
    history: UserHistory | None = None  # None: the real-time store could not answer


def _degrade[T](what: str, fallback: T, call: Callable[..., T], *args: Any) -> T:
    """A store that cannot answer makes the result less personal, not an error."""
    try:
        return call(*args)
    except Exception as exc:
        if not is_store_failure(exc):
            raise
        logger.warning(f"{what} unavailable; answering without it")
        return fallback


def user_context(stores: Stores, user_id: str) -> UserContext:
    signals = stores.signals.for_user(user_id)
    context = UserContext(
        excluded=set(signals.excluded), favourites=frozenset(c.lower() for c in signals.favourite_categories)
    )
    context.history = _degrade("feature store", None, stores.features.history, user_id)
    return context


def _current_model(stores: Stores) -> ModelBundle | None:
    try:
        return stores.models.current()
    except Exception:  # a model that cannot be loaded is a fallback, never an error for the caller
        logger.exception("model unavailable")
        return None


def recommend(
    stores: Stores,
    user_id: str,
    limit: int,
    category: str | None = None,
    exclude: set[str] | None = None,
    request: RankingRequest | None = None,
) -> Answer:
    request = request or RankingRequest()
    exclude = exclude or set()
    bundle = _current_model(stores)
    if bundle is None or stores.cache is None:
        return _rank(stores, bundle, user_id, limit, category, exclude, request)
    fingerprint = _fingerprint(bundle, request, limit, category, exclude)
    # the user's generation is read before anything the ranking reads (stores/recommendation_cache)
    cached = _degrade("recommendation cache", None, stores.cache.lookup, user_id, fingerprint)
    if cached is not None and cached.entry is not None:
        revived = _revive(stores, cached.entry)
        if revived is not None:
            return revived
    answer = _rank(stores, bundle, user_id, limit, category, exclude, request)
    if cached is None or answer.model_version != _version(bundle, request):
        return answer  # the cache is unreachable, or this is a fallback's answer: not kept
    kept = _entry(answer)
    _degrade("recommendation cache", False, stores.cache.store, user_id, fingerprint, cached.generation, kept)
    return replace(answer, cache="miss")


def forget_rankings(cache: RecommendationCache, user_ids: list[str]) -> None:
    """After a committed write that changes what these users are recommended (feedback,
    preferences): the rankings kept for them are dropped. If Redis cannot be reached now, the
    write stands, and what was kept is served until it expires."""
    _degrade("recommendation cache", None, cache.invalidate, user_ids)


def _fingerprint(
    bundle: ModelBundle, request: RankingRequest, limit: int, category: str | None, exclude: set[str]
) -> str:
    """What a request's ranking depends on besides the user's own state: the model, the
    experiment's variant (its blend too, which its owner can change), and the parameters that
    change the list (the device type changes nothing)."""
    variant = request.variant
    asked = [
        bundle.version,
        [variant.label, variant.blend] if variant else None,
        limit,
        category,
        sorted(exclude),
        request.context,
        request.session_id,
    ]
    encoded = json.dumps(asked, separators=(",", ":"), sort_keys=True, default=str).encode()
    return hashlib.blake2b(encoded, digest_size=16).hexdigest()


def _entry(answer: Answer) -> dict[str, Any]:
    return {
        "version": answer.model_version,
        "ranked_at": answer.generated_at,
        "recs": [[r.item.item_id, r.score, r.rank, r.explanation] for r in answer.recommendations],
    }


def _revive(stores: Stores, entry: dict[str, Any]) -> Answer | None:
    """A kept answer with its items as the catalog now has them; None (rank again) if one of them
    is no longer active or no longer exists, or the entry is not in the shape this code writes
    (one written by another release)."""
    try:
        rows = [(str(i), float(score), int(rank), dict(why)) for i, score, rank, why in entry["recs"]]
        version, ranked_at = str(entry["version"]), float(entry["ranked_at"])
    except (KeyError, TypeError, ValueError):
        return None
    items = stores.catalog.get_items([row[0] for row in rows])
    if any((item := items.get(row[0])) is None or not item.is_active for row in rows):
        return None
    return Answer(
        [Recommendation(items[item_id], score, rank, why) for item_id, score, rank, why in rows],
        version,
        generated_at=ranked_at,
        cache="hit",
    )


def _rank(
    stores: Stores,
    bundle: ModelBundle | None,
    user_id: str,
    limit: int,
    category: str | None,
    exclude: set[str],
    request: RankingRequest,
) -> Answer:
    context = user_context(stores, user_id)
    skip = context.excluded | exclude
    if bundle is not None and context.history is not None:
        return _from_model(stores, bundle, context, context.history, limit, category, skip, request)
    precomputed = _from_precomputed(stores, user_id, limit, category, skip)
    if precomputed is not None:
        return precomputed
    return _popular(stores, context, limit, category, skip, request)


# -- the model path ---------------------------------------------------------------------------
def _profile_and_terms(
    bundle: ModelBundle, context: UserContext, history: UserHistory, blend: Blend, session_id: str | None
) -> dict[str, Term]:
    from recsys.engine.model import Action, UserProfile, user_terms

    profile = UserProfile(
        weights=history.weights,
        recent=[Action(r.item_id, r.action == "dislike", r.session_id) for r in history.recent],
        session_id=session_id,
        favourites=context.favourites,
    )
    return user_terms(bundle.position, profile, blend)


def _blend(bundle: ModelBundle, request: RankingRequest) -> Blend:
    blend = bundle.blend
    return blend.with_overrides(request.variant.blend) if request.variant else blend


def _cold_start(bundle: ModelBundle, blend: Blend) -> Blend:
    """Nobody knows this user yet: popularity, scaled to [0, 1], decides, and a favourite
    category (worth 1) comes first."""
    top = float(bundle.popularity.max()) if len(bundle.popularity) else 0.0
    return replace(blend, popularity_weight=1.0 / top if top > 0 else 1.0)


def _version(bundle: ModelBundle, request: RankingRequest) -> str:
    return f"{bundle.version}/{request.variant.label}" if request.variant else bundle.version


def _candidates(
    bundle: ModelBundle,
    terms: dict[str, Term],
    favourites: frozenset[str],
    category: str | None,
    skip: set[str],
    wanted: int,
) -> npt.NDArray[np.int64]:
    """Candidate sources: the index (by the user's vector), popularity, favourite categories."""
    import numpy as np

    from recsys.engine.model import query_vector

    n = len(bundle.item_ids)
    skipped = np.asarray([bundle.position[i] for i in skip if i in bundle.position], dtype=np.int64)
    k = min(n, wanted + len(skipped))
    found: list[npt.NDArray[np.int64]] = []
    query = query_vector(bundle.P, terms)
    if np.any(query) and category is None:
        _, positions = bundle.search(query[None, :], k)
        found.append(positions[0][positions[0] >= 0])
    wanted_category = category.lower() if category else None
    for cat in {wanted_category} if wanted_category else {None, *favourites}:
        found.append(bundle.popular_positions(cat, k))
    if wanted_category and np.any(query):  # a category shelf ranks that category's items by the model
        found.append(bundle.category_positions(wanted_category))
    # with a category, every source above holds only that category's items
    everything = np.concatenate(found) if found else np.zeros(0, dtype=np.int64)
    _, first = np.unique(everything, return_index=True)
    unique = everything[np.sort(first)]  # each once, in the order the sources gave them
    return unique[np.isin(unique, skipped, invert=True)]


def _diversify(
    order: list[int],
    categories: Mapping[int, str | None],  # each candidate's, by its place among the candidates
    limit: int,
    share: float,
    favourites: frozenset[str],
) -> list[int]:
    """At most ceil(share × limit) items of one category, unless nothing else is left; the
    user's favourite categories are what they asked for, so they are not capped."""
    cap = max(1, math.ceil(share * limit))
    chosen: list[int] = []
    deferred: list[int] = []
    per_category: dict[str | None, int] = {}
    for k in order:
        category = categories[k]
        if category is not None and category not in favourites and per_category.get(category, 0) >= cap:
            deferred.append(k)
            continue
        per_category[category] = per_category.get(category, 0) + 1
        chosen.append(k)
        if len(chosen) == limit:
            return chosen
    return (chosen + deferred)[:limit]


def _from_model(
    stores: Stores,
    bundle: ModelBundle,
    context: UserContext,
    history: UserHistory,
    limit: int,
    category: str | None,
    skip: set[str],
    request: RankingRequest,
) -> Answer:
    import numpy as np

    from recsys.engine.model import score
    from recsys.logic.explanations import contributing_items, recommendation_explanation

    blend = _blend(bundle, request)
    terms = _profile_and_terms(bundle, context, history, blend, request.session_id)
    personal = any(len(t.positions) for t in terms.values())
    if not personal:
        blend = _cold_start(bundle, blend)
    consumed = set(history.weights) if request.context not in CONTEXTS_SHOWING_CONSUMED else set()
    wanted = 3 * limit + 20
    candidates = _candidates(bundle, terms, context.favourites, category, skip | consumed, wanted)
    scored = score(bundle, terms, context.favourites, blend, candidates, time.time())
    # best first, ties by item id
    order: list[int] = np.lexsort((bundle.name_rank[candidates], -scored.total))[:wanted].tolist()
    positions: list[int] = candidates.tolist()
    ids = [bundle.item_ids[p] for p in positions]  # by candidate
    items = stores.catalog.get_items([ids[k] for k in order])
    live = [k for k in order if (item := items.get(ids[k])) is not None and item.is_active]
    chosen = _diversify(
        live,
        {k: bundle.categories[positions[k]] for k in live},
        limit,
        blend.max_category_share,
        context.favourites,
    )
    named_by = contributing_items(
        bundle, terms, [positions[k] for k in chosen], ("similar_items", "recent_activity", "session")
    )
    because = dict(zip(chosen, named_by, strict=True))
    actions = {r.item_id: r.action for r in reversed(history.recent)}
    named = {i for ids in because.values() for i in ids}
    titles = stores.catalog.get_items(sorted(named)) if named else {}
    results = []
    for rank, k in enumerate(chosen, start=1):
        item = items[ids[k]]
        explanation = recommendation_explanation(scored, k, item, because[k], titles, actions)
        if not personal:
            explanation["reason"] += " (we do not know your taste yet)"
        results.append(Recommendation(item, round(float(scored.total[k]), 6), rank, explanation))
    if len(results) < limit:  # items the model does not know yet (added since it was trained)
        shown = {r.item.item_id for r in results}
        extra = _popular(stores, context, limit - len(results), category, skip | consumed | shown, request)
        for r in extra.recommendations:
            explanation = {**r.explanation, "source": POPULARITY_MODEL}
            results.append(Recommendation(r.item, r.score, len(results) + 1, explanation))
    return Answer(results, _version(bundle, request))


# -- fallbacks ---------------------------------------------------------------------------------
def _precomputed_rows(stores: Stores, user_id: str) -> list[PrecomputedRow]:
    fallback: list[PrecomputedRow] = []
    return _degrade(
        "precomputed recommendations",
        fallback,
        stores.precomputed.for_user,
        user_id,
        PRECOMPUTED_KIND,
        datetime.now(UTC),
    )


def _from_precomputed(
    stores: Stores, user_id: str, limit: int, category: str | None, skip: set[str]
) -> Answer | None:
    rows = _precomputed_rows(stores, user_id)
    rows = [r for r in rows if r.item_id not in skip]
    if not rows:
        return None
    items = stores.catalog.get_items([r.item_id for r in rows])
    results: list[Recommendation] = []
    for row in rows:
        item = items.get(row.item_id)
        if item is None or not item.is_active:
            continue
        if category is not None and (item.category or "").lower() != category.lower():
            continue
        explanation = {
            "type": "precomputed",
            "reason": "Ranked for you at the last model refresh (real-time personalisation is unavailable)",
            "factors": [{"factor": "precomputed", "weight": 1.0}],
            "precomputed_type": row.explanation_type,
        }
        results.append(Recommendation(item, round(row.score, 6), len(results) + 1, explanation))
        if len(results) == limit:
            break
    if not results:
        return None
    return Answer(results, f"precomputed:{rows[0].model_version}")


def _popular_ranked(stores: Stores, category: str | None, wanted: int) -> list[tuple[str, float]]:
    ranked: list[tuple[str, float]] = _degrade("feature store", [], stores.features.popular, wanted, category)
    if len(ranked) < wanted:  # a young system: complete from the catalog's own counts
        seen = {item_id for item_id, _ in ranked}
        ranked += [(i, s) for i, s in stores.catalog.popular_items(wanted, category) if i not in seen]
    return ranked


def _popular(
    stores: Stores,
    context: UserContext,
    limit: int,
    category: str | None,
    skip: set[str],
    request: RankingRequest,
) -> Answer:
    """popularity-v1: popularity in [0, 1], plus a bonus for favourite categories and for the
    categories of what the user did in this session; each part is an explanation factor."""
    history = context.history
    consumed = set(history.weights) if history and request.context not in CONTEXTS_SHOWING_CONSUMED else set()
    session_items = [
        r.item_id
        for r in (history.recent if history else [])
        if request.session_id and r.session_id == request.session_id
    ]
    pool = [
        (i, s)
        for i, s in _popular_ranked(stores, category, limit + len(skip | consumed) + 20)
        if i not in skip | consumed
    ]
    items = stores.catalog.get_items([item_id for item_id, _ in pool] + session_items)
    session_categories = {(items[i].category or "").lower() for i in session_items if i in items} - {""}
    top = max((s for _, s in pool), default=0.0) or 1.0
    scored = []
    for item_id, popularity in pool:
        item = items.get(item_id)
        if item is None or not item.is_active:
            continue
        if category is not None and (item.category or "").lower() != category.lower():
            continue
        key = (item.category or "").lower()
        parts = {
            "popularity": max(popularity, 0.0) / top,
            "category_preference": FAVOURITE_BONUS if key in context.favourites else 0.0,
            "session": SESSION_BONUS if key in session_categories else 0.0,
        }
        scored.append((sum(parts.values()), item, parts))
    scored.sort(key=lambda entry: (-entry[0], entry[1].item_id))
    from recsys.logic.explanations import shares

    why = "" if history is not None else " (personalisation is unavailable right now)"
    results = []
    for rank, (total, item, parts) in enumerate(scored[:limit], start=1):
        weighted = shares(parts)
        primary = weighted[0][0] if weighted else "popularity"
        reason = {
            "popularity": f"Popular in {item.category}" if item.category else "Popular right now",
            "category_preference": f"Popular in {item.category}, a category you like",
            "session": f"Popular in {item.category}, like what you viewed in this session",
        }[primary]
        explanation: dict[str, Any] = {
            "type": "content_based" if primary != "popularity" else "popularity",
            "reason": reason + why,
            "factors": [{"factor": name, "weight": round(weight, 4)} for name, weight in weighted],
        }
        if primary != "popularity":
            explanation["matching_attributes"] = ["category"]
        results.append(Recommendation(item, round(total, 6), rank, explanation))
    return Answer(results, POPULARITY_MODEL)


# -- similar items -------------------------------------------------------------------------------
@dataclass(frozen=True)
class SimilarAnswer:
    source: Item
    similar: list[tuple[Item, float, str]]
    model_version: str


def _shared_content(a: Item, b: Item) -> list[str]:
    shared = []
    if a.category and b.category and a.category.lower() == b.category.lower():
        shared.append(f"category {b.category}")
    tags = sorted({t.lower() for t in a.tags} & {t.lower() for t in b.tags})
    if tags:
        shared.append("tags " + ", ".join(tags[:3]))
    return shared


def similar_items(stores: Stores, item_id: str, limit: int) -> SimilarAnswer:
    """Items that the model puts next to this one: P_source·Q_j, the item-item weight it learned
    (or, for an item nobody has interacted with yet, what its content maps to)."""
    source = stores.catalog.get_item(item_id)
    if source is None:
        raise NotFoundError(f"item {item_id} does not exist", item_id=item_id)
    bundle = _current_model(stores)
    if bundle is None or item_id not in bundle.position:
        return _similar_by_popularity(stores, source, limit)
    p = bundle.position[item_id]
    k = min(len(bundle.item_ids), 3 * limit + 1)
    scores, positions = bundle.search(bundle.P[p][None, :], k)
    ranked = [(int(j), float(s)) for j, s in zip(positions[0], scores[0], strict=True) if j >= 0 and j != p]
    items = stores.catalog.get_items([bundle.item_ids[j] for j, _ in ranked])
    similar = []
    for j, value in ranked:
        item = items.get(bundle.item_ids[j])
        if item is None or not item.is_active:
            continue
        shared = _shared_content(source, item)
        if bundle.warm[p] and bundle.warm[j]:
            reason = f"People who engaged with {source.title} also engaged with this"
            reason += f" (same {shared[0]})" if shared else ""
        else:
            reason = "Similar content: " + ("; ".join(shared) if shared else "description and features")
        similar.append((item, round(min(max(value, 0.0), 1.0), 4), reason))
        if len(similar) == limit:
            break
    return SimilarAnswer(source, similar, bundle.version)


def _similar_by_popularity(stores: Stores, source: Item, limit: int) -> SimilarAnswer:
    """The source's category's popular items, scaled to the most popular one shown. Redis ranks
    inactive items too, so more than `limit` are asked for and the inactive ones passed over."""
    pool = _popular_ranked(stores, source.category, 2 * limit + 20)
    ranked = [(i, s) for i, s in pool if i != source.item_id]
    items = stores.catalog.get_items([i for i, _ in ranked])
    shown = [(items[i], s) for i, s in ranked if i in items and items[i].is_active][:limit]
    top = max((s for _, s in shown), default=0.0) or 1.0
    reason = f"Popular in {source.category}" if source.category else "Popular right now"
    return SimilarAnswer(
        source, [(item, round(max(s, 0.0) / top, 4), reason) for item, s in shown], POPULARITY_MODEL
    )


# -- explain -------------------------------------------------------------------------------------
def explain(
    stores: Stores, user_id: str, item_id: str, request: RankingRequest | None = None
) -> tuple[dict[str, Any], str]:
    """Why `item_id` would be recommended to `user_id`, from the same terms that rank it; or why
    it would not be shown at all. Returns the explanation and the model version that made it."""
    request = request or RankingRequest()
    item = stores.catalog.get_item(item_id)
    if item is None:
        raise NotFoundError(f"item {item_id} does not exist", item_id=item_id)
    context = user_context(stores, user_id)
    history = context.history
    not_shown = _not_shown(item, context, request)
    bundle = _current_model(stores) if history is not None else None
    version = _version(bundle, request) if bundle is not None else POPULARITY_MODEL
    if not_shown is not None:
        return _refusal(*not_shown), version
    if bundle is None or history is None:
        precomputed = _explain_precomputed(stores, user_id, item)
        if precomputed is not None:
            return precomputed
        return _explain_with_popularity(stores, context, item), version
    if item_id not in bundle.position:
        return _refusal(
            "not_in_model",
            "This item was added after the current model was trained; the next refresh includes it",
        ), version
    return _explain_with_model(stores, bundle, context, history, item, request), version


def _explain_precomputed(stores: Stores, user_id: str, item: Item) -> tuple[dict[str, Any], str] | None:
    """While the real-time path is down, the list comes from the last refresh: so does its reason."""
    rows = _precomputed_rows(stores, user_id)
    row = next((r for r in rows if r.item_id == item.item_id), None)
    if row is None:
        return None
    explanation = {
        "primary_reason": "precomputed",
        "description": f"Ranked #{row.rank} for you at the last model refresh ({row.explanation_type}); "
        "real-time personalisation is unavailable right now",
        "would_be_recommended": True,
        "score": round(row.score, 6),
        "contributing_factors": [
            {
                "factor": "precomputed",
                "weight": 1.0,
                "contribution": round(row.score, 6),
                "description": row.explanation_type,
            }
        ],
        "similar_items_watched": [],
        "predicted_rating": None,
    }
    return explanation, f"precomputed:{row.model_version}"


def _explain_with_popularity(stores: Stores, context: UserContext, item: Item) -> dict[str, Any]:
    """popularity-v1's own terms for this item (what serves while there is no model)."""
    from recsys.logic.explanations import shares

    ranked = dict(_popular_ranked(stores, None, 1000))
    top = max(ranked.values(), default=0.0) or 1.0
    favourite = (item.category or "").lower() in context.favourites
    parts = {
        "popularity": max(ranked.get(item.item_id, 0.0), 0.0) / top,
        "category_preference": FAVOURITE_BONUS if favourite else 0.0,
    }
    descriptions = {
        "popularity": "Popular with everyone (popularity-v1: there is no trained model to ask)",
        "category_preference": f"{item.category} is a category you said you like",
    }
    weighted = shares(parts)
    return {
        "primary_reason": weighted[0][0] if weighted else "none",
        "description": None if context.history is not None else "Personalisation is unavailable right now",
        "would_be_recommended": bool(weighted),
        "score": round(sum(parts.values()), 6),
        "contributing_factors": [
            {
                "factor": n,
                "weight": round(w, 4),
                "contribution": round(parts[n], 6),
                "description": descriptions[n],
            }
            for n, w in weighted
        ],
        "similar_items_watched": [],
        "predicted_rating": None,  # popularity does not predict ratings
    }


def _not_shown(item: Item, context: UserContext, request: RankingRequest) -> tuple[str, str] | None:
    if not item.is_active:
        return "inactive", "This item is not active in the catalog, so it is not recommended"
    if item.item_id in context.excluded:
        return (
            "excluded",
            "You said you are not interested in this item (or excluded it), so it is not recommended",
        )
    if (
        context.history is not None
        and item.item_id in context.history.weights
        and request.context not in CONTEXTS_SHOWING_CONSUMED
    ):
        return "already_consumed", "You already interacted with this item, so it is not recommended here"
    return None


def _refusal(reason: str, description: str) -> dict[str, Any]:
    return {
        "primary_reason": reason,
        "description": description,
        "would_be_recommended": False,
        "contributing_factors": [],
        "similar_items_watched": [],
        "predicted_rating": None,
    }


def _explain_with_model(
    stores: Stores,
    bundle: ModelBundle,
    context: UserContext,
    history: UserHistory,
    item: Item,
    request: RankingRequest,
) -> dict[str, Any]:
    import numpy as np

    from recsys.engine.model import score
    from recsys.logic.explanations import contributing_items, factor_list, primary_reason

    blend = _blend(bundle, request)
    terms = _profile_and_terms(bundle, context, history, blend, request.session_id)
    if not any(len(t.positions) for t in terms.values()):
        blend = _cold_start(bundle, blend)
    p = bundle.position[item.item_id]
    scored: Scored = score(
        bundle, terms, context.favourites, blend, np.asarray([p], dtype=np.int64), time.time()
    )
    [because] = contributing_items(bundle, terms, [p], ("similar_items", "recent_activity", "session"), top=5)
    total = float(scored.total[0])
    return {
        "primary_reason": primary_reason(scored, 0) if total > 0 else "low_predicted_interest",
        "would_be_recommended": total > 0,
        "score": round(total, 6),
        "contributing_factors": factor_list(scored, 0, item),
        "similar_items_watched": because,
        "predicted_rating": bundle.predicted_rating(total),
    }
