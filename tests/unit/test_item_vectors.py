"""ItemVectors: the products with Q that serving takes, by gather where Q's rows are unit vectors,
must equal the products themselves; and a bundle's search must answer what its exact index does."""

import faiss
import numpy as np
import pytest

from recsys.engine.model import ItemVectors

rng = np.random.default_rng(7)


def _mixed(n: int = 40, cold: tuple[int, ...] = (3, 17)) -> np.ndarray:
    """An exact model's Q: the identity, except items mapped from their content (dense rows)."""
    Q = np.eye(n, dtype=np.float32)
    for j in cold:
        Q[j] = rng.normal(size=n).astype(np.float32)
    return Q


@pytest.mark.parametrize(
    "Q",
    [np.eye(40, dtype=np.float32), _mixed(), rng.normal(size=(40, 8)).astype(np.float32)],
    ids=["identity", "identity-with-content-rows", "low-rank"],
)
def test_products_equal_the_dense_ones(Q):
    vectors = ItemVectors(Q)
    candidates = np.asarray([17, 0, 3, 39, 5], dtype=np.int64)
    vector = rng.normal(size=Q.shape[1]).astype(np.float32)
    rows = rng.normal(size=(6, Q.shape[1])).astype(np.float32)
    assert np.allclose(vectors.dot(candidates, vector), Q[candidates] @ vector, atol=1e-5)
    assert np.allclose(vectors.gram(rows, candidates), rows @ Q[candidates].T, atol=1e-5)


def test_which_rows_are_unit():
    assert ItemVectors(np.eye(5, dtype=np.float32)).all_unit
    mixed = ItemVectors(_mixed(10, cold=(4,)))
    assert not mixed.all_unit and mixed.unit.tolist() == [j != 4 for j in range(10)]
    scaled = np.eye(5, dtype=np.float32)
    scaled[2, 2] = 2.0  # a row with one non-zero that is not 1 is not a unit vector
    assert ItemVectors(scaled).unit.tolist() == [True, True, False, True, True]
    assert not ItemVectors(rng.normal(size=(6, 6)).astype(np.float32)).unit.any()
    with pytest.raises(ValueError):
        mixed.top(np.ones(10, dtype=np.float32), 3)


def test_top_is_the_exact_index_answer():
    n, k = 300, 25
    index = faiss.IndexFlatIP(n)
    index.add(np.eye(n, dtype=np.float32))
    vectors = ItemVectors(np.eye(n, dtype=np.float32))
    for _ in range(20):
        query = rng.normal(size=n).astype(np.float32)
        scores, positions = vectors.top(query, k)
        expected_scores, expected = index.search(query[None, :], k)
        assert positions.tolist() == expected[0].tolist()
        assert np.allclose(scores, expected_scores[0])
    tied = np.zeros(n, dtype=np.float32)
    tied[[9, 4, 200]] = 1.0
    assert vectors.top(tied, 5)[1].tolist() == [4, 9, 200, 0, 1]  # ties: lower position first
    assert len(vectors.top(tied, n + 10)[1]) == n
