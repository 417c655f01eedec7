"""The engine's parts on a world with known structure: training, content embeddings, fold-in, the
score's decomposition, the index choice, and a bundle's round trip."""

from __future__ import annotations

import numpy as np
import pytest

from recsys.domain import Item
from recsys.engine import index as faiss_index
from recsys.engine.blend import Blend
from recsys.engine.bundle import ModelBundle
from recsys.engine.model import FACTORS, Action, UserProfile, query_vector, score, user_terms
from recsys.engine.training import TrainParams, content_matrix, ease, factorise, gram, next_item
from tests.unit.engine_fixtures import ROMANCE, SCIFI, trained

NOW = 2_000_000_000.0  # the fixture's items entered the catalog long before


def acted(*item_ids: str, session_id: str | None = None) -> list[Action]:
    return [Action(i, session_id=session_id) for i in item_ids]


def top_items(bundle: ModelBundle, profile: UserProfile, blend: Blend | None = None, k: int = 5) -> list[str]:
    terms = user_terms(bundle.position, profile, blend or bundle.blend)
    candidates = np.asarray(
        [p for p, i in enumerate(bundle.item_ids) if i not in profile.weights], dtype=np.int64
    )
    scored = score(bundle, terms, profile.favourites, blend or bundle.blend, candidates, NOW)
    order = np.argsort(-scored.total, kind="stable")[:k]
    return [bundle.item_ids[candidates[k_]] for k_ in order]


def test_ease_never_recommends_an_item_for_itself_and_learns_co_consumption():
    rows = [[0, 1], [0, 1], [1, 2], [2, 3]]
    B = ease(gram(rows, 4), lam=0.5)
    assert gram(rows, 4)[0, 1] == 2 and gram(rows, 4)[1, 1] == 3  # co-occurrence counts
    assert np.allclose(np.diag(B), 0)
    assert B[0, 1] > B[0, 3]  # 0 and 1 are consumed together; 0 and 3 never are


def test_the_next_item_model_learns_what_follows_what():
    T = next_item([[0, 1, 2], [0, 1, 2], [3, 1]], 4, lam=0.1, window=2, decay=0.5)
    assert T[0, 1] > T[0, 2] and T[1, 2] > T[1, 0]  # 1 follows 0; 2 follows 1
    assert T[2].max() < 0.05  # nothing ever followed 2


def test_full_rank_is_exact_and_a_lower_rank_keeps_the_query_directions():
    rng = np.random.default_rng(0)
    M = (rng.standard_normal((100, 5)) @ rng.standard_normal((5, 50))).astype(np.float32)
    P, Q, kept = factorise(M, rank=50, queries=None)
    assert kept == 1.0 and np.allclose(P @ Q.T, M)
    queries = rng.standard_normal((30, 100)).astype(np.float32)
    P, Q, kept = factorise(M, rank=5, queries=queries)
    assert kept > 0.999 and np.allclose(queries @ P @ Q.T, queries @ M, atol=1e-2)
    _, _, partial = factorise(M, rank=2, queries=queries)
    assert partial < 0.99  # a smaller rank loses energy, and says so


def test_training_above_the_full_rank_limit_reduces_dimensions():
    _, bundle = trained(TrainParams(ease_lambda=5.0, sequence_lambda=5.0, full_rank_max=8, rank=6))
    assert bundle.Q.shape[1] == 6 and bundle.P.shape == (2 * len(bundle.item_ids), 6)
    _, exact = trained()
    assert exact.Q.shape[1] == exact.warm.sum() > 6  # d = the items with interactions: nothing lost


def test_a_user_gets_more_of_their_taste():
    _, bundle = trained()
    scifi_fan = UserProfile(weights={SCIFI[0]: 3.0, SCIFI[1]: 3.0}, recent=acted(SCIFI[1], SCIFI[0]))
    assert all(item.startswith("scifi") for item in top_items(bundle, scifi_fan, k=4))
    romance_fan = UserProfile(weights={ROMANCE[2]: 3.0}, recent=acted(ROMANCE[2]))
    assert all(item.startswith("romance") for item in top_items(bundle, romance_fan, k=4))


def test_fold_in_one_interaction_changes_the_next_answer():
    _, bundle = trained()
    before = UserProfile(weights={SCIFI[2]: 3.0}, recent=acted(SCIFI[2]))
    after = UserProfile(weights={SCIFI[2]: 3.0, ROMANCE[3]: 5.0}, recent=acted(ROMANCE[3], SCIFI[2]))
    assert top_items(bundle, before, k=1)[0].startswith("scifi")
    assert top_items(bundle, after, k=1)[0].startswith("romance")  # the newest action leads


