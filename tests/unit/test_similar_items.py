"""similar_items: the model's item-item neighbours (P_source·Q_j, worked out here from the factors
rather than asked of the index), and popularity in the item's category when there is no model."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from recsys.domain import Item
from recsys.errors import NotFoundError
from recsys.logic.recommend import POPULARITY_MODEL, SimilarAnswer, similar_items
from tests.unit.engine_fixtures import ROMANCE, SCIFI
from tests.unit.fakes import FakeModels
from tests.unit.recommend_fixtures import BUNDLE, CATALOG, COUNTS, world_stores

TIE = 1e-5  # the index computes in float32


def similarity(source: str) -> dict[str, float]:
    """P_source·Q_j for every item j but the source, in float64."""
    p = BUNDLE.position[source]
    s = BUNDLE.Q.astype(np.float64) @ BUNDLE.P[p].astype(np.float64)
    return {item_id: float(s[j]) for j, item_id in enumerate(BUNDLE.item_ids) if j != p}


def ids(answer: SimilarAnswer) -> list[str]:
    return [item.item_id for item, _, _ in answer.similar]


def assert_nearest(
    answer: SimilarAnswer, source: str, limit: int, passed_over: frozenset[str] = frozenset()
) -> None:
    """The answer is the `limit` items nearest to the source, nearest first, each with its
    similarity clipped to [0, 1]; items in `passed_over` are left out."""
    s = {i: v for i, v in similarity(source).items() if i not in passed_over}
    assert len(answer.similar) == limit and source not in ids(answer)
    found = [s[i] for i in ids(answer)]
    assert all(a >= b - TIE for a, b in itertools.pairwise(found)), "nearest first"
    nearest_left_out = max(v for i, v in s.items() if i not in ids(answer))
    assert min(found) >= nearest_left_out - TIE, "no nearer item was left out"
    for item, value, _ in answer.similar:
        assert value == pytest.approx(min(max(s[item.item_id], 0.0), 1.0), abs=1e-4)


@pytest.mark.parametrize("source", [SCIFI[3], ROMANCE[5], "romance_new"])
def test_the_similar_items_are_the_models_nearest_by_p_dot_q_never_the_item_itself(source):
    answer = similar_items(world_stores(), source, 5)
    assert answer.model_version == BUNDLE.version and answer.source.item_id == source
    assert_nearest(answer, source, 5)


def test_an_item_that_would_be_its_own_neighbour_is_left_out():
    """An item mapped from its content scores itself among its neighbours: it is still left out."""
    p = BUNDLE.position["romance_new"]
    itself = float(BUNDLE.Q[p].astype(np.float64) @ BUNDLE.P[p])
    nearer = sum(v > itself for v in similarity("romance_new").values())
    assert nearer < 5  # the premise: by score it would be in the top 5
    assert "romance_new" not in ids(similar_items(world_stores(), "romance_new", 5))


def test_inactive_items_are_passed_over_and_the_next_nearest_take_their_place():
    by_score = sorted(similarity(SCIFI[3]).items(), key=lambda entry: -entry[1])
    first_two = {item_id for item_id, _ in by_score[:2]}
    answer = similar_items(world_stores(inactive=first_two), SCIFI[3], 4)
    assert not first_two & set(ids(answer))
    assert_nearest(answer, SCIFI[3], 4, passed_over=frozenset(first_two))


@pytest.mark.parametrize(
    ("source_id", "kinds_found"), [(SCIFI[3], {True, False}), ("scifi_new", {False})], ids=["warm", "cold"]
)
def test_the_reason_says_collaborative_only_when_both_items_were_learned_from_interactions(
    source_id, kinds_found
):
    source = CATALOG[source_id]
    answer = similar_items(world_stores(), source.item_id, 7)
    kinds = set()
    for item, _, reason in answer.similar:
        warm = bool(
            BUNDLE.warm[BUNDLE.position[source.item_id]] and BUNDLE.warm[BUNDLE.position[item.item_id]]
        )
        kinds.add(warm)
        if warm:
            assert reason.startswith(f"People who engaged with {source.title} also engaged with this")
            assert reason.endswith("(same category SciFi)") == (item.category == "SciFi")
        else:
            assert reason.startswith("Similar content: category SciFi; tags future, space")
    assert kinds == kinds_found  # from a warm item, both kinds of neighbour are in the answer


@pytest.mark.parametrize(
    "models", [FakeModels(None), FakeModels(BUNDLE), FakeModels(error=RuntimeError("bad"))]
)
def test_an_unknown_item_is_not_found_with_or_without_a_model(models):
    with pytest.raises(NotFoundError):
        similar_items(world_stores(models=models), "no_such_item", 5)


def popular_in(category: str, but: str) -> list[tuple[str, float]]:
    """The category's items by interactions (the log's counts), the source left out."""
    ranked = sorted(
        ((i, n) for i, n in COUNTS.items() if CATALOG[i].category == category and i != but),
        key=lambda entry: (-entry[1], entry[0]),
    )
    return [(i, n / ranked[0][1]) for i, n in ranked]


@pytest.mark.parametrize(
    "models",
    [FakeModels(None), FakeModels(error=RuntimeError("the bundle cannot be read"))],
    ids=["no model", "model unreadable"],
)
def test_without_a_model_the_similar_items_are_the_popular_items_of_its_category(models):
    answer = similar_items(world_stores(models=models), ROMANCE[3], 4)
    assert answer.model_version == POPULARITY_MODEL
    expected = popular_in("Romance", but=ROMANCE[3])[:4]
    assert [(i, s) for i, s in zip(ids(answer), (v for _, v, _ in answer.similar), strict=True)] == [
        (i, round(s, 4)) for i, s in expected
    ]
    assert {reason for _, _, reason in answer.similar} == {"Popular in Romance"}


def test_an_item_the_model_does_not_know_gets_popular_items_of_its_category():
    brand_new = Item("brand_new", "Brand new", category="SciFi")
    answer = similar_items(world_stores(extra=[brand_new]), "brand_new", 3)
    assert answer.model_version == POPULARITY_MODEL
    assert ids(answer) == [i for i, _ in popular_in("SciFi", but="brand_new")[:3]]


def test_with_redis_down_too_the_catalogs_counts_rank_them_and_inactive_items_stay_out():
    stores = world_stores(models=FakeModels(None), history_down=True, inactive={SCIFI[2]})
    answer = similar_items(stores, SCIFI[3], 3)
    assert answer.model_version == POPULARITY_MODEL
    assert ids(answer) == [i for i, _ in popular_in("SciFi", but=SCIFI[3]) if i != SCIFI[2]][:3]


def test_without_a_model_an_inactive_popular_item_leaves_no_gap_nor_sets_the_scale():
    """Redis ranks inactive items too: the list is still `limit` long, scaled to the top shown."""
    stores = world_stores(models=FakeModels(None), inactive={SCIFI[2]})
    answer = similar_items(stores, SCIFI[3], 3)
    shown = [(i, n) for i, n in popular_in("SciFi", but=SCIFI[3]) if i != SCIFI[2]][:3]
    assert ids(answer) == [i for i, _ in shown]
    assert [score for _, score, _ in answer.similar] == [round(n / shown[0][1], 4) for _, n in shown]
