"""The FAISS inner-product index over item embeddings Q: chosen by catalog size, recall measured.

Exact search (IndexFlatIP) below `exact_below` items: at 20,000 items × 128 dimensions one query
scans 10 MB, a fraction of a millisecond on one thread (../shared/notes/performance-facts.md).
Above it an IVF index, whose nprobe is raised until recall@50 against exact search reaches the
target on a sample of real user vectors (recall on random vectors would mean nothing).
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


def recall(index: faiss.Index, Q: Matrix, queries: Matrix, k: int = RECALL_K) -> float:
    """Share of the exact top k that the index finds. Items tied with the exact k-th score count as
    found (many items can tie, e.g. items with no signal yet; any of them is a correct answer)."""
    if len(queries) == 0:
        return 1.0
    k = min(k, Q.shape[0])
    scores = queries @ Q.T
    kth = -np.partition(-scores, k - 1, axis=1)[:, k - 1]
    _, found = index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
    hits = 0
    for row, positions in enumerate(found):
        valid = positions[positions >= 0]
        tolerance = 1e-5 * max(1.0, abs(float(kth[row])))
        hits += int((scores[row, valid] >= kth[row] - tolerance).sum())
    return hits / (k * len(queries))


def build(
    Q: Matrix, sample_queries: Matrix, exact_below: int = EXACT_BELOW, target: float = TARGET_RECALL
) -> tuple[faiss.Index, IndexReport]:
    n, d = Q.shape
    Q = np.ascontiguousarray(Q, dtype=np.float32)
    queries = np.ascontiguousarray(sample_queries, dtype=np.float32)
    if n < exact_below:
        index = faiss.IndexFlatIP(d)
        index.add(Q)
        return index, IndexReport("flat", n, d, None, None, recall(index, Q, queries), len(queries))
    nlist = int(min(4096, max(16, 4 * np.sqrt(n))))
    quantizer = faiss.IndexFlatIP(d)
    ivf = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_INNER_PRODUCT)
    ivf.train(Q)
    ivf.add(Q)
    achieved = 0.0
    for nprobe in (4, 8, 16, 32, 64, 128, 256, nlist):
        ivf.nprobe = min(nprobe, nlist)
        achieved = recall(ivf, Q, queries)
        if achieved >= target:
            break
    return ivf, IndexReport("ivf_flat", n, d, nlist, int(ivf.nprobe), achieved, len(queries))


def to_bytes(index: faiss.Index) -> bytes:
    return bytes(faiss.serialize_index(index).tobytes())


def from_bytes(data: bytes) -> faiss.Index:
    return faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))