def test_a_dislike_pushes_its_neighbours_down():
    _, bundle = trained()
    liked = UserProfile(weights={SCIFI[3]: 3.0})
    disliked = UserProfile(weights={SCIFI[3]: -3.0})  # the long-term term: dislike_history < 0
    terms_liked = user_terms(bundle.position, liked, bundle.blend)
    terms_disliked = user_terms(bundle.position, disliked, bundle.blend)
    neighbour = np.asarray([bundle.position[SCIFI[4]]], dtype=np.int64)
    up = score(bundle, terms_liked, frozenset(), bundle.blend, neighbour, NOW).total[0]
    down = score(bundle, terms_disliked, frozenset(), bundle.blend, neighbour, NOW).total[0]
    assert up > 0 > down


def test_items_nobody_touched_get_embeddings_from_their_content():
    data, bundle = trained()
    assert not bundle.warm[bundle.position["scifi_new"]] and bundle.warm[bundle.position[SCIFI[0]]]
    for new, same, other in (("scifi_new", SCIFI, ROMANCE), ("romance_new", ROMANCE, SCIFI)):
        p = bundle.P[bundle.position[new]]
        same_score = np.mean([p @ bundle.Q[bundle.position[i]] for i in same])
        other_score = np.mean([p @ bundle.Q[bundle.position[i]] for i in other])
        assert same_score > other_score
    C = content_matrix(data.items, 64)
    assert np.allclose(np.linalg.norm(C, axis=1), 1.0)


def test_the_factors_are_the_score_exactly():
    _, bundle = trained()
    blend = Blend(popularity_weight=0.3, favourite_weight=0.2, session_weight=0.5)
    profile = UserProfile(
        weights={SCIFI[0]: 3.0, ROMANCE[0]: 1.0},
        recent=[Action(ROMANCE[0], session_id="now"), Action(SCIFI[0], session_id="before")],
        session_id="now",
        favourites=frozenset({"romance"}),
    )
    terms = user_terms(bundle.position, profile, blend)
    candidates = np.arange(len(bundle.item_ids))
    bundle.created[bundle.position[SCIFI[2]]] = NOW - 7 * 86400  # one item a week old, the rest older
    scored = score(bundle, terms, profile.favourites, blend, candidates, NOW)
    assert scored.parts.shape == (len(FACTORS), len(candidates))
    assert np.allclose(scored.parts.sum(axis=0), scored.total, atol=1e-6)
    assert np.allclose(bundle.Q @ query_vector(bundle.P, terms), scored.parts[:3].sum(axis=0), atol=1e-5)
    k = bundle.position[ROMANCE[1]]
    for f, name in enumerate(FACTORS[:3]):
        per_row = terms[name].contributions(bundle.P, bundle.vectors, np.asarray([k, 0], dtype=np.int64))
        assert len(per_row) and per_row[:, 0].sum() == pytest.approx(float(scored.parts[f, k]), abs=1e-5)
        assert per_row[:, 1].sum() == pytest.approx(float(scored.parts[f, 0]), abs=1e-5)
    assert set(terms["session"].positions.tolist()) == {bundle.position[ROMANCE[0]]}
    assert scored.parts[4, k] == pytest.approx(0.2) and scored.parts[4, bundle.position[SCIFI[1]]] == 0
    fresh = scored.parts[5, bundle.position[SCIFI[2]]]
    assert fresh == pytest.approx(blend.freshness_weight * np.exp(-1)) and scored.parts[5, k] < fresh / 100


def test_exact_index_below_the_threshold_and_ivf_with_measured_recall_above():
    rng = np.random.default_rng(2)
    centres = rng.standard_normal((20, 16)).astype(np.float32)
    Q = (centres[rng.integers(0, 20, 4000)] + 0.1 * rng.standard_normal((4000, 16))).astype(np.float32)
    queries = (centres[rng.integers(0, 20, 200)] + 0.1 * rng.standard_normal((200, 16))).astype(np.float32)
    flat, report = faiss_index.build(Q, queries, exact_below=10_000)
    assert report.kind == "flat" and report.recall_at_50 == 1.0 and flat.ntotal == 4000
    ivf, report = faiss_index.build(Q, queries, exact_below=1_000)
    assert report.kind == "ivf_flat" and report.nprobe is not None
    assert report.recall_at_50 >= faiss_index.TARGET_RECALL
    assert faiss_index.recall(ivf, Q, queries) == pytest.approx(report.recall_at_50)


