"""The offline evaluation protocol and baselines on hand-made data whose right answers are known."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from evaluation.protocol import (
    DISLIKE,
    WATCH,
    Event,
    action_for_rating,
    histories,
    leave_last_out,
    load_events,
    metrics,
    validation_split,
)


def ev(user: str, item: str, ts: float, action: str = WATCH) -> Event:
    return Event(user, item, action, ts)


# Loading ---------------------------------------------------------------------------------------------


def test_ratings_map_to_the_products_actions() -> None:
    assert [action_for_rating(r) for r in (1, 2, 2.5, 3, 5)] == [DISLIKE, DISLIKE, WATCH, WATCH, WATCH]
    assert ev("u", "i", 0, DISLIKE).weight == -3.0
    assert ev("u", "i", 0, WATCH).weight == 3.0


def test_load_events_keeps_file_order_and_maps_ratings(tmp_path: Path) -> None:
    path = tmp_path / "x.inter"
    path.write_text(
        "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
        "7\t30\t2\t200\n"
        "5\t10\t4\t100\n"
        "7\t20\t3\t100\n",
        encoding="utf-8",
    )
    assert load_events(path) == [
        Event("7", "30", DISLIKE, 200.0),
        Event("5", "10", WATCH, 100.0),
        Event("7", "20", WATCH, 100.0),
    ]


# Splits ----------------------------------------------------------------------------------------------


def test_ties_keep_file_order_so_the_later_row_is_held_out() -> None:
    # Same second for all of u's events; file order is c, a, b. A sort by (time, item) would hold out c.
    events = [ev("u", "c", 5), ev("v", "x", 1), ev("u", "a", 5), ev("v", "y", 2), ev("u", "b", 5)]
    train, held_out = leave_last_out(events)
    assert held_out == {"u": "b", "v": "y"}
    assert train == [ev("u", "c", 5), ev("v", "x", 1), ev("u", "a", 5)]  # still in file order
    assert [e.item for e in histories(events)["u"]] == ["c", "a", "b"]


def test_time_decides_before_file_order() -> None:
    events = [ev("u", "late", 9), ev("u", "early", 1), ev("u", "mid", 5)]
    train, held_out = leave_last_out(events)
    assert held_out == {"u": "late"}
    fit, validation = validation_split(train)
    assert validation == {"u": "mid"}
    assert fit == [ev("u", "early", 1)]


def test_validation_split_is_the_second_to_last_event_with_ties() -> None:
    events = [ev("u", "a", 1), ev("u", "b", 3), ev("u", "c", 3), ev("u", "d", 3)]
    train, test = leave_last_out(events)
    fit, validation = validation_split(train)
    assert test == {"u": "d"}
    assert validation == {"u": "c"}
    assert [e.item for e in fit] == ["a", "b"]


# Metrics ---------------------------------------------------------------------------------------------


def test_ndcg_of_rank_one_is_one_and_of_rank_three_is_one_half() -> None:
    rankings = {"u": ["t", "x", "y"], "v": ["x", "y", "t"]}
    held_out = {"u": "t", "v": "t"}
    assert metrics({"u": rankings["u"]}, {"u": "t"}, n_items=10)["ndcg@10"] == pytest.approx(1.0)
    assert metrics({"v": rankings["v"]}, {"v": "t"}, n_items=10)["ndcg@10"] == pytest.approx(0.5)
    both = metrics(rankings, held_out, n_items=10)
    assert both["ndcg@10"] == pytest.approx(0.75)
    assert both["hr@10"] == pytest.approx(1.0)


def test_misses_beyond_ten_and_missing_users_count_as_zero() -> None:
    long_list = [f"i{n}" for n in range(10)] + ["t"]  # the target is 11th: outside the top 10
    result = metrics({"u": long_list}, {"u": "t", "w": "t"}, n_items=20)
    assert result["hr@10"] == 0.0
    assert result["ndcg@10"] == 0.0
    assert result["coverage@10"] == pytest.approx(10 / 20)  # only the first ten entries are shown


def test_hit_rate_ndcg_and_coverage_on_a_mix() -> None:
    rankings = {"a": ["t1", "x"], "b": ["x", "y", "z", "t2"], "c": ["x", "y"]}
    result = metrics(rankings, {"a": "t1", "b": "t2", "c": "t3"}, n_items=8)
    assert result["hr@10"] == pytest.approx(2 / 3)
    assert result["ndcg@10"] == pytest.approx((1.0 + 1 / math.log2(5)) / 3)
    assert result["coverage@10"] == pytest.approx(5 / 8)  # t1, x, y, z, t2


def test_bootstrap_error_is_zero_when_all_users_agree_and_reproducible_otherwise() -> None:
    same = metrics({u: ["t"] for u in "abcd"}, dict.fromkeys("abcd", "t"), n_items=4)
    assert same["se_hr@10"] == 0.0
    assert same["se_ndcg@10"] == 0.0
    held_out = {f"u{n}": "t" for n in range(50)}
    rankings = {f"u{n}": (["t"] if n % 2 else ["x"]) for n in range(50)}
    first, second = metrics(rankings, held_out, 2), metrics(rankings, held_out, 2)
    assert first["se_hr@10"] == second["se_hr@10"]
    # the bootstrap SE of a mean of 50 coin flips is about sqrt(0.25 / 50) = 0.071
    assert first["se_hr@10"] == pytest.approx(math.sqrt(0.25 / 50), rel=0.15)


# Baselines -------------------------------------------------------------------------------------------


def _toy_events() -> list[Event]:
    """Users who watch overlapping items; a, b, c are each other's neighbours, d, e another pair."""
    rng = np.random.default_rng(3)
    events: list[Event] = []
    for n in range(12):
        group = ["a", "b", "c", "f"] if n % 2 else ["d", "e", "g", "h"]
        order = [str(item) for item in rng.permutation(group)]
        events += [ev(f"u{n}", item, t) for t, item in enumerate(order)]
    return events


