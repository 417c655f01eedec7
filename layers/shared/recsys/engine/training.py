"""Training: two item-item models fitted on the interaction log and factorised into the embeddings
the FAISS index serves, plus content embeddings for items nobody has interacted with yet.

- EASE (Steck 2019): B = I - P·diagMat(1/diag(P)), P = (XᵀX + λI)⁻¹, zero diagonal; what is
  consumed together (X: users × items, any interaction is a positive).
- A next-item model T: ridge regression of each event's item on the decayed vector of the user's
  previous `sequence_items` items (the same vector serving folds in), i.e. what follows what.

Both were chosen by measurement on a validation split (evaluation/, README "Quality"): EASE alone
matches ALS and item-kNN; its rows over the user's last items, and T, add what a user did last,
which predicts the next item far better than the whole history does.

[B; T] (2n × n) is factorised as P Qᵀ. Up to `full_rank_max` items nothing is lost: P = [B; T]
and Q = I. Above it, Q spans the `rank` directions that carry most of the score of real user
queries (the training users' own vectors at several points of their histories), and P = [B; T]·Q.
EASE's cost is cubic in the number of items; beyond `max_items` this trainer refuses (README).
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from recsys.domain import Item
from recsys.engine.blend import Blend
from recsys.engine.model import Action, Matrix, UserProfile, Vector, popularity_feature, user_terms

_TOKEN = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class TrainParams:
    ease_lambda: float = 300.0
    sequence_lambda: float = 200.0
    full_rank_max: int = 2048  # up to this many items, embeddings are exact (d = items)
    rank: int = 256  # above it: the dimensions kept (README "Quality" has what rank costs)
    subspace_cuts: int = 10  # points of each training history whose query vectors span Q
    max_items: int = 12_000  # EASE inverts an items × items matrix: beyond this, refuse
    content_dims: int = 1024  # hashed content features of items
    content_ridge: float = 1.0
    seed: int = 7

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TrainingData:
    """The catalog's active items; the log's (user, item) weight sums (feedback folded in) and each
    user's actions, newest first."""

    items: Sequence[Item]
    pairs: dict[tuple[str, str], float]  # (user_id, item_id) -> summed action weight
    histories: dict[str, list[Action]] = field(default_factory=dict)
    events: int = 0


class TrainingError(ValueError):
    """The data cannot be trained by this trainer."""


@dataclass
class TrainedModel:
    item_ids: list[str]
    categories: list[str | None]  # lower-case
    P: Matrix
    Q: Matrix
    popularity: Vector
    created: Vector  # epoch seconds each item entered the catalog
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


PAIRS_PER_CHUNK = 8_000_000  # bounds the memory of one accumulation step (~130 MB)


def _accumulate(
    target: npt.NDArray[np.float64], flat: list[npt.NDArray[np.int64]], values: list[Any]
) -> None:
    """target.flat[i] += v for every (i, v), with one bincount over the chunk."""
    if flat:
        index = np.concatenate(flat)
        weights = np.concatenate(values) if values[0] is not None else None
        target += np.bincount(index, weights=weights, minlength=target.size).reshape(target.shape)
        flat.clear()
        values.clear()


def gram(rows: Sequence[Sequence[int]], n_items: int) -> npt.NDArray[np.float64]:
    """XᵀX of the users × items presence matrix (1 wherever a user interacted): co-occurrence
    counts, accumulated over each user's item pairs (numpy only: the refresh function and the
    layer must fit Lambda's 250 MB together, which scipy would break)."""
    G = np.zeros((n_items, n_items), dtype=np.float64)
    flat: list[npt.NDArray[np.int64]] = []
    pending = 0
    for items in rows:
        unique = np.unique(np.asarray(items, dtype=np.int64))
        flat.append((unique[:, None] * n_items + unique[None, :]).ravel())
        pending += unique.size**2
        if pending >= PAIRS_PER_CHUNK:
            _accumulate(G, flat, [None])
            pending = 0
    _accumulate(G, flat, [None])
    return G


