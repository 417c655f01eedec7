"""The recommendation seam (candidates → filters → scorer → explanation) and its fallbacks, on a
model trained by the real code and in-memory stand-ins for the stores (the adapters are tested
against the real servers in tests/integration)."""

from __future__ import annotations

import dataclasses
import itertools
import json

import pytest

from recsys.domain import Item
from recsys.logic.recommend import RankingRequest, explain, recommend, similar_items
from recsys.stores.precomputed import PrecomputedRow
from tests.unit.engine_fixtures import ROMANCE, SCIFI
from tests.unit.fakes import FakeModels, FakeRecommendationCache
from tests.unit.recommend_fixtures import BUNDLE, CATALOG, world_stores


def ids(answer):
    return [r.item.item_id for r in answer.recommendations]


FAN = {SCIFI[0]: 3.0, SCIFI[1]: 3.0}
FAN_RECENT = [(SCIFI[1], "s1"), (SCIFI[0], "s1")]


def test_the_model_serves_a_known_user_and_names_its_version():
    answer = recommend(world_stores(FAN, FAN_RECENT), "u1", 5)
    assert answer.model_version == "test-v1"
    assert ids(answer)[0].startswith("scifi") and not set(ids(answer)) & set(FAN)
    first = answer.recommendations[0].explanation
    assert first["type"] in ("collaborative", "sequential") and first["similar_items"][0] in FAN
    assert sum(f["weight"] for f in first["factors"]) == pytest.approx(1.0, abs=1e-3)
    assert first["reason"].startswith("Because you")


def test_excluded_items_never_appear_whatever_their_score():
    best = ids(recommend(world_stores(FAN, FAN_RECENT), "u1", 3))
    answer = recommend(
        world_stores(FAN, FAN_RECENT, excluded={best[0], best[1]}),  # not_interested, excluded_items
        "u1",
        20,
        exclude={best[2]},
    )
    assert not set(best) & set(ids(answer))


def test_consumed_items_are_left_out_unless_the_context_is_about_them():
    everything = {i: 3.0 for i in SCIFI}
    assert not set(SCIFI) & set(ids(recommend(world_stores(everything), "u1", 20)))
    again = recommend(world_stores(everything), "u1", 20, request=RankingRequest(context="watch_again"))
    assert set(SCIFI) & set(ids(again))


def test_category_filter_and_inactive_items():
    answer = recommend(world_stores(FAN, FAN_RECENT, inactive={SCIFI[2]}), "u1", 20, category="Romance")
    assert ids(answer) and {CATALOG[i].category for i in ids(answer)} == {"Romance"}
    answer = recommend(world_stores(FAN, FAN_RECENT, inactive={SCIFI[2]}), "u1", 20)
    assert SCIFI[2] not in ids(answer)


def test_a_stranger_gets_popular_items_and_is_told_so():
    answer = recommend(world_stores(), "stranger", 5)
    assert answer.model_version == "test-v1"
    assert all(r.explanation["type"] == "popularity" for r in answer.recommendations)
    assert "do not know your taste" in answer.recommendations[0].explanation["reason"]


def test_a_new_user_with_preferences_gets_their_favourite_categories():
    blockbuster = BUNDLE.position[SCIFI[0]]
    saved = float(BUNDLE.popularity[blockbuster])
    BUNDLE.popularity[blockbuster] = 12.0  # log(1 + 160k interactions): far above everything else
    try:
        answer = recommend(world_stores(favourites=["Romance"]), "newbie", 4)
    finally:
        BUNDLE.popularity[blockbuster] = saved
    assert {CATALOG[i].category for i in ids(answer)} == {"Romance"}
    first = answer.recommendations[0].explanation
    assert first["reason"].endswith("a category you like (we do not know your taste yet)")
    assert first["matching_attributes"] == ["category"]
    assert {f["factor"] for f in first["factors"]} == {"popularity", "category_preference"}


def test_the_session_is_a_signal_only_within_that_session():
    weights = {SCIFI[0]: 3.0, ROMANCE[0]: 3.0}
    recent = [(SCIFI[0], "old"), (ROMANCE[0], "now")]
    stores = world_stores(weights, recent)

    def session_factors(session_id):
        answer = recommend(stores, "u1", 10, request=RankingRequest(session_id=session_id))
        return [
            f["weight"]
            for r in answer.recommendations
            for f in r.explanation["factors"]
            if f["factor"] == "session"
        ]

    assert any(weight > 0 for weight in session_factors("now"))
    assert session_factors("other") == []


