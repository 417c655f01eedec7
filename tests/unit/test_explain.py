"""explain: why an item would be recommended to a user, from the same terms that rank it; why it
would not be shown; and what it says while a store or the model is unavailable."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from recsys.domain import Item
from recsys.errors import NotFoundError
from recsys.logic.recommend import (
    FAVOURITE_BONUS,
    POPULARITY_MODEL,
    RankingRequest,
    Recommendation,
    explain,
    recommend,
)
from recsys.stores.feature_store import UserHistory
from tests.unit.engine_fixtures import ROMANCE, SCIFI
from tests.unit.fakes import FakeFeatureStore, FakeModels
from tests.unit.recommend_fixtures import BUNDLE, CATALOG, COUNTS, world_stores

# three items of each taste, the newest first
HISTORY = {SCIFI[0]: 3.0, SCIFI[1]: 3.0, SCIFI[2]: 3.0, ROMANCE[0]: 3.0, ROMANCE[1]: 3.0, ROMANCE[2]: 1.0}
RECENT: list[tuple[str, str | None]] = [(i, None) for i in (SCIFI[2], ROMANCE[2], SCIFI[1], ROMANCE[1])]
DISLIKER = {SCIFI[3]: -3.0}  # every other sci-fi item scores below zero for this user


def factors(explanation: dict[str, Any]) -> dict[str, tuple[float, float]]:
    return {f["factor"]: (f["weight"], f["contribution"]) for f in explanation["contributing_factors"]}


def assert_weights_are_shares(explanation: dict[str, Any]) -> None:
    """The contributions add up to the score; each weight is its contribution's share of the
    score, or of the contributions' total magnitude when the score is not positive (a score of
    nothing at all has no factors)."""
    parts = [c for _, c in factors(explanation).values()]
    assert sum(parts) == pytest.approx(explanation["score"], abs=1e-5)
    denominator = explanation["score"] if explanation["score"] > 0 else sum(abs(c) for c in parts)
    for weight, contribution in factors(explanation).values():
        assert weight == pytest.approx(contribution / denominator, abs=2e-4)
    weights = [w for w, _ in factors(explanation).values()]
    assert weights == sorted(weights, reverse=True)


def top(limit: int, **world: Any) -> list[Recommendation]:
    return recommend(world_stores(HISTORY, RECENT, **world), "u1", limit).recommendations


@pytest.mark.parametrize(
    "world",
    [
        {},
        {"models": FakeModels(None)},
        {"models": FakeModels(error=RuntimeError("bad"))},
        {"history_down": True},
    ],
    ids=["model", "no model", "model unreadable", "redis down"],
)
def test_an_unknown_item_cannot_be_explained(world):
    with pytest.raises(NotFoundError):
        explain(world_stores(HISTORY, RECENT, **world), "u1", "no_such_item")


def test_the_explanation_is_of_the_score_and_factors_the_ranking_used():
    stores = world_stores(HISTORY, RECENT)
    for shown in top(6):
        explanation, version = explain(stores, "u1", shown.item.item_id)
        assert version == BUNDLE.version and explanation["would_be_recommended"] is True
        assert explanation["score"] == pytest.approx(shown.score, abs=1e-5)
        ranked_by = [(f["factor"], f["weight"]) for f in shown.explanation["factors"]]
        assert [(name, weight) for name, (weight, _) in factors(explanation).items()] == ranked_by
        # the items the list names (the top 3) lead the items the explanation names (the top 5)
        named = shown.explanation.get("similar_items", [])
        assert explanation["similar_items_watched"][: len(named)] == named
        assert set(explanation["similar_items_watched"]) <= set(HISTORY)


def test_the_factor_weights_are_each_parts_share_of_the_score_whatever_its_sign():
    signs = set()
    for weights, recent in ((HISTORY, RECENT), (DISLIKER, [])):
        stores = world_stores(weights, recent)
        for item_id in set(BUNDLE.item_ids) - set(weights):
            explanation, _ = explain(stores, "u1", item_id)
            assert_weights_are_shares(explanation)
            positive = explanation["score"] > 0
            signs.add(positive)
            assert explanation["would_be_recommended"] is positive
            if not positive:
                assert explanation["primary_reason"] == "low_predicted_interest"
                magnitude = sum(abs(w) for w, _ in factors(explanation).values())
                assert magnitude == pytest.approx(1.0 if explanation["score"] else 0.0, abs=1e-3)
    assert signs == {True, False}  # both kinds of score were explained


def test_a_strangers_item_is_explained_by_its_popularity_scaled_to_the_most_popular_and_a_favourite():
    explanation, version = explain(world_stores(favourites=["Romance"]), "stranger", ROMANCE[4])
    assert version == BUNDLE.version and explanation["primary_reason"] in (
        "popularity",
        "category_preference",
    )
    popularity = float(BUNDLE.popularity[BUNDLE.position[ROMANCE[4]]] / BUNDLE.popularity.max())
    assert factors(explanation)["popularity"][1] == pytest.approx(popularity, abs=1e-5)
    assert factors(explanation)["category_preference"][1] == pytest.approx(BUNDLE.blend.favourite_weight)
    assert set(factors(explanation)) == {"popularity", "category_preference"}  # an old item: no recency
    assert_weights_are_shares(explanation)
    assert explanation["similar_items_watched"] == []


def test_an_item_the_user_is_not_interested_in_is_explained_as_not_shown_and_is_not_shown():
    best = top(1)[0].item.item_id
    stores = world_stores(HISTORY, RECENT, excluded={best})
    explanation, _ = explain(stores, "u1", best)
    assert explanation["primary_reason"] == "excluded" and explanation["would_be_recommended"] is False
    assert explanation["contributing_factors"] == [] and "score" not in explanation
    assert best not in [r.item.item_id for r in recommend(stores, "u1", len(CATALOG)).recommendations]


def test_a_consumed_item_is_explained_by_the_model_where_consumed_items_are_shown():
    stores = world_stores(HISTORY, RECENT)
    assert explain(stores, "u1", SCIFI[0])[0]["primary_reason"] == "already_consumed"
    again = RankingRequest(context="watch_again")
    explanation, version = explain(stores, "u1", SCIFI[0], again)
    assert version == BUNDLE.version and explanation["primary_reason"] != "already_consumed"
    assert_weights_are_shares(explanation)
    shelf = {
        r.item.item_id: r.score for r in recommend(stores, "u1", len(CATALOG), request=again).recommendations
    }
    assert explanation["score"] == pytest.approx(shelf[SCIFI[0]], abs=1e-5)


def test_an_item_added_after_the_model_was_trained_is_not_in_it_yet():
    brand_new = Item("brand_new", "Brand new", category="SciFi")
    explanation, version = explain(world_stores(HISTORY, RECENT, extra=[brand_new]), "u1", "brand_new")
    assert version == BUNDLE.version and explanation["primary_reason"] == "not_in_model"
    assert explanation["would_be_recommended"] is False


def popularity_v1(item_id: str) -> float:
    """popularity-v1's popularity part: the item's interactions over the most popular item's."""
    return COUNTS[item_id] / max(COUNTS.values())


