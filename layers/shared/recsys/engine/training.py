"""Training: EASE on the interaction log, factorised into item embeddings, plus content embeddings
for items nobody has interacted with yet.

EASE (Steck 2019) learns an item-item matrix B in closed form: B = I - P·diagMat(1/diag(P)) with
P = (XᵀX + λI)⁻¹, diagonal zero, so an item never recommends itself. It was chosen by measurement
(evaluation/, README "Quality"): on MovieLens-100k it matches ALS and item-kNN, and with the
user's recent items weighted (see model.py) it is the strongest model measured here. Its cost is
cubic in the number of items with interactions; beyond `max_ease_items` training uses a low-rank
path instead (see README, "Training at scale").

B is factorised by a truncated SVD, B ≈ (U√S)(V√S)ᵀ = P Qᵀ, so that candidates are retrieved
from a FAISS inner-product index over Q, and user vectors are sums of P's rows.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from recsys.domain import Item
from recsys.engine.model import Matrix, Vector, popularity_feature

_TOKEN = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class TrainParams:
    ease_lambda: float = 200.0
    rank: int = 128  # embedding dimensions; the spec's 128 (README "Quality" has what rank costs)
    content_dims: int = 1024  # hashed content features of items
    content_ridge: float = 1.0
    seed: int = 7

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TrainingData:
    """The catalog's active items and the log's (user, item, weight) sums (feedback folded in)."""

    items: Sequence[Item]
    pairs: dict[tuple[str, str], float]  # (user_id, item_id) -> summed action weight
    events: int = 0


@dataclass
class TrainedModel:
    item_ids: list[str]
    categories: list[str | None]  # lower-case
    P: Matrix
    Q: Matrix
    popularity: Vector
    warm: npt.NDArray[np.bool_]  # items the embeddings were learned for (the rest: from content)
    stats: dict[str, Any] = field(default_factory=dict)


def content_tokens(item: Item) -> list[tuple[str, float]]:
    """What describes an item without any interaction: category, tags, words, content features."""
    tokens: list[tuple[str, float]] = []
    if item.category:
        tokens.append((f"category={item.category.lower()}", 2.0))
    if item.subcategory:
        tokens.append((f"subcategory={item.subcategory.lower()}", 1.0))
    tokens += [(f"tag={tag.lower()}", 1.0) for tag in item.tags]
    tokens += [(f"title={word}", 0.5) for word in _TOKEN.findall(item.title.lower()) if len(word) > 2]
    if item.description:
        tokens += [(f"text={w}", 0.25) for w in _TOKEN.findall(item.description.lower()) if len(w) > 3]
    for key, value in sorted(item.content_features.items()):
        values = value if isinstance(value, list) else [value]
        for v in values:
            if isinstance(v, bool | str):
                tokens.append((f"{key}={str(v).lower()}", 1.0))
            elif isinstance(v, int | float):
                tokens.append((f"{key}~{_bucket(float(v))}", 1.0))
    return tokens


def _bucket(value: float) -> str:
    """Numbers to two significant digits, so that 1994 and 1995 share a feature."""
    return f"{float(f'{value:.2g}'):g}"


def _slot(token: str, dims: int) -> int:
    return int.from_bytes(hashlib.blake2b(token.encode(), digest_size=8).digest(), "big") % dims


def content_matrix(items: Sequence[Item], dims: int) -> Matrix:
    """Hashed bag of content tokens, one L2-normalised row per item."""
    C = np.zeros((len(items), dims), dtype=np.float32)
    for row, item in enumerate(items):
        for token, weight in content_tokens(item):
            C[row, _slot(token, dims)] += weight
    norms = np.linalg.norm(C, axis=1, keepdims=True)
    return np.asarray(C / np.where(norms > 0, norms, 1.0), dtype=np.float32)


def gram(rows: Sequence[Sequence[int]], n_items: int, chunk: int = 2048) -> npt.NDArray[np.float64]:
    """XᵀX of the users × items presence matrix, built a block of users at a time (bounded memory)."""
    G = np.zeros((n_items, n_items), dtype=np.float64)
    for start in range(0, len(rows), chunk):
        block = np.zeros((min(chunk, len(rows) - start), n_items), dtype=np.float32)
        for r, columns in enumerate(rows[start : start + chunk]):
            block[r, list(columns)] = 1.0
        G += block.T @ block
    return G


def ease(G: npt.NDArray[np.float64], lam: float) -> Matrix:
    """EASE's item-item weights from the Gram matrix XᵀX."""
    G = G.copy()
    G[np.diag_indices_from(G)] += lam
    Pinv = np.linalg.inv(G)
    B = -Pinv / np.diag(Pinv)
    B[np.diag_indices_from(B)] = 0.0
    return B.astype(np.float32)


