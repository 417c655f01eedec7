"""The ranking model: one linear form that training fits, FAISS serves and explanations decompose.

    score(u, j) = h_u·Q_j + r_u·Q_j + s_u·Q_j + c_pop·pop_j + c_fav·fav_u(j) + c_new·new_j

- P (2 × items rows) and Q (items × d) factorise two item-item models at once, [B; w·T] ≈ P Qᵀ:
  EASE's B (what is consumed together) and a next-item model T (what follows what). A user is not
  a trained parameter: the user's vectors are linear combinations of P's rows over the user's own
  items (fold-in), so an interaction changes the next answer at once, and the share of a score
  that each item of the user's history holds is exact: a_r · P_r·Q_j.
- h_u ("similar_items"): every item the user acted on, through B (a dislike counts against).
- r_u ("recent_activity"): the last actions, decayed from the newest, through B and through T:
  what a user did last predicts what comes next far better than the whole history does.
- s_u ("session"): the items of the current session, through B.
- pop_j ("popularity"): log(1 + interactions); fav_u(j) ("category_preference"): 1 when j's
  category is one of the user's favourite categories; new_j ("recency"): exp(-age / days) of
  the item's age in the catalog.

The FAISS index holds Q, so the query h_u + r_u + s_u retrieves the candidates by the first three
terms; the last two are added when the candidates are scored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from recsys.engine.blend import Blend

Vector = npt.NDArray[np.float32]
Matrix = npt.NDArray[np.float32]

FACTORS = ("similar_items", "recent_activity", "session", "popularity", "category_preference", "recency")
DAY = 86400.0


class ItemVectors:
    """Q, with the rows that are unit vectors known. An exact model (up to `full_rank_max` items)
    has Q = I on the items it was trained on, P holding their scores itself: for those, Q_j·v is
    v_j and a product with Q is a gather (over 1,682 items, a product with the whole of Q was a
    tenth of a recommendation's time in the handler, for the same numbers). Other rows (a
    low-rank model's, or an item's mapped from its content) are multiplied as they are."""

    def __init__(self, Q: Matrix) -> None:
        self.Q = Q
        n, d = Q.shape
        unit = np.zeros(n, dtype=np.bool_)
        if n == d:
            unit = (np.diagonal(Q) == 1) & (np.count_nonzero(Q, axis=1) == 1)
        self.unit = unit
        self.all_unit = bool(unit.all()) and n > 0

    def dot(self, candidates: npt.NDArray[np.int64], vector: Vector) -> Vector:
        """Q[candidates] · vector."""
        if self.all_unit:
            return np.asarray(vector[candidates], dtype=np.float32)
        unit = self.unit[candidates]
        out = np.empty(len(candidates), dtype=np.float32)
        out[unit] = vector[candidates[unit]]
        out[~unit] = self.Q[candidates[~unit]] @ vector
        return out

    def gram(self, rows: Matrix, candidates: npt.NDArray[np.int64]) -> Matrix:
        """rows · Q[candidates]ᵀ (rows × candidates)."""
        if self.all_unit:
            return np.asarray(rows[:, candidates], dtype=np.float32)
        unit = self.unit[candidates]
        out = np.empty((len(rows), len(candidates)), dtype=np.float32)
        out[:, unit] = rows[:, candidates[unit]]
        out[:, ~unit] = rows @ self.Q[candidates[~unit]].T
        return out

    def top(self, query: Vector, k: int) -> tuple[Vector, npt.NDArray[np.int64]]:
        """The exact top k of Q·query, best first (ties: lower position first), when every row
        is a unit vector: what an exact index would answer, without scanning Q."""
        if not self.all_unit:
            raise ValueError("an exact top k by gather needs Q = I")
        k = min(k, len(query))
        if k <= 0:
            return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
        kth = -np.partition(-query, k - 1)[k - 1]
        above = np.flatnonzero(query > kth)
        nearest = np.concatenate([above, np.flatnonzero(query == kth)[: k - len(above)]])
        nearest = nearest[np.lexsort((nearest, -query[nearest]))]
        return query[nearest].astype(np.float32), nearest.astype(np.int64)


class ItemSide(Protocol):
    """The item half of a model: embeddings and the per-item features the score adds."""

    @property
    def P(self) -> Matrix: ...  # 2 × items rows: EASE's block, then the next-item model's
    @property
    def Q(self) -> Matrix: ...
    @property
    def vectors(self) -> ItemVectors: ...  # Q, and which of its rows are unit vectors
    @property
    def popularity(self) -> Vector: ...  # log(1 + interactions)
    @property
    def created(self) -> Vector: ...  # when each item entered the catalog (epoch seconds)
    @property
    def categories(self) -> Sequence[str | None]: ...


@dataclass(frozen=True)
class Action:
    item_id: str
    disliked: bool = False
    session_id: str | None = None


@dataclass(frozen=True)
class UserProfile:
    """What the model needs to know of a user: the items acted on and the last actions (serving
    reads them from the real-time feature store, training from the log), the current session, and
    the favourite categories (the user's preferences)."""

    weights: Mapping[str, float] = field(default_factory=dict)  # item -> summed action weight
    recent: Sequence[Action] = ()  # newest first
    session_id: str | None = None  # the current session (X-Session-Id)
    favourites: frozenset[str] = frozenset()  # lower-case categories


@dataclass(frozen=True)
class Term:
    """One linear term of the user's vector: coefficients over rows of P. P has two blocks of one
    row per item: EASE's row (rows 0..n-1) and the next-item model's row (rows n..2n-1). A term
    belongs to the one model it was made for: its vector is kept, and so are its rows of P once an
    explanation has gathered them (a request used them for the query, the scores and each
    explanation: a copy of them each time)."""

    positions: npt.NDArray[np.int64]
    coefficients: Vector
    _kept: dict[str, Matrix] = field(default_factory=dict, compare=False, repr=False)

    def rows(self, P: Matrix) -> Matrix:
        if "rows" not in self._kept:
            self._kept["rows"] = P[self.positions]
        return self._kept["rows"]

    def vector(self, P: Matrix) -> Vector:
        if len(self.positions) == 0:
            return np.zeros(P.shape[1], dtype=np.float32)
        if "vector" not in self._kept:  # the rows are not kept for it: a refresh holds many terms at once
            rows = self._kept["rows"] if "rows" in self._kept else P[self.positions]
            self._kept["vector"] = np.asarray(self.coefficients @ rows, dtype=np.float32)
        return self._kept["vector"]

    def contributions(self, P: Matrix, Q: ItemVectors, candidates: npt.NDArray[np.int64]) -> Matrix:
        """Each row's exact share of the term's score, for each candidate (rows × candidates)."""
        return np.asarray(self.coefficients[:, None] * Q.gram(self.rows(P), candidates), dtype=np.float32)


EMPTY = Term(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32))


