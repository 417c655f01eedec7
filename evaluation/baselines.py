"""Baseline recommenders for the offline protocol (see :mod:`evaluation.protocol`).

Every baseline treats each interaction as a positive, binary one, whatever the action: that is the
standard way these models are run, and what a new ranking model has to beat. Each function takes the
training events of a split (all-but-last per user) and the item universe, chooses its hyper-parameters
on the validation split carved from those events (never on the test items), refits on all the training
events with the chosen values, and returns every user's top-10 over the items that user has not
interacted with in training.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from evaluation.protocol import Event, K, histories, metrics, validation_split

Log = Callable[[str], None]
Params = dict[str, float]
Scorer = Callable[[Sequence[Event], "Interactions"], np.ndarray]

EASE_LAMBDAS: tuple[float, ...] = (50.0, 100.0, 200.0, 300.0, 500.0, 750.0, 1000.0)
SEQUENCE_WINDOW = 10
SEQUENCE_DECAY = 0.8
SEQUENCE_WEIGHT = 8.0


def _quiet(_: str) -> None:
    return None


@dataclass
class BaselineResult:
    """Top-10 per user, the parameters chosen on validation and the validation metrics they scored."""

    rankings: dict[str, list[str]]
    params: Params
    validation: dict[str, float] = field(default_factory=dict)


@dataclass
class Interactions:
    """The binary user-item matrix of some training events, with the index maps and time-ordered histories."""

    users: list[str]
    items: list[str]
    matrix: sp.csr_matrix
    sequences: dict[str, list[int]]

    @classmethod
    def build(cls, events: Sequence[Event], items: Sequence[str]) -> Interactions:
        item_index = {item: index for index, item in enumerate(items)}
        ordered = histories(events)
        users = sorted(ordered)
        rows, cols = [], []
        sequences: dict[str, list[int]] = {}
        for row, user in enumerate(users):
            sequence = [item_index[event.item] for event in ordered[user]]
            sequences[user] = sequence
            rows.extend([row] * len(sequence))
            cols.extend(sequence)
        matrix = sp.csr_matrix(
            (np.ones(len(rows)), (np.array(rows, dtype=np.int64), np.array(cols, dtype=np.int64))),
            shape=(len(users), len(items)),
        )
        matrix.data[:] = 1.0  # a repeated (user, item) pair is still one positive
        return cls(users=users, items=list(items), matrix=matrix, sequences=sequences)


def top_k(scores: np.ndarray, data: Interactions, k: int = K) -> dict[str, list[str]]:
    """Each user's k best items by score, never one the user has in training; ties go to the lower index."""
    scores = np.array(scores, dtype=np.float64)
    seen = data.matrix.tocoo()
    scores[seen.row, seen.col] = -np.inf
    k = min(k, scores.shape[1])
    candidates = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    rankings: dict[str, list[str]] = {}
    for row, user in enumerate(data.users):
        chosen = candidates[row]
        chosen = chosen[np.isfinite(scores[row, chosen])]
        order = np.lexsort((chosen, -scores[row, chosen]))
        rankings[user] = [data.items[index] for index in chosen[order]]
    return rankings


def _select(
    train: Sequence[Event],
    items: Sequence[str],
    grid: Iterable[Params],
    scorer: Callable[[Interactions, Params], np.ndarray],
    log: Log,
) -> tuple[Params, dict[str, float]]:
    """The grid point with the best validation NDCG@10 (first one wins a tie) and its validation metrics."""
    fit_events, held_out = validation_split(train)
    data = Interactions.build(fit_events, items)
    best: tuple[Params, dict[str, float]] | None = None
    for params in grid:
        result = metrics(top_k(scorer(data, params), data), held_out, len(items))
        log(f"validation {params}: ndcg@10={result['ndcg@10']:.4f} hr@10={result['hr@10']:.4f}")
        if best is None or result["ndcg@10"] > best[1]["ndcg@10"]:
            best = (params, result)
    if best is None:
        raise ValueError("empty hyper-parameter grid")
    return best


def _fit_and_rank(
    train: Sequence[Event],
    items: Sequence[str],
    grid: Iterable[Params],
    scorer: Callable[[Interactions, Params], np.ndarray],
    log: Log,
) -> BaselineResult:
    params, validation = _select(train, items, grid, scorer, log)
    log(f"chosen {params}")
    data = Interactions.build(train, items)
    return BaselineResult(top_k(scorer(data, params), data), params, validation)


# Most popular ----------------------------------------------------------------------------------------


def most_popular(train: Sequence[Event], items: Sequence[str], log: Log = _quiet) -> BaselineResult:
    """Items by number of users who interacted with them: the floor any personalised model must clear."""

    def scorer(data: Interactions, _: Params) -> np.ndarray:
        counts = np.asarray(data.matrix.sum(axis=0)).ravel()
        return np.broadcast_to(counts, data.matrix.shape)

    return _fit_and_rank(train, items, [{}], scorer, log)