def ease(G: npt.NDArray[np.float64], lam: float) -> Matrix:
    """EASE's item-item weights from the Gram matrix XᵀX."""
    G = G.copy()
    G[np.diag_indices_from(G)] += lam
    Pinv = np.linalg.inv(G)
    B = -Pinv / np.diag(Pinv)
    B[np.diag_indices_from(B)] = 0.0
    return np.asarray(B, dtype=np.float32)


def _transitions(
    sequences: Sequence[Sequence[int]], window: int, decay: float
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """Every event after a user's first: the previous `window` items (-1 where there are fewer),
    their decayed weights, and the event's own item."""
    lags = np.arange(window)
    previous, targets = [], []
    for sequence in sequences:
        items = np.asarray(sequence, dtype=np.int64)
        if items.size < 2:
            continue
        back = np.arange(1, items.size)[:, None] - 1 - lags[None, :]
        previous.append(np.where(back >= 0, items[np.maximum(back, 0)], -1))
        targets.append(items[1:])
    if not targets:
        return np.zeros((0, window), np.int64), np.zeros((0, window)), np.zeros(0, np.int64)
    before = np.concatenate(previous)
    weights = np.where(before >= 0, decay ** lags[None, :], 0.0)
    return before, weights, np.concatenate(targets)


def next_item(
    sequences: Sequence[Sequence[int]], n_items: int, lam: float, window: int, decay: float
) -> Matrix:
    """T = (ZᵀZ + λI)⁻¹ZᵀY: each event's item (Y) regressed on the decayed previous items (Z).
    Sequences run oldest first."""
    before, weights, targets = _transitions(sequences, window, decay)
    ZZ = np.zeros((n_items, n_items), dtype=np.float64)
    ZY = np.zeros((n_items, n_items), dtype=np.float64)
    step = max(1, PAIRS_PER_CHUNK // (window * window))
    for start in range(0, len(targets), step):
        b, w, t = before[start : start + step], weights[start : start + step], targets[start : start + step]
        valid = (b[:, :, None] >= 0) & (b[:, None, :] >= 0)
        pairs = (b[:, :, None] * n_items + b[:, None, :])[valid]
        _accumulate(ZZ, [pairs], [(w[:, :, None] * w[:, None, :])[valid]])
        present = b >= 0
        _accumulate(ZY, [(b * n_items + t[:, None])[present]], [w[present]])
    ZZ[np.diag_indices_from(ZZ)] += lam
    return np.asarray(np.linalg.solve(ZZ, ZY), dtype=np.float32)


def factorise(M: Matrix, rank: int, queries: Matrix | None) -> tuple[Matrix, Matrix, float]:
    """P, Q with P Qᵀ ≈ M, keeping the `rank` directions of Q that carry most of the queries' score
    energy (queries: rows of user coefficients over M's rows); also the share of that energy kept.
    Full rank (rank >= columns): P = M, Q = I."""
    n = M.shape[1]
    if rank >= n or queries is None:
        return M.astype(np.float32), np.eye(n, dtype=np.float32), 1.0
    energy_matrix = np.zeros((n, n), dtype=np.float64)
    for start in range(0, len(queries), 1024):  # SᵀS with S = queries·M, a block at a time
        S = (queries[start : start + 1024] @ M).astype(np.float64)
        energy_matrix += S.T @ S
    energy, vectors = np.linalg.eigh(energy_matrix)
    Q = vectors[:, ::-1][:, :rank]
    kept = float(energy[::-1][:rank].sum() / max(energy.sum(), 1e-12))
    return (M @ Q).astype(np.float32), Q.astype(np.float32), kept


def query_sample(
    histories: Sequence[Sequence[Action]],
    position: dict[str, int],
    blend: Blend,
    cuts: int,
    limit: int,
    seed: int,
) -> Matrix:
    """The user vectors the index will be asked with: each training user's coefficients over the
    rows of [B; T] at `cuts` points of their history (a sample of at most `limit` users)."""
    rng = np.random.default_rng(seed)
    rows: list[npt.NDArray[np.float32]] = []
    for u in rng.permutation(len(histories))[:limit]:
        history = histories[u]  # newest first
        for cut in np.unique(np.linspace(1, len(history), cuts).round().astype(int)):
            seen = history[-cut:]
            weights = {a.item_id: -1.0 if a.disliked else 1.0 for a in reversed(seen)}
            terms = user_terms(position, UserProfile(weights=weights, recent=seen), blend)
            row = np.zeros(2 * len(position), dtype=np.float32)
            for term in (terms["similar_items"], terms["recent_activity"]):
                np.add.at(row, term.positions, term.coefficients)
            rows.append(row)
    return np.stack(rows) if rows else np.zeros((0, 2 * len(position)), dtype=np.float32)


def _ridge_map(C: Matrix, Y: Matrix, alpha: float) -> Matrix:
    """W minimising |C W - Y|² + alpha |W|²: content features to embeddings."""
    A = (C.T @ C).astype(np.float64)
    A[np.diag_indices_from(A)] += alpha
    return np.linalg.solve(A, (C.T @ Y).astype(np.float64)).astype(np.float32)


def fit(data: TrainingData, params: TrainParams, blend: Blend) -> TrainedModel:
    started, started_at = time.perf_counter(), time.time()
    item_ids = [item.item_id for item in data.items]
    n = len(item_ids)
    position = {item_id: p for p, item_id in enumerate(item_ids)}
    counts = np.zeros(n, dtype=np.float32)
    for _, item_id in data.pairs:
        if item_id in position:
            counts[position[item_id]] += 1
    warm_positions = np.flatnonzero(counts > 0)
    w = len(warm_positions)
    if w > params.max_items:
        raise TrainingError(f"{w} items have interactions; this trainer handles at most {params.max_items}")
    warm_ids = [item_ids[p] for p in warm_positions]
    column = {item_id: c for c, item_id in enumerate(warm_ids)}
    by_user: dict[str, list[int]] = {}
    for (user_id, item_id), _weight in data.pairs.items():
        if item_id in column:  # any interaction, liked or not, is evidence of co-consumption
            by_user.setdefault(user_id, []).append(column[item_id])
    sequences = [
        [column[a.item_id] for a in reversed(history) if a.item_id in column]
        for history in data.histories.values()
    ]
    d = w if w <= params.full_rank_max else min(params.rank, w)
    P = np.zeros((2 * n, max(d, 1)), dtype=np.float32)
    Q = np.zeros((n, max(d, 1)), dtype=np.float32)
    kept = 0.0
    if w >= 2:
        B = ease(gram(list(by_user.values()), w), params.ease_lambda)
        T = next_item(sequences, w, params.sequence_lambda, blend.sequence_items, blend.sequence_decay)
        M = np.vstack([B, T])  # the blend weighs T's rows when it folds a user in
        queries = None
        if d < w:
            queries = query_sample(
                list(data.histories.values()), column, blend, params.subspace_cuts, 2000, params.seed
            )
        P_warm, Q_warm, kept = factorise(M, d, queries)
        P[warm_positions], P[n + warm_positions], Q[warm_positions] = P_warm[:w], P_warm[w:], Q_warm
    trained_at = time.perf_counter()
    cold_positions = np.flatnonzero(counts == 0)
    if len(cold_positions) and w >= 2:
        C = content_matrix(data.items, params.content_dims)
        targets = np.hstack([P[warm_positions], P[n + warm_positions], Q[warm_positions]])
        mapped = C[cold_positions] @ _ridge_map(C[warm_positions], targets, params.content_ridge)
        P[cold_positions], P[n + cold_positions], Q[cold_positions] = np.split(mapped, 3, axis=1)
    return TrainedModel(
        item_ids=item_ids,
        categories=[(item.category or "").lower() or None for item in data.items],
        P=P,
        Q=Q,
        popularity=popularity_feature(counts),
        created=np.asarray(
            [item.created_at.timestamp() if item.created_at else started_at for item in data.items],
            dtype=np.float64,
        ),
        warm=counts > 0,
        stats={
            "users": len(by_user),
            "items": n,
            "items_with_interactions": w,
            "items_from_content": len(cold_positions),
            "pairs": len(data.pairs),
            "events": data.events,
            "dimensions": d,
            "query_energy_kept": round(kept, 4),
            "fit_seconds": round(trained_at - started, 3),
            "content_seconds": round(time.perf_counter() - trained_at, 3),
        },
    )