def _term(rows: Mapping[int, float]) -> Term:
    known = [(r, w) for r, w in rows.items() if w != 0]
    if not known:
        return EMPTY
    positions, coefficients = zip(*sorted(known), strict=True)
    return Term(np.asarray(positions, dtype=np.int64), np.asarray(coefficients, dtype=np.float32))


def history_rows(position: Mapping[str, int], weights: Mapping[str, float], blend: Blend) -> dict[int, float]:
    """Every item acted on, once; a disliked one (net negative weight) counts against."""
    known = [(position[i], w) for i, w in weights.items() if i in position and w != 0]
    if not known:
        return {}
    scale = blend.history_weight * (20.0 / len(known)) ** blend.history_norm
    return {p: scale * (blend.dislike_history if w < 0 else 1.0) for p, w in known}


def recent_rows(position: Mapping[str, int], recent: Sequence[Action], blend: Blend) -> dict[int, float]:
    """The last actions, newest first: EASE's rows (short term) and the next-item model's rows."""
    n = len(position)
    rows: dict[int, float] = {}
    for k, action in enumerate(recent[: max(blend.recent_items, blend.sequence_items)]):
        p = position.get(action.item_id)
        if p is None:
            continue
        sign = blend.dislike_recent if action.disliked else 1.0
        if k < blend.recent_items:
            rows[p] = rows.get(p, 0.0) + blend.recent_weight * blend.recent_decay**k * sign
        if k < blend.sequence_items:
            rows[n + p] = rows.get(n + p, 0.0) + blend.sequence_weight * blend.sequence_decay**k * sign
    return rows


def session_rows(position: Mapping[str, int], profile: UserProfile, blend: Blend) -> dict[int, float]:
    if not profile.session_id:
        return {}
    items = list(dict.fromkeys(a.item_id for a in profile.recent if a.session_id == profile.session_id))
    known = [position[i] for i in items if i in position]
    return {p: blend.session_weight / len(known) for p in known} if known else {}


def user_terms(position: Mapping[str, int], profile: UserProfile, blend: Blend) -> dict[str, Term]:
    return {
        "similar_items": _term(history_rows(position, profile.weights, blend)),
        "recent_activity": _term(recent_rows(position, profile.recent, blend)),
        "session": _term(session_rows(position, profile, blend)),
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
    items: ItemSide,
    terms: Mapping[str, Term],
    favourites: frozenset[str],
    blend: Blend,
    candidates: npt.NDArray[np.int64],
    now: float,
) -> Scored:
    """Every term of the score for each candidate position; total is their sum, exactly."""
    parts = np.zeros((len(FACTORS), len(candidates)), dtype=np.float32)
    for f, name in enumerate(FACTORS[:3]):
        term = terms.get(name, EMPTY)
        if len(term.positions):
            parts[f] = items.vectors.dot(candidates, term.vector(items.P))
    parts[3] = blend.popularity_weight * items.popularity[candidates]
    if favourites and blend.favourite_weight:
        parts[4] = blend.favourite_weight * np.asarray(
            [(items.categories[c] or "") in favourites for c in candidates], dtype=np.float32
        )
    if blend.freshness_weight:
        age_days = np.maximum(now - items.created[candidates], 0.0) / DAY
        parts[5] = blend.freshness_weight * np.exp(-age_days / blend.freshness_days)
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
    """log(1 + interactions)."""
    return np.asarray(np.log1p(np.maximum(counts, 0)), dtype=np.float32)