def test_without_the_real_time_store_precomputed_rows_answer_and_say_so():
    rows = [PrecomputedRow("u1", ROMANCE[5], 1, 0.9, "collaborative", "old-v0")]
    answer = recommend(world_stores(history_down=True, precomputed=rows), "u1", 5)
    assert answer.model_version == "precomputed:old-v0" and ids(answer) == [ROMANCE[5]]
    assert answer.recommendations[0].explanation["type"] == "precomputed"


def test_explaining_a_precomputed_item_says_where_it_came_from():
    rows = [PrecomputedRow("u1", ROMANCE[5], 3, 0.9, "collaborative", "old-v0")]
    explanation, version = explain(world_stores(history_down=True, precomputed=rows), "u1", ROMANCE[5])
    assert version == "precomputed:old-v0" and explanation["primary_reason"] == "precomputed"
    assert [f["factor"] for f in explanation["contributing_factors"]] == ["precomputed"]
    other, version = explain(world_stores(history_down=True, precomputed=rows), "u1", ROMANCE[6])
    assert version == "popularity-v1" and other["primary_reason"] == "popularity"


def test_without_a_model_or_precomputed_rows_popularity_answers():
    answer = recommend(world_stores(FAN, models=FakeModels(None)), "u1", 5)
    assert answer.model_version == "popularity-v1" and len(ids(answer)) == 5
    assert not set(FAN) & set(ids(answer))
    down = recommend(world_stores(history_down=True), "u1", 5)
    assert (
        down.model_version == "popularity-v1"
        and "unavailable" in down.recommendations[0].explanation["reason"]
    )


def test_popularity_v1_weights_are_its_additive_parts():
    answer = recommend(world_stores(models=FakeModels(None), favourites=["Romance"]), "u1", 3)
    top = answer.recommendations[0]
    assert CATALOG[top.item.item_id].category == "Romance"
    weights = {f["factor"]: f["weight"] for f in top.explanation["factors"]}
    assert set(weights) == {"popularity", "category_preference"} and sum(weights.values()) == pytest.approx(1)


def test_explain_decomposes_the_score_it_would_rank_by():
    stores = world_stores(FAN, FAN_RECENT)
    target = ids(recommend(stores, "u1", 1))[0]
    explanation, version = explain(stores, "u1", target)
    assert version == "test-v1" and explanation["would_be_recommended"] is True
    factors = explanation["contributing_factors"]
    assert sum(f["weight"] for f in factors) == pytest.approx(1.0, abs=1e-3)
    assert sum(f["contribution"] for f in factors) == pytest.approx(explanation["score"], abs=1e-5)
    assert explanation["similar_items_watched"] and set(explanation["similar_items_watched"]) <= set(FAN)
    assert explanation["predicted_rating"] is None  # the fixture's log had no ratings


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        ({"weights": FAN}, "already_consumed"),
        ({"excluded": {SCIFI[0]}}, "excluded"),
        ({"inactive": {SCIFI[0]}}, "inactive"),
    ],
)
def test_explaining_an_item_that_would_not_be_shown_says_so(setup, reason):
    explanation, _ = explain(world_stores(**setup), "u1", SCIFI[0])
    assert explanation["primary_reason"] == reason and explanation["contributing_factors"] == []
    assert explanation["would_be_recommended"] is False


def test_similar_items_come_from_the_model_and_new_items_from_their_content():
    answer = similar_items(world_stores(), SCIFI[3], 4)
    assert answer.model_version == "test-v1" and SCIFI[3] not in [i.item_id for i, _, _ in answer.similar]
    assert all(i.category == "SciFi" for i, _, _ in answer.similar[:3])
    new = similar_items(world_stores(), "romance_new", 3)
    assert all(i.category == "Romance" for i, _, _ in new.similar)
    assert new.similar[0][2].startswith("Similar content: category Romance")


def test_items_the_model_does_not_know_complete_a_short_list_and_say_where_they_came_from():
    stores = world_stores(FAN, FAN_RECENT)
    known = len(ids(recommend(stores, "u1", 100)))
    answer = recommend(stores, "u1", known + 1)
    assert len(ids(answer)) == known  # nothing else is in the catalog
    brand_new = Item("brand_new", "Brand new", category="SciFi")
    answer = recommend(world_stores(FAN, FAN_RECENT, extra=[brand_new]), "u1", known + 1)
    assert (
        ids(answer)[-1] == "brand_new" and answer.recommendations[-1].explanation["source"] == "popularity-v1"
    )


