"""popularity-v1 ranking rules over in-memory stores (the real adapters are tested elsewhere)."""

from datetime import UTC, datetime
from types import SimpleNamespace

from recsys.domain import Interaction, Item
from recsys.logic.recommend import RankingRequest, Stores, recommend

ITEMS = {
    "a": Item("a", "A", category="Drama"),
    "b": Item("b", "B", category="Comedy"),
    "c": Item("c", "C", category="Comedy"),
    "d": Item("d", "D", category="Drama", is_active=False),
    "seen": Item("seen", "Seen", category="Comedy"),
}
POPULARITY = [("a", 10.0), ("b", 9.0), ("c", 8.9), ("d", 20.0), ("seen", 30.0)]


def stores(history=(), excluded=(), favourites=()):
    preferences = SimpleNamespace(values={"excluded_items": [], "favorite_categories": list(favourites)})
    return Stores(
        catalog=SimpleNamespace(
            get_items=lambda ids: {i: ITEMS[i] for i in ids if i in ITEMS},
            popular_items=lambda limit, category=None: [],
        ),
        features=SimpleNamespace(popular=lambda limit, category=None: POPULARITY[:limit]),
        log=SimpleNamespace(for_user=lambda user_id, limit: list(history)),
        feedback=SimpleNamespace(excluded_items=lambda user_id: set(excluded)),
        preferences=SimpleNamespace(current=lambda user_id: preferences),
    )


def event(item_id, session_id="s1", action="click"):
    return Interaction(
        f"e-{item_id}", "u1", item_id, action, datetime(2024, 1, 1, tzinfo=UTC), session_id=session_id
    )


def ids(results):
    return [r.item.item_id for r in results]


def test_popular_active_unseen_items_in_order():
    results = recommend(stores(history=[event("seen")]), "u1", 10)
    assert ids(results) == ["a", "b", "c"]
    assert [r.rank for r in results] == [1, 2, 3] and results[0].score == 1.0


def test_not_interested_and_request_exclusions_are_left_out():
    assert ids(recommend(stores(excluded={"a"}), "u1", 10, exclude={"b"})) == ["seen", "c"]


def test_favourite_categories_are_boosted():
    results = recommend(stores(favourites=["Comedy"]), "u1", 10)
    assert ids(results)[:3] == ["seen", "b", "c"] and results[1].explanation["type"] == "content_based"


def test_the_sessions_categories_are_boosted_only_in_that_session():
    history = [event("seen", session_id="s1")]
    assert ids(recommend(stores(history=history), "u1", 2, request=RankingRequest(session_id="s1"))) == [
        "b",
        "c",
    ]
    assert ids(recommend(stores(history=history), "u1", 2, request=RankingRequest(session_id="s2"))) == [
        "a",
        "b",
    ]


def test_category_filter():
    assert ids(recommend(stores(), "u1", 10, category="comedy")) == ["seen", "b", "c"]