def test_a_consumed_item_is_never_ranked_and_lists_hold_ten_at_most() -> None:
    pytest.importorskip("scipy")
    from evaluation.baselines import ease, most_popular, sequential_ease

    events = _toy_events() + [ev("solo", item, t) for t, item in enumerate("abcdefg")]
    items = sorted({e.item for e in events} | {"z"})
    train, _ = leave_last_out(events)
    consumed = {user: {e.item for e in seq} for user, seq in histories(train).items()}
    for result in (most_popular(train, items), ease(train, items), sequential_ease(train, items)):
        for user, ranking in result.rankings.items():
            assert not consumed[user] & set(ranking)
            assert len(ranking) == len(set(ranking)) <= 10
        # g is solo's held-out item, so it is unseen in training and may be ranked
        assert set(result.rankings["solo"]) == {"g", "h", "z"}


def test_most_popular_orders_by_interaction_count_then_item_order() -> None:
    pytest.importorskip("scipy")
    from evaluation.baselines import most_popular

    events = [ev("u1", "x", 1), ev("u2", "x", 1), ev("u2", "y", 2), ev("u3", "z", 1), ev("u3", "w", 2)]
    items = ["w", "x", "y", "z"]
    result = most_popular(events, items)
    assert result.rankings["u1"] == ["w", "y", "z"]  # counts 1 each: ties go to the lower item index
    assert result.rankings["u3"] == ["x", "y"]


def test_ease_weights_solve_the_constrained_ridge_regression() -> None:
    sp = pytest.importorskip("scipy.sparse")
    from evaluation.baselines import ease_weights

    rng = np.random.default_rng(0)
    x = (rng.random((30, 6)) < 0.4).astype(float)
    lam = 2.0
    weights = ease_weights(sp.csr_matrix(x), lam)
    assert np.allclose(np.diag(weights), 0.0)
    for j in range(6):
        others = [i for i in range(6) if i != j]
        xo = x[:, others]
        direct = np.linalg.solve(xo.T @ xo + lam * np.eye(5), xo.T @ x[:, j])
        assert np.allclose(weights[others, j], direct)


def test_recency_weights_the_most_recent_item_highest() -> None:
    pytest.importorskip("scipy")
    from evaluation.baselines import Interactions, recency_matrix

    events = [ev("u", "a", 1), ev("u", "b", 2), ev("u", "c", 2), ev("u", "d", 3)]
    data = Interactions.build(events, ["a", "b", "c", "d"])
    row = recency_matrix(data, window=3, decay=0.5).toarray()[0]
    assert row.tolist() == [0.0, 0.25, 0.5, 1.0]  # a is outside the window of 3; c follows b in the file


def test_hyper_parameters_are_chosen_on_validation_not_test() -> None:
    pytest.importorskip("scipy")
    from evaluation.baselines import ease

    events = _toy_events()
    train, test = leave_last_out(events)
    seen: list[str] = []
    result = ease(train, sorted({e.item for e in events}), lambdas=(1.0, 10.0), log=seen.append)
    assert result.params["lambda"] in (1.0, 10.0)
    assert sum(line.startswith("validation") for line in seen) == 2
    assert set(result.validation) >= {"hr@10", "ndcg@10", "coverage@10"}
    assert set(result.rankings) == set(test)