def test_the_ivf_index_finds_the_top_inner_products_when_norms_differ_by_popularity():
    """Item vectors whose norms grow with popularity (as low-rank factors do): inner-product IVF
    on them needs nearly every list; on the lifted vectors a few lists reach the target."""
    rng = np.random.default_rng(5)
    centres = rng.standard_normal((20, 16)).astype(np.float32)
    directions = centres[rng.integers(0, 20, 6000)] + 0.3 * rng.standard_normal((6000, 16)).astype(np.float32)
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    Q = directions * (1.0 / (1.0 + rng.permutation(6000)) ** 0.5)[:, None].astype(np.float32)
    queries = (centres[rng.integers(0, 20, 200)] + 0.3 * rng.standard_normal((200, 16))).astype(np.float32)
    ivf, report = faiss_index.build(Q, queries, exact_below=1_000)
    assert report.kind == "ivf_flat" and report.recall_at_50 >= faiss_index.TARGET_RECALL
    assert report.nprobe is not None and report.nlist is not None and report.nprobe <= report.nlist // 4
    scores, found = faiss_index.search(ivf, queries[:3], 5)
    assert np.allclose(scores, np.take_along_axis(queries[:3] @ Q.T, found, axis=1), atol=1e-5)


def test_a_bundle_survives_its_round_trip_through_files():
    _, bundle = trained()
    copy = ModelBundle.from_files(bundle.to_files())
    assert copy.version == bundle.version and copy.item_ids == bundle.item_ids
    assert np.array_equal(copy.Q, bundle.Q) and np.array_equal(copy.warm, bundle.warm)
    assert copy.index.ntotal == len(bundle.item_ids)
    query = bundle.P[0][None, :]
    assert np.array_equal(copy.index.search(query, 5)[1], bundle.index.search(query, 5)[1])
    assert copy.predicted_rating(1.0) is None  # no ratings, no calibration: null, never made up
    assert len(copy.catalog) == len(bundle.catalog) and copy.catalog.taken_at == bundle.catalog.taken_at


def test_the_published_catalog_gives_back_each_item_as_it_was():
    from datetime import UTC, datetime
    from decimal import Decimal

    from recsys.engine.bundle import CatalogSnapshot

    items = [
        Item(
            "a",
            "Á title",
            description="d",
            category="Drama",
            subcategory="s",
            tags=("x", "y"),
            content_features={"year": 1999, "embedding": [0.5, 1.0]},
            thumbnail_url="https://example.com/a.png",
            avg_rating=Decimal("3.75"),
            interaction_count=12,
            is_active=True,
            created_at=datetime(2026, 3, 4, 5, 6, 7, 890000, tzinfo=UTC),
        ),
        Item("b", "Plain"),
    ]
    copy = CatalogSnapshot.from_bytes(CatalogSnapshot.of(items, datetime(2026, 5, 1, tzinfo=UTC)).to_bytes())
    assert [copy.get(i.item_id) for i in items] == items
    assert copy.get("absent") is None and copy.taken_at == datetime(2026, 5, 1, tzinfo=UTC)


def test_a_calibrated_bundle_predicts_ratings_monotonically():
    _, bundle = trained()
    bundle.metadata["rating_calibration"] = {"scores": [0.0, 0.5, 1.0], "ratings": [2.5, 3.5, 4.5]}
    assert bundle.predicted_rating(0.25) == 3.0 and bundle.predicted_rating(5.0) == 4.5


def test_blend_overrides_are_checked():
    assert Blend().with_overrides({"recent_weight": "2"}).recent_weight == 2.0
    with pytest.raises(ValueError, match="unknown blend parameter"):
        Blend().with_overrides({"nonsense": 1})


def test_recall_counts_ties_with_the_kth_score_as_found():
    Q = np.zeros((100, 4), dtype=np.float32)
    Q[:10, 0] = np.arange(10, 0, -1)  # ten distinct leaders, ninety items tied at zero
    index, report = faiss_index.build(Q, np.asarray([[1, 0, 0, 0]], dtype=np.float32))
    assert report.recall_at_50 == 1.0
    worse = faiss_index.recall(index, Q, np.asarray([[-1, 0, 0, 0]], dtype=np.float32), k=5)
    assert worse == 1.0  # any five of the tied zeros are a correct top 5