@pytest.mark.parametrize("precomputed_down", [False, True], ids=["no precomputed rows", "postgres down too"])
def test_with_redis_down_popularity_explains_and_says_personalisation_is_unavailable(precomputed_down):
    stores = world_stores(
        HISTORY, RECENT, favourites=["SciFi"], history_down=True, precomputed_down=precomputed_down
    )
    explanation, version = explain(stores, "u1", SCIFI[4])
    assert version == POPULARITY_MODEL
    assert explanation["description"] == "Personalisation is unavailable right now"
    assert factors(explanation)["popularity"][1] == pytest.approx(popularity_v1(SCIFI[4]), abs=1e-6)
    assert factors(explanation)["category_preference"][1] == FAVOURITE_BONUS
    assert_weights_are_shares(explanation)
    # without the history nothing is known to be consumed: a consumed item is explained too
    assert explain(stores, "u1", SCIFI[0])[0]["would_be_recommended"] is True


def test_with_the_model_unreadable_popularity_explains_and_the_history_still_counts():
    stores = world_stores(HISTORY, RECENT, models=FakeModels(error=RuntimeError("the bundle cannot be read")))
    explanation, version = explain(stores, "u1", ROMANCE[5])
    assert version == POPULARITY_MODEL and explanation["description"] is None
    [(name, (weight, contribution))] = factors(explanation).items()  # no favourite: popularity alone
    assert (name, weight) == ("popularity", 1.0)
    assert contribution == pytest.approx(popularity_v1(ROMANCE[5]), abs=1e-6)
    assert explain(stores, "u1", SCIFI[0])[0]["primary_reason"] == "already_consumed"


def test_a_feature_store_error_that_is_not_an_outage_is_raised_not_explained_away():
    class Corrupt(FakeFeatureStore):
        def history(self, user_id: str) -> UserHistory:
            raise ValueError("a history entry that cannot be parsed")

    stores = dataclasses.replace(world_stores(HISTORY, RECENT), features=Corrupt())
    with pytest.raises(ValueError, match="cannot be parsed"):
        explain(stores, "u1", SCIFI[4])


def test_an_item_pushed_up_by_a_dislike_is_explained_as_unlike_it():
    """A disliked item's share is positive for a candidate only when the candidate is unlike it."""
    from recsys.domain import Item
    from recsys.logic.explanations import describe

    disliked = Item(item_id="m1", title="Wedding")
    liked = Item(item_id="m2", title="Alien")
    candidate = Item(item_id="m3", title="Aliens", category="SciFi")
    titles = {"m1": disliked, "m2": liked}
    assert describe("recent_activity", candidate, ["m1"], titles, {"m1": "dislike"}) == (
        "Unlike Wedding, which you disliked"
    )
    assert describe("similar_items", candidate, ["m2"], titles, {"m2": "like"}).startswith("Because you")
