"""The scheduled refresh: train on the interaction log and the catalog, build the FAISS index,
publish a new model version, and only then point `latest.json` at it.

Order matters: artifacts under `<version>/` first, then user embeddings (Redis) and precomputed
recommendations (PostgreSQL, one transaction), and `latest.json` last. A run that fails or is
cut short leaves `latest.json` on the previous good version; a model whose index recall falls
below MIN_RECALL is not published at all.
"""

from __future__ import annotations

import resource
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from recsys.domain import ACTION_WEIGHTS, Item
from recsys.engine import index as faiss_index
from recsys.engine.blend import Blend
from recsys.engine.bundle import CatalogSnapshot, ModelBundle
from recsys.engine.model import Action, UserProfile, query_vector, score, user_terms
from recsys.engine.training import TrainedModel, TrainingData, TrainParams, fit
from recsys.logic.explanations import primary_types
from recsys.observability import logger
from recsys.stores.precomputed import PrecomputedRow

if TYPE_CHECKING:
    from recsys.stores.catalog import Catalog
    from recsys.stores.feature_store import FeatureStore
    from recsys.stores.feedback import NotInterestedFeedback
    from recsys.stores.index_artifacts import IndexArtifacts
    from recsys.stores.interaction_log import InteractionLog, LoggedEvent
    from recsys.stores.precomputed import PrecomputedStore

# by the trainer's models; "als": MLlib's ALS in the Spark job (logic/spark_training.py)
ALGORITHMS = {"ease": "ease-sequential", "low-rank": "svd-sequential", "als": "als-sequential"}
MIN_RECALL = 0.9
PRECOMPUTED_PER_USER = 50
RECALL_SAMPLE = 1000
CALIBRATION_SAMPLE = 3000  # rated events scored to map scores to ratings (20 bins of 150)
NOT_INTERESTED_WEIGHT = ACTION_WEIGHTS["dislike"]
APPLIED_MARKS_KEPT = 2 * 86400  # the stream keeps a record 24 hours; a mark older than that is moot


class RefreshError(RuntimeError):
    """The run cannot produce a model worth publishing; the previous version stays."""


@dataclass(frozen=True)
class RefreshStores:
    catalog: Catalog
    log: InteractionLog
    feedback: NotInterestedFeedback
    features: FeatureStore
    precomputed: PrecomputedStore
    artifacts: IndexArtifacts


@dataclass
class LogSnapshot:
    """What the log holds, per user: summed weights and the actions newest first."""

    pairs: dict[tuple[str, str], float] = field(default_factory=dict)
    histories: dict[str, list[Action]] = field(default_factory=dict)
    ratings: list[tuple[str, str, float]] = field(default_factory=list)
    events: int = 0


def read_log(log: InteractionLog, feedback: NotInterestedFeedback) -> LogSnapshot:
    return snapshot_of(log.scan(), feedback.not_interested_pairs())


def snapshot_of(events: Iterable[LoggedEvent], not_interested: Iterable[tuple[str, str]]) -> LogSnapshot:
    """The trainer's rules over logged events: impressions left out, each (user, item) pair's
    action weights summed, not-interested pairs at NOT_INTERESTED_WEIGHT, histories newest first."""
    snapshot = LogSnapshot()
    timed: dict[str, list[tuple[datetime, Action]]] = {}
    for event in events:
        if event.action == "impression":  # exposure, not a choice the user made
            continue
        snapshot.events += 1
        key = (event.user_id, event.item_id)
        snapshot.pairs[key] = snapshot.pairs.get(key, 0.0) + ACTION_WEIGHTS.get(event.action, 0.0)
        action = Action(event.item_id, disliked=event.action == "dislike")
        timed.setdefault(event.user_id, []).append((event.event_time, action))
        if event.rating is not None:
            snapshot.ratings.append((event.user_id, event.item_id, event.rating))
    for user_id, item_id in not_interested:
        key = (user_id, item_id)
        snapshot.pairs[key] = snapshot.pairs.get(key, 0.0) + NOT_INTERESTED_WEIGHT
    for user_id, actions in timed.items():
        actions.sort(key=lambda e: e[0], reverse=True)  # stable: events of one second keep event-id order
        snapshot.histories[user_id] = [action for _, action in actions]
    return snapshot


def new_version(algorithm: str, now: datetime) -> str:
    return f"{algorithm}-{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(2)}"


def version_time(version: str) -> str:
    """When a version (new_version's `<algorithm>-YYYYmmddTHHMMSSZ-<hex>`) was trained, sortable
    as text; '' for anything else."""
    parts = version.rsplit("-", 2)
    return parts[1] if len(parts) == 3 else ""