def test_the_items_named_for_each_candidate_are_those_with_the_largest_exact_shares():
    from recsys.logic.explanations import contributing_items

    _, bundle = trained()
    blend = Blend(session_weight=0.5)
    profile = UserProfile(
        weights={SCIFI[0]: 3.0, SCIFI[1]: 1.0, ROMANCE[0]: 2.0},
        recent=[Action(SCIFI[1], session_id="s"), Action(ROMANCE[0], session_id="s")],
        session_id="s",
    )
    terms = user_terms(bundle.position, profile, blend)
    candidates = [bundle.position[i] for i in (SCIFI[3], ROMANCE[3], SCIFI[4])]
    named = contributing_items(
        bundle, terms, candidates, ("similar_items", "recent_activity", "session"), top=2
    )
    n = len(bundle.item_ids)
    for candidate, names in zip(candidates, named, strict=True):
        shares: dict[str, float] = {}
        for term in terms.values():
            for row, coefficient in zip(term.positions, term.coefficients, strict=True):
                item = bundle.item_ids[int(row) % n]
                shares[item] = shares.get(item, 0.0) + float(
                    coefficient * (bundle.P[row] @ bundle.Q[candidate])
                )
        expected = [i for i in sorted(shares, key=lambda i: -shares[i]) if shares[i] > 0][:2]
        assert names == expected
    assert named[0] != named[1]  # a science-fiction candidate is explained by other items than a romance one


def test_the_randomized_svd_and_sparse_products_match_dense_numpy():
    from recsys.engine.training import Interactions, item_factors

    rng = np.random.default_rng(4)
    by_user = [list(rng.choice(40, rng.integers(1, 8), replace=False)) for _ in range(60)]
    X = Interactions.of(by_user, 40)
    dense = np.zeros((60, 40), dtype=np.float32)
    for u, items in enumerate(by_user):
        dense[u, items] = 1
    right, left = (
        rng.standard_normal((40, 3)).astype(np.float32),
        rng.standard_normal((60, 3)).astype(np.float32),
    )
    assert np.allclose(X.times(right), dense @ right, atol=1e-4)
    assert np.allclose(X.transpose_times(left), dense.T @ left, atol=1e-4)
    V, singular = item_factors(X, 5, oversample=10, power=3, seed=0)
    exact = np.linalg.svd(dense, compute_uv=False)[:5]
    assert np.allclose(singular, exact, rtol=1e-3)  # the leading directions, found
    assert np.allclose(V.T @ V, np.eye(5), atol=1e-4)


def test_above_the_ease_limit_the_low_rank_models_learn_tastes_and_what_follows():
    params = TrainParams(max_items=8, low_rank_dims=6, content_ridge=0.1, scale_users=60)
    _, bundle = trained(params)
    assert bundle.Q.shape[1] == 6 and bundle.P.shape == (2 * len(bundle.item_ids), 6)
    scifi_fan = UserProfile(weights={SCIFI[0]: 3.0, SCIFI[1]: 3.0}, recent=acted(SCIFI[1], SCIFI[0]))
    assert all(i.startswith("scifi") for i in top_items(bundle, scifi_fan, k=3))
    romance_fan = UserProfile(weights={ROMANCE[3]: 3.0}, recent=acted(ROMANCE[3]))
    assert top_items(bundle, romance_fan, k=1) == [ROMANCE[4]]  # the chain's next item
    assert bundle.P[bundle.position["scifi_new"]].any()  # a new item still gets a vector, from content


def test_precomputed_rows_are_what_asking_the_index_for_each_user_alone_ranks():
    from recsys.logic.explanations import TYPES, shares
    from recsys.logic.refresh import _precompute

    data, bundle = trained()
    blend = bundle.blend
    profiles = {
        user: UserProfile(weights={a.item_id: 3.0 for a in history}, recent=history)
        for user, history in list(data.histories.items())[::7]
    }
    rows, embeddings = _precompute(bundle, profiles, blend, per_user=5, now=NOW)
    for user, profile in profiles.items():
        terms = user_terms(bundle.position, profile, blend)
        consumed = {bundle.position[i] for i in profile.weights}
        _, found = bundle.index.search(query_vector(bundle.P, terms)[None, :], 5 + len(consumed))
        candidates = np.asarray([p for p in found[0] if p >= 0 and p not in consumed])
        scored = score(bundle, terms, frozenset(), blend, candidates, NOW)
        order = np.argsort(-scored.total, kind="stable")[:5]
        kinds = [shares(scored.factor_shares(int(k))) for k in order]
        expected = [
            (bundle.item_ids[candidates[k]], TYPES[kind[0][0]] if kind else "popularity")
            for k, kind in zip(order, kinds, strict=True)
        ]
        assert [(r.item_id, r.explanation_type) for r in rows if r.user_id == user] == expected
        assert np.frombuffer(embeddings[user], dtype=np.float32) == pytest.approx(
            terms["similar_items"].vector(bundle.P)
        )