def test_no_category_fills_more_than_its_share_unless_the_user_asked_for_it():
    everything_scifi = {SCIFI[0]: 3.0, SCIFI[1]: 3.0, SCIFI[2]: 3.0}
    answer = recommend(world_stores(everything_scifi, [(SCIFI[2], None)]), "u1", 6)
    categories = [CATALOG[i].category for i in ids(answer)]
    assert categories.count("SciFi") <= 3 and categories.count("Romance") >= 3  # max_category_share 0.5
    favourite = recommend(world_stores(everything_scifi, [(SCIFI[2], None)], favourites=["SciFi"]), "u1", 6)
    assert [CATALOG[i].category for i in ids(favourite)].count("SciFi") > 3


def test_items_with_equal_scores_come_in_item_id_order():
    answer = recommend(world_stores(), "newcomer", len(CATALOG))
    scored = [(r.score, r.item.item_id) for r in answer.recommendations]
    ties = [(a, b) for a, b in itertools.pairwise(scored) if a[0] == b[0]]
    assert ties  # the untouched items score alike, so the order among them is the tie-break's
    assert all(a[1] < b[1] for a, b in ties)


# -- the kept rankings -----------------------------------------------------------------------------
def test_a_kept_ranking_is_served_with_its_items_as_the_catalog_now_has_them():
    cache = FakeRecommendationCache()
    stores = world_stores(FAN, FAN_RECENT, cache=cache)
    first = recommend(stores, "u1", 5)
    assert first.cache == "miss" and len(cache.entries) == 1
    renamed = dataclasses.replace(CATALOG[ids(first)[0]], title="A new title")
    stores.catalog.upsert_item(renamed)  # type: ignore[attr-defined]  # the fake catalog writes
    again = recommend(stores, "u1", 5)
    assert again.cache == "hit" and again.generated_at == first.generated_at
    assert [(r.item.item_id, r.score, r.rank, r.explanation) for r in again.recommendations] == [
        (r.item.item_id, r.score, r.rank, r.explanation) for r in first.recommendations
    ]
    assert again.recommendations[0].item.title == "A new title"
    assert recommend(stores, "u1", 4).cache == "miss"  # another request is ranked on its own
    assert recommend(stores, "u1", 5, request=RankingRequest(session_id="s2")).cache == "miss"


def test_a_kept_ranking_with_an_item_no_longer_active_is_ranked_again():
    cache = FakeRecommendationCache()
    stores = world_stores(FAN, FAN_RECENT, cache=cache)
    top = ids(recommend(stores, "u1", 5))[0]
    stores.catalog.upsert_item(dataclasses.replace(CATALOG[top], is_active=False))  # type: ignore[attr-defined]
    again = recommend(stores, "u1", 5)
    assert again.cache == "miss" and top not in ids(again)


def test_an_entry_in_another_shape_is_ranked_again():
    cache = FakeRecommendationCache()
    stores = world_stores(FAN, FAN_RECENT, cache=cache)
    first = recommend(stores, "u1", 5)
    [(where, raw)] = cache.entries.items()
    cache.entries[where] = json.dumps({**json.loads(raw), "recs": [["only an id"]]})
    again = recommend(stores, "u1", 5)
    assert again.cache == "miss" and ids(again) == ids(first)


def test_a_new_generation_of_the_user_ranks_again():
    cache = FakeRecommendationCache()
    stores = world_stores(FAN, FAN_RECENT, cache=cache)
    recommend(stores, "u1", 5)
    cache.invalidate(["u1"])
    assert recommend(stores, "u1", 5).cache == "miss"
    assert recommend(stores, "u1", 5).cache == "hit"


def test_fallback_answers_are_not_kept_and_an_unreachable_cache_ranks_anyway():
    cache = FakeRecommendationCache()
    popular = recommend(world_stores(cache=cache, models=FakeModels(None)), "u1", 5)
    assert popular.model_version == "popularity-v1" and popular.cache is None and not cache.entries
    down = recommend(world_stores(FAN, FAN_RECENT, cache=FakeRecommendationCache(down=True)), "u1", 5)
    assert down.model_version == "test-v1" and down.cache is None and ids(down)