def profiles_of(snapshot: LogSnapshot) -> dict[str, UserProfile]:
    weights: dict[str, dict[str, float]] = {}
    for (user_id, item_id), weight in snapshot.pairs.items():
        weights.setdefault(user_id, {})[item_id] = weight
    return {
        user_id: UserProfile(weights=w, recent=snapshot.histories.get(user_id, []))
        for user_id, w in weights.items()
    }


def _rating_calibration(
    model: TrainedModel,
    blend: Blend,
    profiles: dict[str, UserProfile],
    ratings: list[tuple[str, str, float]],
    now: float,
) -> dict[str, list[float]] | None:
    """Isotonic map from the model's score to the ratings users gave, over the log's rated events.
    Each rated item is scored with the user's other items only (its own share removed)."""
    if len(ratings) < 200:
        return None
    position = {item_id: n for n, item_id in enumerate(model.item_ids)}
    pairs = []
    sample = np.random.default_rng(0).permutation(len(ratings))[:CALIBRATION_SAMPLE]
    for user_id, item_id, rating in (ratings[s] for s in sample):
        profile = profiles.get(user_id)
        if profile is None or item_id not in position:
            continue
        weights = {i: w for i, w in profile.weights.items() if i != item_id}
        recent = [a for a in profile.recent if a.item_id != item_id]
        terms = user_terms(position, UserProfile(weights=weights, recent=recent), blend)
        value = float(
            score(
                model, terms, frozenset(), blend, np.asarray([position[item_id]], dtype=np.int64), now
            ).total[0]
        )
        pairs.append((value, rating))
    if len(pairs) < 200:
        return None
    pairs.sort()
    bins = np.array_split(np.asarray(pairs, dtype=np.float64), 20)
    scores = [float(b[:, 0].mean()) for b in bins]
    means = [float(b[:, 1].mean()) for b in bins]
    # pool adjacent violators: a higher score never predicts a lower rating
    blocks: list[list[float]] = []  # [score sum, rating sum, count]
    for s, r in zip(scores, means, strict=True):
        blocks.append([s, r, 1.0])
        while len(blocks) > 1 and blocks[-2][1] / blocks[-2][2] > blocks[-1][1] / blocks[-1][2]:
            last = blocks.pop()
            blocks[-1] = [a + b for a, b in zip(blocks[-1], last, strict=True)]
    return {
        "scores": [round(b[0] / b[2], 6) for b in blocks],
        "ratings": [round(b[1] / b[2], 4) for b in blocks],
        "pairs": len(pairs),  # type: ignore[dict-item]
    }


def _precompute(
    bundle: ModelBundle, profiles: dict[str, UserProfile], blend: Blend, per_user: int, now: float
) -> tuple[list[PrecomputedRow], dict[str, bytes]]:
    """Each user's top `per_user` (what serving would rank without their live history or a
    session), and each user's history vector (the spec's user embedding), a few hundred users at
    a time: the index is asked for all of them at once, and each candidate is scored as serving
    scores it."""
    rows: list[PrecomputedRow] = []
    embeddings: dict[str, bytes] = {}
    users = sorted(profiles, key=lambda u: len(profiles[u].weights))  # alike in how many they consumed
    for start in range(0, len(users), 256):
        chunk = users[start : start + 256]
        terms = [user_terms(bundle.position, profiles[user_id], blend) for user_id in chunk]
        queries = np.stack([query_vector(bundle.P, t) for t in terms])
        consumed = [{bundle.position[i] for i in profiles[u].weights if i in bundle.position} for u in chunk]
        k = min(len(bundle.item_ids), per_user + max(len(c) for c in consumed))
        _, found = bundle.search(queries, k)
        for j, user_id in enumerate(chunk):
            embeddings[user_id] = terms[j]["similar_items"].vector(bundle.P).tobytes()
            if not queries[j].any():
                continue
            candidates = np.asarray([p for p in found[j] if p >= 0 and p not in consumed[j]], dtype=np.int64)
            if not len(candidates):
                continue
            scored = score(bundle, terms[j], frozenset(), blend, candidates, now)  # no favourites offline
            order = np.argsort(-scored.total, kind="stable")[:per_user]
            for rank, (c, kind) in enumerate(
                zip(order, primary_types(scored.parts[:, order]), strict=True), 1
            ):
                item_id = bundle.item_ids[int(candidates[c])]
                rows.append(
                    PrecomputedRow(user_id, item_id, rank, float(scored.total[c]), kind, bundle.version)
                )
    return rows, embeddings


