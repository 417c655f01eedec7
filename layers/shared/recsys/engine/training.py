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

EASE's cost is cubic in the number of items, so above `max_items` both models are low-rank
instead: the items' factors V of the users × items matrix by randomized SVD (item_factors;
PureSVD: B ≈ V Vᵀ), and the next-item model in V's space (sequence_map: T ≈ V M Vᵀ, M the ridge
map from the decayed vector of the previous items to the next item); so P = [V; V M]·α and
Q = V, with the scale α of these scores against popularity chosen on held-out last events of
sampled users (choose_scale).
"""

from __future__ import annotations

import functools
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
from recsys.engine.model import (
    Action,
    ItemVectors,
    Matrix,
    UserProfile,
    Vector,
    popularity_feature,
    query_vector,
    user_terms,
)

_TOKEN = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class TrainParams:
    ease_lambda: float = 300.0
    sequence_lambda: float = 200.0
    full_rank_max: int = 2048  # up to this many items, embeddings are exact (d = items)
    rank: int = 256  # above it: the dimensions kept (README "Quality" has what rank costs)
    subspace_cuts: int = 10  # points of each training history whose query vectors span Q
    max_items: int = 12_000  # EASE inverts an items × items matrix: beyond this, the low-rank models
    low_rank_dims: int = 64  # d of the low-rank models (their P and Q, and the index)
    low_rank_oversample: int = 16  # randomized SVD: extra directions sampled, and power iterations
    low_rank_power: int = 2
    low_rank_sequence_ridge: float = 0.1  # × the mean diagonal of ZᵀZ
    scale_grid: tuple[float, ...] = (10.0, 30.0, 100.0, 300.0, 1000.0, 3000.0, 10_000.0)
    scale_users: int = 2000  # held-out last events that choose the scale
    content_sample: int = 10_000  # warm items the content map is fitted on (low-rank path)
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

    @functools.cached_property
    def vectors(self) -> ItemVectors:
        return ItemVectors(self.Q)


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


def ease(G: npt.NDArray[np.floating[Any]], lam: float) -> Matrix:
    """EASE's item-item weights from the Gram matrix XᵀX."""
    G = np.array(G, dtype=np.float64)
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


