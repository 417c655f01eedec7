"""A small world with known structure, trained by the real training code: two tastes (sci-fi and
romance), each a chain of items that users consume in order, plus items nobody has touched."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from recsys.domain import Item
from recsys.engine import index as faiss_index
from recsys.engine.blend import Blend
from recsys.engine.bundle import CatalogSnapshot, ModelBundle
from recsys.engine.model import Action
from recsys.engine.training import TrainingData, TrainParams, fit

SCIFI = [f"scifi_{n}" for n in range(8)]
ROMANCE = [f"romance_{n}" for n in range(8)]
COLD = {"scifi_new": "SciFi", "romance_new": "Romance"}


def items() -> list[Item]:
    catalog = [Item(i, f"Space {i}", category="SciFi", tags=("space", "future")) for i in SCIFI]
    catalog += [Item(i, f"Love {i}", category="Romance", tags=("love", "paris")) for i in ROMANCE]
    catalog += [
        Item("scifi_new", "Space odyssey", category="SciFi", tags=("space", "future")),
        Item("romance_new", "Love in paris", category="Romance", tags=("love", "paris")),
    ]
    return catalog


def histories(users_per_taste: int = 30, seed: int = 3) -> dict[str, list[Action]]:
    """Each user watches four consecutive items of one chain, in chain order (newest first here)."""
    rng = np.random.default_rng(seed)
    watched: dict[str, list[Action]] = {}
    for taste, chain in (("s", SCIFI), ("r", ROMANCE)):
        for u in range(users_per_taste):
            start = int(rng.integers(0, 4))
            watched[f"{taste}{u}"] = [Action(i) for i in reversed(chain[start : start + 4])]
    return watched


def training_data() -> TrainingData:
    history = histories()
    pairs = {(user, a.item_id): 3.0 for user, actions in history.items() for a in actions}
    return TrainingData(items(), pairs, history, events=len(pairs))


DEFAULT_PARAMS = TrainParams(ease_lambda=5.0, sequence_lambda=5.0, content_ridge=0.1)


def trained(
    params: TrainParams | None = None, blend: Blend | None = None
) -> tuple[TrainingData, ModelBundle]:
    data = training_data()
    model = fit(data, params or DEFAULT_PARAMS, blend or Blend())
    index, report = faiss_index.build(model.Q, model.Q[:4])
    metadata = {"model_version": "test-v1", "blend": Blend().as_dict(), "index": report.as_dict()}
    catalog = CatalogSnapshot.of(data.items, datetime(2026, 1, 1, tzinfo=UTC))
    bundle = ModelBundle.from_trained("test-v1", model, index, metadata, catalog)
    bundle.created[:] = 1_000_000_000.0  # 2001: old items, unless a test says otherwise
    return data, bundle