def refresh(
    stores: RefreshStores,
    params: TrainParams | None = None,
    blend: Blend | None = None,
    precomputed_ttl: timedelta = timedelta(hours=24),
    exact_below: int = faiss_index.EXACT_BELOW,
) -> dict[str, Any]:
    """Train in this function, build, publish; returns the published version's metadata."""
    params, blend = params or TrainParams(), blend or Blend()
    started, now = time.perf_counter(), datetime.now(UTC)
    items = stores.catalog.active_items()
    snapshot = read_log(stores.log, stores.feedback)
    read_seconds = time.perf_counter() - started
    if not items or not snapshot.pairs:
        raise RefreshError(f"nothing to train on: {len(items)} active items, {snapshot.events} events")
    steps = {"read_seconds": round(read_seconds, 3)}
    clock = time.perf_counter()
    model = fit(TrainingData(items, snapshot.pairs, snapshot.histories, snapshot.events), params, blend)
    steps["fit_seconds"] = round(time.perf_counter() - clock, 3)
    algorithm = ALGORITHMS[model.stats["models"]]
    trained = Trained(
        version=new_version(algorithm, now),
        algorithm=algorithm,
        model=model,
        items=items,
        profiles=profiles_of(snapshot),
        ratings=snapshot.ratings,
        trained_at=now,
        steps=steps,
    )
    return publish(stores, trained, params, blend, precomputed_ttl, exact_below, started=started)


@dataclass
class Trained:
    """A trained model on its way to publication, and what the publication needs beside it: the
    users' profiles (recall queries and rating calibration, and, when `precompute`, every user's
    top 50 and embedding) and their rated events."""

    version: str
    algorithm: str
    model: TrainedModel
    items: list[Item]
    profiles: dict[str, UserProfile]
    ratings: list[tuple[str, str, float]]
    trained_at: datetime
    steps: dict[str, float]
    precompute: bool = True
    extra: dict[str, Any] = field(default_factory=dict)  # more metadata (the Spark run)


def publish(
    stores: RefreshStores,
    trained: Trained,
    params: TrainParams,
    blend: Blend,
    precomputed_ttl: timedelta = timedelta(hours=24),
    exact_below: int = faiss_index.EXACT_BELOW,
    started: float | None = None,
) -> dict[str, Any]:
    """Build the index, check its recall, write the version's files (and, for a model trained on
    every user, their top 50 and embeddings), then point `latest.json` at it."""
    started = time.perf_counter() if started is None else started
    clock = time.perf_counter()
    model, profiles, now, version = trained.model, trained.profiles, trained.trained_at, trained.version
    steps = dict(trained.steps)
    position = {item_id: n for n, item_id in enumerate(model.item_ids)}
    users = sorted(profiles)
    sample = np.random.default_rng(params.seed).permutation(len(users))[:RECALL_SAMPLE]
    queries = np.stack(
        [query_vector(model.P, user_terms(position, profiles[users[s]], blend)) for s in sample]
        or [np.zeros(model.Q.shape[1], dtype=np.float32)]
    )
    index, report = faiss_index.build(model.Q, queries, exact_below=exact_below)
    steps["index_seconds"], clock = round(time.perf_counter() - clock, 3), time.perf_counter()
    logger.info("index built", extra=report.as_dict())
    if report.recall_at_50 < MIN_RECALL:
        raise RefreshError(f"index recall@50 {report.recall_at_50:.3f} is below {MIN_RECALL}: not published")
    metadata: dict[str, Any] = {
        "model_version": version,
        "algorithm": trained.algorithm,
        "trained_at": now.isoformat(),
        "parameters": params.as_dict(),
        "blend": blend.as_dict(),
        "counts": model.stats,
        "index": report.as_dict(),
        "rating_calibration": _rating_calibration(model, blend, profiles, trained.ratings, now.timestamp()),
        "eval": None,  # `make eval` writes <version>/eval.json beside the version it measured
        **trained.extra,
    }
    bundle = ModelBundle.from_trained(version, model, index, metadata, CatalogSnapshot.of(trained.items, now))
    rows: list[PrecomputedRow] = []
    history_vectors: dict[str, bytes] = {}
    if trained.precompute:
        rows, history_vectors = _precompute(bundle, profiles, blend, PRECOMPUTED_PER_USER, now.timestamp())
        steps["precompute_seconds"] = round(time.perf_counter() - clock, 3)
    metadata["timings"] = {**steps, "total_seconds_before_publish": round(time.perf_counter() - started, 3)}
    for name, data in bundle.to_files().items():
        stores.artifacts.put(version, name, data)
    if trained.precompute:
        stores.features.put_user_embeddings(history_vectors, version, now.isoformat())
        stores.precomputed.replace("homepage", rows, now, now + precomputed_ttl)
    stores.artifacts.mark_latest(version)
    stores.catalog.forget_applied_events(APPLIED_MARKS_KEPT)  # housekeeping: marks no redelivery needs
    metadata["timings"]["total_seconds"] = round(time.perf_counter() - started, 3)
    metadata["timings"]["peak_memory_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    logger.info("model published", extra={"model_version": version, "timings": metadata["timings"]})
    return metadata
