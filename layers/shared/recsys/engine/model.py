"""The ranking model: one linear form that training fits, FAISS serves and explanations decompose.

    score(u, j) = h_u·Q_j + r_u·Q_j + s_u·Q_j + c_pop·pop_j + c_fav·fav_u(j)

- P, Q (items × d) factorise an item-item model (EASE, B ≈ P Qᵀ). A user is not a trained
  parameter: the user's vectors are linear combinations of P's rows over the user's own items
  (fold-in), so an interaction changes the next answer at once, and the share of a score that
  each item of the user's history holds is exact: a_i · P_i·Q_j.
- h_u ("similar_items"): the whole history, each item weighted by its summed action weight
  (dislikes count against, scaled by `dislike_scale`), divided by a power of the history's size.
- r_u ("recent_activity"): the last `recent_items` items, decayed geometrically from the newest:
  what a user did last predicts what comes next far better than the whole history does.
- s_u ("session"): the items of the current session, equally weighted.
- pop_j ("popularity"): log interaction count scaled to [0, 1]; fav_u(j) ("category_preference"):
  1 when j's category is one of the user's favourite categories.

The FAISS index holds Q, so the query h_u + r_u + s_u retrieves the candidates by the first three
terms; the last two are added when the candidates are scored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from recsys.engine.blend import Blend

Vector = npt.NDArray[np.float32]
Matrix = npt.NDArray[np.float32]

FACTORS = ("similar_items", "recent_activity", "session", "popularity", "category_preference")


@dataclass(frozen=True)
class UserProfile:
    """What the model needs to know of a user, all of it from the real-time feature store."""

    weights: Mapping[str, float] = field(default_factory=dict)  # item -> summed action weight
    recent: Sequence[str] = ()  # item ids, newest first
    session: Sequence[str] = ()  # item ids of the current session
    favourites: frozenset[str] = frozenset()  # lower-case categories

    @property
    def is_empty(self) -> bool:
        return not self.weights and not self.recent and not self.session


@dataclass(frozen=True)
class Term:
    """One linear term of the user's vector: coefficients over positions of P."""

    positions: npt.NDArray[np.int64]
    coefficients: Vector

    def vector(self, P: Matrix) -> Vector:
        if len(self.positions) == 0:
            return np.zeros(P.shape[1], dtype=np.float32)
        return np.asarray(self.coefficients @ P[self.positions], dtype=np.float32)

    def contributions(self, P: Matrix, Q: Matrix, candidate: int) -> Vector:
        """Each of the term's items' exact share of the term's score for one candidate."""
        return np.asarray(self.coefficients * (P[self.positions] @ Q[candidate]), dtype=np.float32)


EMPTY = Term(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32))


def _term(position: Mapping[str, int], weighted: Mapping[str, float]) -> Term:
    known = [(position[i], w) for i, w in weighted.items() if i in position and w != 0]
    if not known:
        return EMPTY
    positions, coefficients = zip(*known, strict=True)
    return Term(np.asarray(positions, dtype=np.int64), np.asarray(coefficients, dtype=np.float32))


def history_coefficients(weights: Mapping[str, float], blend: Blend) -> dict[str, float]:
    signed = {i: (w if w > 0 else w * blend.dislike_scale) for i, w in weights.items() if w != 0}
    if not signed:
        return {}
    scale = blend.history_weight / len(signed) ** blend.history_norm
    return {i: w * scale for i, w in signed.items()}


def recent_coefficients(
    recent: Sequence[str], weights: Mapping[str, float], blend: Blend
) -> dict[str, float]:
    """Newest first; an item the user disliked pulls away from its neighbours instead."""
    coefficients: dict[str, float] = {}
    for k, item_id in enumerate(recent[: blend.recent_items]):
        sign = -blend.dislike_scale if weights.get(item_id, 1.0) < 0 else 1.0
        coefficients[item_id] = (
            coefficients.get(item_id, 0.0) + blend.recent_weight * sign * blend.recent_decay**k
        )
    return coefficients


def session_coefficients(session: Sequence[str], blend: Blend) -> dict[str, float]:
    unique = list(dict.fromkeys(session))
    return {i: blend.session_weight / len(unique) for i in unique} if unique else {}


def user_terms(position: Mapping[str, int], profile: UserProfile, blend: Blend) -> dict[str, Term]:
    return {
        "similar_items": _term(position, history_coefficients(profile.weights, blend)),
        "recent_activity": _term(position, recent_coefficients(profile.recent, profile.weights, blend)),
        "session": _term(position, session_coefficients(profile.session, blend)),
    }


@dataclass(frozen=True)
class Scored:
    """Scores of candidates and each factor's part of them (rows: factors in FACTORS order)."""

    positions: npt.NDArray[np.int64]
    total: Vector
    parts: Matrix  # len(FACTORS) × len(positions)

    def factor_shares(self, k: int) -> dict[str, float]:
        return {name: float(self.parts[f, k]) for f, name in enumerate(FACTORS)}


def score(
    P: Matrix,
    Q: Matrix,
    popularity: Vector,
    categories: Sequence[str | None],
    terms: Mapping[str, Term],
    favourites: frozenset[str],
    blend: Blend,
    candidates: npt.NDArray[np.int64],
) -> Scored:
    """Every term of the score for each candidate position; total is their sum, exactly."""
    Qc = Q[candidates]
    parts = np.zeros((len(FACTORS), len(candidates)), dtype=np.float32)
    for f, name in enumerate(FACTORS[:3]):
        term = terms.get(name, EMPTY)
        if len(term.positions):
            parts[f] = Qc @ term.vector(P)
    parts[3] = blend.popularity_weight * popularity[candidates]
    if favourites and blend.favourite_weight:
        parts[4] = blend.favourite_weight * np.asarray(
            [(categories[c] or "") in favourites for c in candidates], dtype=np.float32
        )
    return Scored(candidates, parts.sum(axis=0), parts)


def query_vector(P: Matrix, terms: Mapping[str, Term]) -> Vector:
    """The FAISS query: the sum of the user's linear terms."""
    vector = np.zeros(P.shape[1], dtype=np.float32)
    for name in FACTORS[:3]:
        term = terms.get(name, EMPTY)
        if len(term.positions):
            vector += term.vector(P)
    return vector


def popularity_feature(counts: npt.NDArray[np.floating[Any]]) -> Vector:
    """log(1 + count) scaled so the most popular item is 1."""
    logged = np.log1p(np.maximum(counts, 0)).astype(np.float32)
    top = float(logged.max()) if logged.size else 0.0
    return np.asarray(logged / top if top > 0 else logged, dtype=np.float32)
