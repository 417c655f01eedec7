"""The FAISS inner-product index over item embeddings Q: chosen by catalog size, recall measured.

Exact search (IndexFlatIP) below `exact_below` items: at 20,000 items × 128 dimensions one query
scans 10 MB, a fraction of a millisecond on one thread (../shared/notes/performance-facts.md).
Above it an IVF index, whose nprobe is raised until recall@50 against exact search reaches the
target on a sample of real user vectors (recall on random vectors would mean nothing).

The IVF index holds each item's vector with one more coordinate, √(M² - |q|²) (M: the largest
norm), so that every stored vector has the same norm and the inner product ranks them as the
angle does: the clusters k-means finds then hold the answers (on the raw vectors, whose norms
grow with popularity, no nprobe short of every list reached 0.95). A query gets a 0 there
(`search`), which leaves every inner product as it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import faiss
import numpy as np

from recsys.engine.model import Matrix

EXACT_BELOW = 20_000
RECALL_K = 50
TARGET_RECALL = 0.95

faiss.omp_set_num_threads(1)  # single queries: one thread is ~3x faster than two on these cores


@dataclass(frozen=True)
class IndexReport:
    kind: str
    items: int
    dimensions: int
    nlist: int | None
    nprobe: int | None
    recall_at_50: float
    sample_queries: int

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def search(index: faiss.Index, queries: Matrix, k: int) -> tuple[Matrix, np.ndarray]:
    """The top k items by inner product (scores, positions), whichever kind the index is."""
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    if index.d == queries.shape[1] + 1:  # an IVF index over augmented vectors (above)
        queries = np.hstack([queries, np.zeros((len(queries), 1), dtype=np.float32)])
    scores, positions = index.search(queries, k)
    return scores, positions


def recall(index: faiss.Index, Q: Matrix, queries: Matrix, k: int = RECALL_K) -> float:
    """Share of the exact top k that the index finds. Items tied with the exact k-th score count as
    found (many items can tie, e.g. items with no signal yet; any of them is a correct answer)."""
    return _Exact(Q, queries, k).recall(index)


class _Exact:
    """The exact top-k threshold of each sample query, computed once for every index tried."""

    def __init__(self, Q: Matrix, queries: Matrix, k: int) -> None:
        self.Q, self.queries, self.k = Q, queries, int(min(k, Q.shape[0]))
        self.kth = np.zeros(len(queries), dtype=np.float32)
        for start in range(0, len(queries), 256):  # 256 × 100,000 scores at a time
            scores = queries[start : start + 256] @ Q.T
            self.kth[start : start + 256] = -np.partition(-scores, self.k - 1, axis=1)[:, self.k - 1]

    def recall(self, index: faiss.Index) -> float:
        if len(self.queries) == 0:
            return 1.0
        _, found = search(index, self.queries, self.k)
        hits = 0
        for row, positions in enumerate(found):
            valid = positions[positions >= 0]
            tolerance = 1e-5 * max(1.0, abs(float(self.kth[row])))
            hits += int((self.Q[valid] @ self.queries[row] >= self.kth[row] - tolerance).sum())
        return hits / (self.k * len(self.queries))


def build(
    Q: Matrix, sample_queries: Matrix, exact_below: int = EXACT_BELOW, target: float = TARGET_RECALL
) -> tuple[faiss.Index, IndexReport]:
    n, d = Q.shape
    Q = np.ascontiguousarray(Q, dtype=np.float32)
    queries = np.ascontiguousarray(sample_queries, dtype=np.float32)
    exact = _Exact(Q, queries, RECALL_K)
    if n < exact_below:
        index = faiss.IndexFlatIP(d)
        index.add(Q)
        return index, IndexReport("flat", n, d, None, None, exact.recall(index), len(queries))
    norms = np.linalg.norm(Q, axis=1)
    lifted = np.hstack([Q, np.sqrt(np.maximum(norms.max() ** 2 - norms**2, 0.0))[:, None].astype(np.float32)])
    nlist = int(min(4096, max(16, 4 * np.sqrt(n))))
    quantizer = faiss.IndexFlatIP(d + 1)
    ivf = faiss.IndexIVFFlat(quantizer, d + 1, nlist, faiss.METRIC_INNER_PRODUCT)
    ivf.train(lifted)
    ivf.add(lifted)
    achieved = 0.0
    for nprobe in (4, 8, 16, 32, 64, 128, 256, nlist):
        ivf.nprobe = min(nprobe, nlist)
        achieved = exact.recall(ivf)
        if achieved >= target:
            break
    return ivf, IndexReport("ivf_flat", n, d, nlist, int(ivf.nprobe), achieved, len(queries))


def to_bytes(index: faiss.Index) -> bytes:
    return bytes(faiss.serialize_index(index).tobytes())


def from_bytes(data: bytes) -> faiss.Index:
    return faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))