def next_item_gram(
    sequences: Sequence[Sequence[int]], n_items: int, window: int, decay: float
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """ZᵀZ and ZᵀY (items × items) of every event after a user's first: Y its item, Z the decayed
    previous `window` items. Sequences run oldest first."""
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
    return ZZ, ZY


def solve_next_item(
    ZZ: npt.NDArray[np.floating[Any]], ZY: npt.NDArray[np.floating[Any]], lam: float
) -> Matrix:
    """T = (ZᵀZ + λI)⁻¹ZᵀY."""
    ZZ = np.array(ZZ, dtype=np.float64)
    ZZ[np.diag_indices_from(ZZ)] += lam
    return np.asarray(np.linalg.solve(ZZ, np.asarray(ZY, dtype=np.float64)), dtype=np.float32)


def next_item(
    sequences: Sequence[Sequence[int]], n_items: int, lam: float, window: int, decay: float
) -> Matrix:
    """T: each event's item regressed on the decayed previous items (sequences oldest first)."""
    return solve_next_item(*next_item_gram(sequences, n_items, window, decay), lam)


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


@dataclass(frozen=True)
class Interactions:
    """A users × items presence matrix, row-sorted (CSR) and column-sorted, numpy only."""

    rows: npt.NDArray[np.int64]  # per non-zero, sorted by row
    cols: npt.NDArray[np.int64]
    shape: tuple[int, int]

    @classmethod
    def of(cls, by_user: Sequence[Sequence[int]], n_items: int) -> Interactions:
        rows = np.repeat(np.arange(len(by_user)), [len(set(items)) for items in by_user])
        cols = np.concatenate(
            [np.unique(np.asarray(items, dtype=np.int64)) for items in by_user]
            or [np.zeros(0, dtype=np.int64)]
        )
        return cls(rows.astype(np.int64), cols.astype(np.int64), (len(by_user), n_items))

    def times(self, dense: Matrix) -> Matrix:
        """X · dense."""
        return _segment_sums(self.rows, self.cols, dense, self.shape[0])

    @functools.cached_property
    def _by_column(self) -> npt.NDArray[np.int64]:
        return np.argsort(self.cols, kind="stable")

    def transpose_times(self, dense: Matrix) -> Matrix:
        """Xᵀ · dense."""
        order = self._by_column  # sorted once: the SVD multiplies by Xᵀ several times
        return _segment_sums(self.cols[order], self.rows[order], dense, self.shape[1])


def _segment_sums(
    keys: npt.NDArray[np.int64], gather: npt.NDArray[np.int64], dense: Matrix, size: int
) -> Matrix:
    """out[k] = Σ dense[gather[j]] over the j with keys[j] == k (keys sorted), in chunks."""
    out = np.zeros((size, dense.shape[1]), dtype=np.float32)
    step = max(1, PAIRS_PER_CHUNK // max(1, dense.shape[1]))
    for start in range(0, len(keys), step):
        k, g = keys[start : start + step], gather[start : start + step]
        first = np.flatnonzero(np.concatenate([[True], k[1:] != k[:-1]]))
        out[k[first]] += np.add.reduceat(dense[g], first, axis=0)
    return out


def item_factors(X: Interactions, dims: int, oversample: int, power: int, seed: int) -> tuple[Matrix, Vector]:
    """V (items × dims) and the singular values of X, by randomized SVD (Halko et al. 2011)."""
    rng = np.random.default_rng(seed)
    k = min(dims + oversample, min(X.shape))
    sample = X.times(rng.standard_normal((X.shape[1], k)).astype(np.float32))
    basis, _ = np.linalg.qr(sample)
    for _ in range(power):
        basis, _ = np.linalg.qr(X.times(np.linalg.qr(X.transpose_times(basis))[0]))
    small = X.transpose_times(basis).T  # basisᵀ X, k × items
    _, singular, vt = np.linalg.svd(small.astype(np.float64), full_matrices=False)
    d = min(dims, len(singular))
    return vt[:d].T.astype(np.float32), singular[:d].astype(np.float32)


def sequence_gram(
    sequences: Sequence[Sequence[int]], V: Matrix, window: int, decay: float
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], int]:
    """ZᵀZ and ZᵀY (d × d) of every event after a user's first: Y its item's row of V, Z the
    decayed sum of the previous `window` items' rows (newest first, as serving folds a user in);
    and how many such events there were."""
    before, weights, targets = _transitions(sequences, window, decay)
    d = V.shape[1]
    ZZ, ZY = np.zeros((d, d)), np.zeros((d, d))
    step = max(1, PAIRS_PER_CHUNK // (4 * window))
    for start in range(0, len(targets), step):
        b, w = before[start : start + step], weights[start : start + step]
        Z = np.zeros((len(b), d), dtype=np.float32)
        for lag in range(window):
            present = b[:, lag] >= 0
            Z[present] += (w[present, lag, None] * V[b[present, lag]]).astype(np.float32)
        Y = V[targets[start : start + step]]
        ZZ += Z.T.astype(np.float64) @ Z
        ZY += Z.T.astype(np.float64) @ Y
    return ZZ, ZY, len(targets)


def solve_sequence_map(ZZ: npt.NDArray[np.float64], ZY: npt.NDArray[np.float64], ridge: float) -> Matrix:
    """M = (ZᵀZ + λI)⁻¹ZᵀY with λ = ridge × the mean diagonal of ZᵀZ."""
    d = ZZ.shape[0]
    ZZ = ZZ.copy()
    ZZ[np.diag_indices_from(ZZ)] += ridge * max(float(np.trace(ZZ)) / d, 1e-12)
    return np.asarray(np.linalg.solve(ZZ, ZY), dtype=np.float32)


def sequence_map(
    sequences: Sequence[Sequence[int]], V: Matrix, window: int, decay: float, ridge: float
) -> Matrix:
    """M (d × d) minimising Σ |z_t M - V[item_t]|² + λ|M|² (sequence_gram's z_t and items)."""
    ZZ, ZY, events = sequence_gram(sequences, V, window, decay)
    if not events:
        return np.zeros((V.shape[1], V.shape[1]), dtype=np.float32)
    return solve_sequence_map(ZZ, ZY, ridge)


def choose_scale(
    P: Matrix,
    Q: Matrix,
    popularity: Vector,
    histories: Sequence[Sequence[Action]],
    position: dict[str, int],
    blend: Blend,
    params: TrainParams,
) -> tuple[float, dict[str, float]]:
    """The α of α·(collaborative terms) + popularity that ranks held-out last events best: each
    sampled user's newest action is hidden, the rest folds the user in, and every item the user
    has not consumed is ranked; returns α and HR@20 at each α tried."""
    rng = np.random.default_rng(params.seed)
    eligible = [h for h in histories if len(h) >= 3 and h[0].item_id in position]
    sample = [eligible[u] for u in rng.permutation(len(eligible))[: params.scale_users]]
    if not sample:
        return params.scale_grid[len(params.scale_grid) // 2], {}
    base = blend.popularity_weight * popularity.astype(np.float32)
    hits = np.zeros(len(params.scale_grid))
    for start in range(0, len(sample), 256):
        chunk = sample[start : start + 256]
        queries, seen, targets = [], [], []
        for history in chunk:
            rest = history[1:]
            weights = {a.item_id: -1.0 if a.disliked else 1.0 for a in reversed(rest)}
            queries.append(
                query_vector(P, user_terms(position, UserProfile(weights=weights, recent=rest), blend))
            )
            seen.append([position[a.item_id] for a in rest if a.item_id in position])
            targets.append(position[history[0].item_id])
        collaborative = np.stack(queries) @ Q.T  # users × items
        for g, alpha in enumerate(params.scale_grid):
            scores = alpha * collaborative + base
            for row, (consumed, target) in enumerate(zip(seen, targets, strict=True)):
                if target in consumed:
                    continue
                scores[row, consumed] = -np.inf
                hits[g] += int((scores[row] > scores[row, target]).sum() < 20)
    best = int(np.argmax(hits))  # the first of equals: the smallest scale
    rates = {str(a): round(float(h) / len(sample), 4) for a, h in zip(params.scale_grid, hits, strict=True)}
    return params.scale_grid[best], rates


def item_item_rows(
    G: npt.NDArray[np.floating[Any]],
    ZZ: npt.NDArray[np.floating[Any]],
    ZY: npt.NDArray[np.floating[Any]],
    histories: Sequence[Sequence[Action]],
    column: dict[str, int],
    params: TrainParams,
    blend: Blend,
) -> tuple[Matrix, Matrix, float]:
    """The item-item models over the w items of `column` (item id -> row of the statistics): EASE
    on G = XᵀX and the next-item model T on its ZᵀZ and ZᵀY, as P (2w × d) and Q (w × d) with
    P Qᵀ ≈ [B; T]. Exact up to `full_rank_max` items; above, the `rank` directions that carry most
    of the score of query vectors sampled from `histories` (users' actions, newest first); and the
    share of that score kept."""
    w = G.shape[0]
    B = ease(G, params.ease_lambda)
    T = solve_next_item(ZZ, ZY, params.sequence_lambda)
    M = np.vstack([B, T])  # the blend weighs T's rows when it folds a user in
    if w <= params.full_rank_max:
        return factorise(M, w, None)
    queries = query_sample(histories, column, blend, params.subspace_cuts, 2000, params.seed)
    return factorise(M, min(params.rank, w), queries)


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
    low_rank = w > params.max_items
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
    if not low_rank and w >= 2:  # the item-item models, from their statistics summed here
        ZZ, ZY = next_item_gram(sequences, w, blend.sequence_items, blend.sequence_decay)
        statistics = ItemItemStatistics(
            item_ids=warm_ids,
            G=gram(list(by_user.values()), w),
            ZZ=ZZ,
            ZY=ZY,
            item_users=counts[warm_positions],
            stats={"users": len(by_user), "pairs": len(data.pairs), "events": data.events},
        )
        histories = list(data.histories.values())
        return fit_item_item(data.items, statistics, histories, params, blend, (started, started_at))
    d = min(params.low_rank_dims, w) if low_rank else w
    P = np.zeros((2 * n, max(d, 1)), dtype=np.float32)
    Q = np.zeros((n, max(d, 1)), dtype=np.float32)
    kept = 0.0
    scale: tuple[float, dict[str, float]] | None = None
    if low_rank:
        X = Interactions.of(list(by_user.values()), w)
        V, singular = item_factors(X, d, params.low_rank_oversample, params.low_rank_power, params.seed)
        M = sequence_map(
            sequences, V, blend.sequence_items, blend.sequence_decay, params.low_rank_sequence_ridge
        )
        P[warm_positions], P[n + warm_positions], Q[warm_positions] = V, V @ M, V
        kept = float((singular**2).sum() / max(len(X.rows), 1))  # share of ‖X‖² the factors hold
        scale = choose_scale(
            P, Q, popularity_feature(counts), list(data.histories.values()), position, blend, params
        )
        P *= scale[0]
    stats = {
        "users": len(by_user),
        "pairs": len(data.pairs),
        "events": data.events,
        "dimensions": d,
        "models": "low-rank" if low_rank else "ease",
        "query_energy_kept" if not low_rank else "interaction_energy_kept": round(kept, 4),
        **({"scale": scale[0], "scale_hr_at_20": scale[1]} if scale else {}),
    }
    return _with_content(data.items, P, Q, counts, params, started, started_at, stats)


@dataclass(frozen=True)
class ItemItemStatistics:
    """What the item-item models are solved from, computed elsewhere (the Spark job,
    functions/index_refresh/jobs/train_als.py), over the items it saw interactions with: XᵀX of the
    users × items presence matrix, the next-item model's ZᵀZ and ZᵀY, the users per item, and the
    trainer's counts."""

    item_ids: list[str]
    G: npt.NDArray[np.floating[Any]]
    ZZ: npt.NDArray[np.floating[Any]]
    ZY: npt.NDArray[np.floating[Any]]
    item_users: Vector
    stats: dict[str, Any] = field(default_factory=dict)


def _in_catalog(
    items: Sequence[Item], trained_ids: Sequence[str]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Of the items something was trained for elsewhere, those still in the catalog: their
    positions in it (ascending) and their rows in what was trained."""
    position = {item.item_id: p for p, item in enumerate(items)}
    rows = sorted((position[item_id], r) for r, item_id in enumerate(trained_ids) if item_id in position)
    if len(rows) < 2:
        raise TrainingError(f"{len(rows)} of the trained items are in the catalog: nothing to serve")
    return np.asarray([p for p, _ in rows], dtype=np.int64), np.asarray([r for _, r in rows], dtype=np.int64)


def fit_item_item(
    items: Sequence[Item],
    statistics: ItemItemStatistics,
    histories: Sequence[Sequence[Action]],
    params: TrainParams,
    blend: Blend,
    started: tuple[float, float] | None = None,
) -> TrainedModel:
    """The model `fit` trains up to `max_items`, solved from its statistics (summed by `fit`, or
    elsewhere: the Spark job): the item-item models, the rows of items without interactions from
    their content. Items of the statistics no longer in the catalog are left out; `histories` (a
    sample of users is enough, newest first) is what the subspace is chosen on above
    `full_rank_max` items. started: when training began (perf_counter, epoch seconds), if the
    statistics were summed as part of it."""
    started_clock, started_at = started or (time.perf_counter(), time.time())
    warm_positions, source = _in_catalog(items, statistics.item_ids)  # in catalog order, as in `fit`
    keep = np.ix_(source, source)
    column = {items[p].item_id: c for c, p in enumerate(warm_positions.tolist())}
    P_warm, Q_warm, kept = item_item_rows(
        statistics.G[keep], statistics.ZZ[keep], statistics.ZY[keep], histories, column, params, blend
    )
    n, w, d = len(items), len(source), Q_warm.shape[1]
    P = np.zeros((2 * n, d), dtype=np.float32)
    Q = np.zeros((n, d), dtype=np.float32)
    P[warm_positions], P[n + warm_positions], Q[warm_positions] = P_warm[:w], P_warm[w:], Q_warm
    counts = np.zeros(n, dtype=np.float32)
    counts[warm_positions] = statistics.item_users[source]
    stats = {**statistics.stats, "dimensions": d, "models": "ease", "query_energy_kept": round(kept, 4)}
    return _with_content(items, P, Q, counts, params, started_clock, started_at, stats)


@dataclass(frozen=True)
class ItemFactors:
    """Item factors trained elsewhere (the Spark job, functions/index_refresh/jobs/train_als.py):
    the items they were learned for, their rows V, how many users each has, the next-item map M
    in V's space, and the trainer's counts."""

    item_ids: list[str]
    V: Matrix
    item_users: Vector
    M: Matrix
    fold_in_regs: tuple[float, ...] = (0.1,)  # λ tried for folding a user in: u = (VᵀV + λI)⁻¹ Vᵀx
    sequence_weights: tuple[float, ...] = (1.0,)  # weights tried for the next-item rows V M
    stats: dict[str, Any] = field(default_factory=dict)


def fit_factors(
    items: Sequence[Item],
    factors: ItemFactors,
    histories: Sequence[Sequence[Action]],
    params: TrainParams,
    blend: Blend,
) -> TrainedModel:
    """The low-rank model (as `fit` builds it above `max_items`) on factors trained elsewhere:
    P = [V G; β V M]·α and Q = V, G = (VᵀV + λI)⁻¹ the least squares that folds a user in, λ, β
    and α chosen on the held-out last events of `histories` (a sample of users, newest first);
    items without factors placed by their content."""
    started, started_at = time.perf_counter(), time.time()
    position = {item.item_id: p for p, item in enumerate(items)}
    n = len(items)
    warm_positions, source = _in_catalog(items, factors.item_ids)
    counts = np.zeros(n, dtype=np.float32)
    counts[warm_positions] = factors.item_users[source]
    V = factors.V[source].astype(np.float32)
    d = V.shape[1]
    gram_v = V.T.astype(np.float64) @ V
    # on the scale of the SVD's orthonormal factors (|V|² = d), where one grid of α serves both
    c = np.float32(np.sqrt(d) / max(float(np.linalg.norm(V)), 1e-12))
    P = np.zeros((2 * n, d), dtype=np.float32)
    Q = np.zeros((n, d), dtype=np.float32)
    Q[warm_positions] = c * V
    sequence_rows = c * (V @ factors.M)
    # ALS folds a user in by least squares, u = (VᵀV + λI)⁻¹ Vᵀx: the rows the user's coefficients
    # sum are V (VᵀV + λI)⁻¹. Each λ of fold_in_regs and weight of the next-item rows of
    # sequence_weights is tried, with α, on the held-out events; the best ranking is kept.
    tried: dict[str, float] = {}
    best: tuple[float, float, float, float, dict[str, float]] | None = None
    for reg in factors.fold_in_regs:
        similar_rows = V @ np.linalg.inv(gram_v + reg * np.eye(d)).astype(np.float32) / c
        for weight in factors.sequence_weights:
            P[warm_positions], P[n + warm_positions] = similar_rows, weight * sequence_rows
            alpha, rates = choose_scale(
                P, Q, popularity_feature(counts), list(histories), position, blend, params
            )
            tried[f"{reg:g}/{weight:g}"] = rates.get(str(alpha), 0.0)
            if best is None or tried[f"{reg:g}/{weight:g}"] > best[0]:
                best = (tried[f"{reg:g}/{weight:g}"], reg, weight, alpha, rates)
    assert best is not None
    _, reg, weight, alpha, rates = best
    P[warm_positions] = V @ np.linalg.inv(gram_v + reg * np.eye(d)).astype(np.float32) / c
    P[n + warm_positions] = weight * sequence_rows
    P *= alpha
    stats = {
        **factors.stats,
        "dimensions": d,
        "models": "als",
        "fold_in_reg": reg,
        "sequence_weight": weight,
        "fold_in_hr_at_20": tried,  # by "λ/weight"
        "scale": alpha,
        "scale_hr_at_20": rates,
    }
    return _with_content(items, P, Q, counts, params, started, started_at, stats)


def _with_content(
    items: Sequence[Item],
    P: Matrix,
    Q: Matrix,
    counts: Vector,
    params: TrainParams,
    started: float,
    started_at: float,
    stats: dict[str, Any],
) -> TrainedModel:
    """The trained model, with the rows of items nobody interacted with mapped from their content
    onto the learned rows (ridge regression fitted on a sample of the warm items)."""
    n = len(items)
    trained_at = time.perf_counter()
    warm_positions = np.flatnonzero(counts > 0)
    cold_positions = np.flatnonzero(counts == 0)
    if len(cold_positions) and len(warm_positions) >= 2:
        # fitted on a sample of the warm items: a 100,000 × 1,024 content matrix is 400 MB
        fitted = np.random.default_rng(params.seed).permutation(warm_positions)[: params.content_sample]
        C_fitted = content_matrix([items[p] for p in fitted], params.content_dims)
        targets = np.hstack([P[fitted], P[n + fitted], Q[fitted]])
        mapping = _ridge_map(C_fitted, targets, params.content_ridge)
        for start in range(0, len(cold_positions), params.content_sample):
            cold = cold_positions[start : start + params.content_sample]
            mapped = content_matrix([items[p] for p in cold], params.content_dims) @ mapping
            P[cold], P[n + cold], Q[cold] = np.split(mapped, 3, axis=1)
    return TrainedModel(
        item_ids=[item.item_id for item in items],
        categories=[(item.category or "").lower() or None for item in items],
        P=P,
        Q=Q,
        popularity=popularity_feature(counts),
        created=np.asarray(
            [item.created_at.timestamp() if item.created_at else started_at for item in items],
            dtype=np.float64,
        ),
        warm=counts > 0,
        stats={
            "users": stats.pop("users", 0),
            "items": n,
            "items_with_interactions": len(warm_positions),
            "items_from_content": len(cold_positions),
            **stats,
            "fit_seconds": round(trained_at - started, 3),
            "content_seconds": round(time.perf_counter() - trained_at, 3),
        },
    )