def factorise(B: Matrix, rank: int, seed: int) -> tuple[Matrix, Matrix, float]:
    """B ≈ P Qᵀ with P = U√S, Q = V√S (randomized SVD); also the share of B's energy kept."""
    n = B.shape[0]
    if rank >= n:
        U, s, Vt = np.linalg.svd(B.astype(np.float64), full_matrices=False)
    else:
        rng = np.random.default_rng(seed)
        k = min(n, rank + 16)
        Y = B @ rng.standard_normal((n, k)).astype(np.float32)
        for _ in range(4):  # power iterations sharpen the leading subspace
            Y, _ = np.linalg.qr(Y)
            Y = B @ (B.T @ Y)
        basis, _ = np.linalg.qr(Y)
        Ub, s, Vt = np.linalg.svd((basis.T @ B).astype(np.float64), full_matrices=False)
        U = basis @ Ub
    r = min(rank, len(s))
    root = np.sqrt(s[:r])
    kept = float((s[:r] ** 2).sum() / max((B.astype(np.float64) ** 2).sum(), 1e-12))
    return (U[:, :r] * root).astype(np.float32), (Vt[:r].T * root).astype(np.float32), kept


def _ridge_map(C: Matrix, Y: Matrix, alpha: float) -> Matrix:
    """W minimising |C W - Y|² + alpha |W|²: content features to embeddings."""
    A = (C.T @ C).astype(np.float64)
    A[np.diag_indices_from(A)] += alpha
    return np.linalg.solve(A, (C.T @ Y).astype(np.float64)).astype(np.float32)


def fit(data: TrainingData, params: TrainParams) -> TrainedModel:
    started = time.perf_counter()
    item_ids = [item.item_id for item in data.items]
    position = {item_id: n for n, item_id in enumerate(item_ids)}
    users = sorted({u for u, i in data.pairs if i in position})
    row = {u: n for n, u in enumerate(users)}
    counts = np.zeros(len(item_ids), dtype=np.float32)
    for _, item_id in data.pairs:
        if item_id in position:
            counts[position[item_id]] += 1
    warm = counts > 0
    warm_positions = np.flatnonzero(warm)
    column = {int(p): n for n, p in enumerate(warm_positions)}
    # What was consumed together: any interaction, liked or not, is evidence of co-consumption;
    # a dislike counts against the item in the user's own vector (model.py), not here.
    rows: list[list[int]] = [[] for _ in users]
    for user_id, item_id in data.pairs:
        if item_id in position:
            rows[row[user_id]].append(column[position[item_id]])
    d = min(params.rank, max(1, len(warm_positions)))
    P = np.zeros((len(item_ids), d), dtype=np.float32)
    Q = np.zeros((len(item_ids), d), dtype=np.float32)
    kept = 0.0
    if len(warm_positions) >= 2:
        B = ease(gram(rows, len(warm_positions)), params.ease_lambda)
        P_warm, Q_warm, kept = factorise(B, d, params.seed)
        P[warm_positions, : P_warm.shape[1]] = P_warm
        Q[warm_positions, : Q_warm.shape[1]] = Q_warm
    trained_at = time.perf_counter()
    cold_positions = np.flatnonzero(~warm)
    if len(cold_positions) and len(warm_positions) >= 2:
        C = content_matrix(data.items, params.content_dims)
        W = _ridge_map(
            C[warm_positions], np.hstack([P[warm_positions], Q[warm_positions]]), params.content_ridge
        )
        mapped = C[cold_positions] @ W
        P[cold_positions], Q[cold_positions] = mapped[:, :d], mapped[:, d:]
    return TrainedModel(
        item_ids=item_ids,
        categories=[(item.category or "").lower() or None for item in data.items],
        P=P,
        Q=Q,
        popularity=popularity_feature(counts),
        warm=warm,
        stats={
            "users": len(users),
            "items": len(item_ids),
            "items_with_interactions": int(warm.sum()),
            "items_from_content": len(cold_positions),
            "pairs": len(data.pairs),
            "events": data.events,
            "dimensions": d,
            "energy_kept": round(kept, 4),
            "fit_seconds": round(trained_at - started, 3),
            "content_seconds": round(time.perf_counter() - trained_at, 3),
        },
    )


def sum_weights(events: Iterable[tuple[str, str, float]]) -> dict[tuple[str, str], float]:
    pairs: dict[tuple[str, str], float] = {}
    for user_id, item_id, weight in events:
        pairs[(user_id, item_id)] = pairs.get((user_id, item_id), 0.0) + weight
    return pairs