# EASE ------------------------------------------------------------------------------------------------


def ease_weights(matrix: sp.csr_matrix, lam: float) -> np.ndarray:
    """EASE's item-item weights B (Steck, 2019): ridge regression of each item on the others, diag(B) = 0.

    Closed form: P = (XᵀX + λI)⁻¹, B = I - P·diag(1 / diag(P)).
    """
    gram: np.ndarray = np.asarray((matrix.T @ matrix).toarray(), dtype=np.float64)
    gram[np.diag_indices_from(gram)] += lam
    inverse: np.ndarray = np.linalg.inv(gram)
    weights: np.ndarray = -inverse / np.diag(inverse)[np.newaxis, :]
    weights[np.diag_indices_from(weights)] = 0.0
    return weights


def ease(
    train: Sequence[Event],
    items: Sequence[str],
    lambdas: Sequence[float] = EASE_LAMBDAS,
    log: Log = _quiet,
) -> BaselineResult:
    """EASE with λ chosen on validation: a strong, simple item-item baseline for implicit feedback."""

    def scorer(data: Interactions, params: Params) -> np.ndarray:
        return np.asarray(data.matrix @ ease_weights(data.matrix, params["lambda"]))

    return _fit_and_rank(train, items, [{"lambda": lam} for lam in lambdas], scorer, log)


# Sequence-aware EASE ---------------------------------------------------------------------------------


def recency_matrix(
    data: Interactions, window: int = SEQUENCE_WINDOW, decay: float = SEQUENCE_DECAY
) -> sp.csr_matrix:
    """Row u holds Σ_k decay^k on the item of the user's k-th most recent training event (k < window)."""
    rows, cols, values = [], [], []
    for row, user in enumerate(data.users):
        for step, item in enumerate(reversed(data.sequences[user][-window:])):
            rows.append(row)
            cols.append(item)
            values.append(decay**step)
    return sp.csr_matrix((values, (rows, cols)), shape=data.matrix.shape)  # duplicates are summed


def sequential_ease(
    train: Sequence[Event],
    items: Sequence[str],
    lambdas: Sequence[float] | None = None,
    weight: float = SEQUENCE_WEIGHT,
    window: int = SEQUENCE_WINDOW,
    decay: float = SEQUENCE_DECAY,
    log: Log = _quiet,
) -> BaselineResult:
    """EASE plus the EASE rows of the user's last items: s = x·B + weight·Σ_k decay^k·B[last_k].

    Recent items say more about the next one than the whole history does; this adds that signal without
    learning anything new. λ is EASE's validated value unless ``lambdas`` is given.
    """
    if lambdas is None:
        lambdas = [ease(train, items, log=log).params["lambda"]]

    def scorer(data: Interactions, params: Params) -> np.ndarray:
        weights = ease_weights(data.matrix, params["lambda"])
        coefficients = data.matrix + weight * recency_matrix(data, window, decay)
        return np.asarray(coefficients @ weights)

    return _fit_and_rank(train, items, [{"lambda": lam} for lam in lambdas], scorer, log)


# ALS (implicit) --------------------------------------------------------------------------------------


def als(
    train: Sequence[Event],
    items: Sequence[str],
    factors: Sequence[int] = (64, 128),
    regularization: Sequence[float] = (1.0, 5.0, 10.0, 20.0, 50.0),
    alpha: Sequence[float] = (1.0, 10.0),
    iterations: Sequence[int] = (15,),
    threads: int = 1,
    seed: int = 0,
    log: Log = _quiet,
) -> BaselineResult:
    """Implicit-feedback ALS (Hu, Koren & Volinsky) from ``implicit``, grid-searched on validation.

    ``implicit``'s regularization is not scaled by the amount of data, hence the wide grid. The seed is
    fixed so that a rerun picks the same parameters.
    """
    from implicit.cpu.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    def scorer(data: Interactions, params: Params) -> np.ndarray:
        # implicit runs its own threads; a BLAS pool inside them thrashes (implicit warns at construction)
        with threadpool_limits(1, "blas"):
            model = AlternatingLeastSquares(
                factors=int(params["factors"]),
                regularization=params["regularization"],
                alpha=params["alpha"],
                iterations=int(params["iterations"]),
                random_state=seed,
                num_threads=threads,
                calculate_training_loss=False,
            )
            model.fit(data.matrix.astype(np.float32).tocsr(), show_progress=False)
        return np.asarray(model.user_factors) @ np.asarray(model.item_factors).T

    grid = [
        {"factors": float(f), "regularization": r, "alpha": a, "iterations": float(i)}
        for f, r, a, i in itertools.product(factors, regularization, alpha, iterations)
    ]
    return _fit_and_rank(train, items, grid, scorer, log)
