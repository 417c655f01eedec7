"""Training on Spark, without Spark: the job's own numpy against the in-function trainer's, the
arguments the refresh passes against what the job parses, the choice of path, the reconciliation
of runs, and the model built from factors trained elsewhere."""

from __future__ import annotations

import ast
import importlib.util
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from localcloud.runtime.service_events import matches
from recsys.domain import ACTION_WEIGHTS, Item
from recsys.engine import index as faiss_index
from recsys.engine.blend import Blend
from recsys.engine.bundle import CatalogSnapshot, ModelBundle
from recsys.engine.model import UserProfile
from recsys.engine.training import (
    Interactions,
    ItemFactors,
    ItemItemStatistics,
    TrainParams,
    fit,
    fit_factors,
    fit_item_item,
    gram,
    item_factors,
    next_item_gram,
    sequence_map,
)
from recsys.logic import spark_training
from recsys.logic.refresh import NOT_INTERESTED_WEIGHT, RefreshStores, snapshot_of
from recsys.stores.interaction_log import LoggedEvent
from recsys.stores.spark_jobs import JobRun
from tests.unit.engine_fixtures import DEFAULT_PARAMS, ROMANCE, SCIFI, histories, items, training_data
from tests.unit.fakes import FakeCatalog, FakeFeatureStore, FakeFeedback, FakeInteractionLog, FakePrecomputed
from tests.unit.test_engine import acted, top_items

JOB_FILE = Path(__file__).parents[2] / "functions" / "index_refresh" / "jobs" / "train_als.py"


def job_module() -> Any:
    spec = importlib.util.spec_from_file_location("train_als", JOB_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # numpy only at import: pyspark is imported by main()
    return module


def test_the_job_is_python_3_9_which_emr_serverless_runs():
    ast.parse(JOB_FILE.read_text(), feature_version=(3, 9))


def test_the_jobs_next_item_map_is_the_in_function_trainers():
    job = job_module()
    rng = np.random.default_rng(5)
    V = rng.standard_normal((30, 6)).astype(np.float32)
    sequences = [list(rng.integers(0, 30, rng.integers(1, 40))) for _ in range(50)]
    ZZ, ZY, n = np.zeros((6, 6)), np.zeros((6, 6)), 0
    for sequence in sequences:  # the job sums per user, on whichever executor holds the user
        zz, zy, k = job.transitions_gram(sequence, V, 30, 0.95)
        ZZ, ZY, n = ZZ + zz, ZY + zy, n + k
    assert n == sum(max(len(s) - 1, 0) for s in sequences)
    expected = sequence_map(sequences, V, 30, 0.95, 0.1)
    assert np.allclose(job.solve_sequence_map(ZZ, ZY, 0.1), expected, atol=1e-4)


@pytest.mark.parametrize("chunk", [8_000_000, 40])  # one bincount, and many
def test_the_jobs_item_item_statistics_are_the_in_function_trainers(monkeypatch, chunk):
    job = job_module()
    monkeypatch.setattr(job, "CHUNK", chunk)
    rng = np.random.default_rng(3)
    n = 25
    users = [
        (list(rng.integers(0, n, rng.integers(1, 30))), list(rng.integers(0, n, rng.integers(0, 40))))
        for _ in range(60)
    ]
    users.append(([3, 4], []))  # not-interested pairs only: no events
    G, ZZ, ZY = job.item_item_statistics(iter(users), n, 30, 0.95)
    assert np.array_equal(G, gram([items for items, _ in users], n))
    expected_zz, expected_zy = next_item_gram([sequence for _, sequence in users], n, 30, 0.95)
    assert np.allclose(ZZ, expected_zz) and np.allclose(ZY, expected_zy) and ZZ.any()


def test_the_job_orders_a_users_events_as_the_in_function_trainer():
    at = [datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)]
    # as the log scans them: by event id; e1, e3 and e4 share an instant
    logged = [("e1", "a", at[1]), ("e2", "b", at[0]), ("e3", "c", at[1]), ("e4", "d", at[1])]
    history = snapshot_of((LoggedEvent("u", i, "view", t, None) for _, i, t in logged), []).histories["u"]
    in_function = [a.item_id for a in reversed(history)]  # what `fit` makes of it: oldest first
    shuffled = [(t, e, i) for e, i, t in reversed(logged)]
    assert job_module().oldest_first(shuffled) == in_function == ["b", "d", "c", "a"]


def test_a_model_on_item_item_statistics_from_elsewhere_is_the_in_function_model():
    data = training_data()
    in_function = fit(data, DEFAULT_PARAMS, Blend())
    # as the job has them: items in id order, one since taken out of the catalog, counts per item
    item_ids = sorted({i for _, i in data.pairs} | {"gone"})
    column = {item_id: c for c, item_id in enumerate(item_ids)}
    by_user: dict[str, list[int]] = {}
    for user, item_id in data.pairs:
        by_user.setdefault(user, []).append(column[item_id])
    by_user["g"] = [column["gone"]]  # its user's only item
    sequences = [[column[a.item_id] for a in reversed(h)] for h in data.histories.values()]
    ZZ, ZY = next_item_gram(sequences, len(item_ids), Blend().sequence_items, Blend().sequence_decay)
    users_per_item = np.bincount([c for cs in by_user.values() for c in cs], minlength=len(item_ids))
    statistics = ItemItemStatistics(
        item_ids=item_ids,
        G=gram(list(by_user.values()), len(item_ids)).astype(np.float32),  # as the job writes them
        ZZ=ZZ.astype(np.float32),
        ZY=ZY.astype(np.float32),
        item_users=users_per_item.astype(np.float32),
        stats={"users": 60, "pairs": len(data.pairs), "events": data.events},
    )
    model = fit_item_item(data.items, statistics, list(data.histories.values()), DEFAULT_PARAMS, Blend())
    assert model.stats["models"] == "ease" and model.stats["items_from_content"] == 4  # 2 new, 2 unseen
    assert model.item_ids == in_function.item_ids and model.P.shape == in_function.P.shape
    assert np.allclose(model.P, in_function.P, atol=1e-4) and np.allclose(model.Q, in_function.Q)
    assert np.array_equal(model.warm, in_function.warm)


def test_a_small_catalog_asks_the_job_for_the_item_item_statistics_and_a_large_one_does_not():
    for limit, expected in ((2, True), (1, False)):  # the fake catalog has 2 items
        artifacts, jobs = Artifacts(), Jobs()
        settings = spark_training.SparkSettings(**{**SETTINGS.__dict__, "item_item_max": limit})
        answer = spark_training.run_refresh(stores(artifacts, events=5000), jobs, b"job", settings)
        ((version, _, arguments, _),) = jobs.started
        assert job_module().arguments(arguments).item_item is expected
        assert version.startswith("ease-sequential-" if expected else "als-sequential-")
        assert json.loads(artifacts.get(version, "spark/run.json"))["item_item"] is expected
        assert answer["model_version"] == version


@dataclass
class Artifacts:  # IndexArtifacts
    files: dict[str, bytes] = field(default_factory=dict)
    latest: str | None = None

    def put(self, version: str, name: str, data: bytes) -> None:
        self.files[f"{version}/{name}"] = data

    def get(self, version: str, name: str) -> bytes:
        return self.files[f"{version}/{name}"]

    def has(self, version: str, name: str) -> bool:
        return f"{version}/{name}" in self.files

    def uri(self, version: str, name: str) -> str:
        return f"s3://bucket/{version}/{name}"

    def mark_latest(self, version: str) -> None:
        self.latest = version

    def latest_version(self) -> str | None:
        return self.latest


@dataclass
class Jobs:  # SparkJobs
    listed: list[JobRun] = field(default_factory=list)
    started: list[tuple[str, str, list[str], str]] = field(default_factory=list)

    def start(self, name: str, entry_point: str, arguments: list[str], spark_parameters: str) -> str:
        self.started.append((name, entry_point, arguments, spark_parameters))
        return "run-1"

    def get(self, run_id: str) -> JobRun:
        return next(r for r in self.listed if r.run_id == run_id)

    def runs(self, states: tuple[str, ...]) -> list[JobRun]:
        return [r for r in self.listed if r.state in states]


def stores(artifacts: Artifacts, events: int = 0) -> RefreshStores:
    return RefreshStores(
        catalog=FakeCatalog([Item("a", "A"), Item("b", "B")]),
        log=FakeInteractionLog(),
        feedback=FakeFeedback([("u1", "a")]),
        features=FakeFeatureStore(events_applied=events),
        precomputed=FakePrecomputed(),
        artifacts=artifacts,
    )


SETTINGS = spark_training.SparkSettings(
    threshold=1000, keyspace="ks", cassandra_hosts=("h1", "h2"), cassandra_port=9042, cassandra_dc="dc1"
)


def test_the_job_parses_what_the_refresh_passes_and_finds_its_inputs_beside_the_version():
    artifacts, jobs = Artifacts(), Jobs()
    answer = spark_training.run_refresh(stores(artifacts, events=5000), jobs, b"job", SETTINGS)
    assert answer["status"] == "training" and answer["job_run_id"] == "run-1"
    ((version, entry_point, arguments, spark_parameters),) = jobs.started
    assert version == answer["model_version"] and version.startswith("ease-sequential-")  # 2 items
    assert (
        entry_point == f"s3://bucket/{version}/spark/train_als.py"
        and artifacts.get(version, "spark/train_als.py") == b"job"
    )
    parsed = job_module().arguments(arguments)
    assert json.loads(parsed.weights) == ACTION_WEIGHTS
    assert parsed.not_interested_weight == NOT_INTERESTED_WEIGHT
    assert parsed.keyspace == "ks" and parsed.output == f"s3://bucket/{version}/spark/output"
    assert artifacts.get(version, "spark/input/items.txt") == b"a\nb\n"
    assert json.loads(artifacts.get(version, "spark/input/not_interested.jsonl")) == {
        "user_id": "u1",
        "item_id": "a",
    }
    assert "spark.cassandra.connection.host=h1,h2" in spark_parameters
    assert spark_training.CONNECTOR in spark_parameters


def test_the_path_follows_the_threshold_unless_one_is_asked_for():
    assert spark_training.choose("auto", 1000, 1000, True) == "lambda"
    assert spark_training.choose("auto", 1001, 1000, True) == "spark"
    assert spark_training.choose("auto", 10**9, 1000, False) == "lambda"  # no application: no choice
    assert spark_training.choose("lambda", 10**9, 1000, True) == "lambda"
    assert spark_training.choose("spark", 0, 1000, True) == "spark"
    with pytest.raises(ValueError, match="no Spark application"):
        spark_training.choose("spark", 0, 1000, False)
    with pytest.raises(ValueError, match="must be one of"):
        spark_training.choose("gpu", 0, 1000, True)


def test_a_run_in_flight_starts_nothing_more():
    jobs = Jobs(listed=[JobRun("r0", "als-sequential-20261201T100000Z-aaaa", "RUNNING")])
    answer = spark_training.run_refresh(stores(Artifacts(), events=5000), jobs, b"job", SETTINGS)
    assert answer == {
        "status": "training",
        "model_version": "als-sequential-20261201T100000Z-aaaa",
        "job_run_id": "r0",
    }
    assert jobs.started == []


def test_only_a_run_newer_than_the_published_model_and_with_its_outputs_is_published_late():
    older = JobRun("r1", "als-sequential-20261201T090000Z-aaaa", "SUCCESS")
    newer = JobRun("r2", "als-sequential-20261201T110000Z-bbbb", "SUCCESS")
    artifacts = Artifacts(latest="ease-sequential-20261201T100000Z-cccc")
    jobs = Jobs(listed=[older, newer])
    assert spark_training._unfinished(stores(artifacts), jobs) is None  # its outputs are gone
    artifacts.put(newer.name, "spark/output/stats.json", b"{}")
    assert spark_training._unfinished(stores(artifacts), jobs) == newer
    artifacts.put(newer.name, spark_training.FAILED, b"{}")  # its publication failed once
    assert spark_training._unfinished(stores(artifacts), jobs) is None
    del artifacts.files[f"{newer.name}/{spark_training.FAILED}"]
    artifacts.latest = "ease-sequential-20261201T120000Z-dddd"
    assert spark_training._unfinished(stores(artifacts), jobs) is None


def test_a_run_older_than_the_published_model_is_not_published_and_a_broken_one_is_marked():
    run = JobRun("r4", "als-sequential-20261201T110000Z-ffff", "SUCCESS")
    artifacts = Artifacts(latest="ease-sequential-20261201T120000Z-dddd")
    assert spark_training.finish(stores(artifacts), Jobs(listed=[run]), "r4")["status"] == "superseded"
    artifacts.latest = None  # nothing newer, but the run's outputs are missing
    with pytest.raises(KeyError):
        spark_training.finish(stores(artifacts), Jobs(listed=[run]), "r4")
    assert "KeyError" in json.loads(artifacts.get(run.name, spark_training.FAILED))["error"]


def test_a_failed_run_publishes_nothing():
    jobs = Jobs(listed=[JobRun("r3", "als-sequential-20261201T110000Z-eeee", "FAILED", "exit 1")])
    answer = spark_training.finish(stores(Artifacts()), jobs, "r3")
    assert answer["status"] == "failed" and answer["details"] == "exit 1"


def test_a_model_on_factors_trained_elsewhere_learns_tastes_and_what_follows():
    catalog, watched = items(), histories()
    warm = [i.item_id for i in catalog if i.item_id in SCIFI + ROMANCE]
    column = {item_id: c for c, item_id in enumerate(warm)}
    X = Interactions.of([[column[a.item_id] for a in h] for h in watched.values()], len(warm))
    V, _ = item_factors(X, 6, oversample=10, power=2, seed=0)  # stands in for ALS's factors
    sequences = [[column[a.item_id] for a in reversed(h)] for h in watched.values()]
    factors = ItemFactors(
        item_ids=warm,
        V=3.0 * V,  # ALS's factors are not orthonormal: the scale must not matter
        item_users=np.full(len(warm), 7.5, dtype=np.float32),
        M=sequence_map(sequences, V, 30, 0.95, 0.1),
        fold_in_regs=(0.1, 10.0),
        stats={"users": len(watched), "pairs": 120, "events": 120},
    )
    model = fit_factors(catalog, factors, list(watched.values()), TrainParams(content_ridge=0.1), Blend())
    assert model.stats["models"] == "als" and model.stats["fold_in_reg"] in (0.1, 10.0)
    assert model.stats["items_from_content"] == 2 and model.P[len(catalog) - 1].any()
    index, report = faiss_index.build(model.Q, model.Q[:4])
    metadata = {"model_version": "t", "blend": Blend().as_dict(), "index": report.as_dict()}
    bundle = ModelBundle.from_trained(
        "t", model, index, metadata, CatalogSnapshot.of(catalog, datetime.now(UTC))
    )
    bundle.created[:] = 1_000_000_000.0
    scifi_fan = UserProfile(weights={SCIFI[0]: 3.0, SCIFI[1]: 3.0}, recent=acted(SCIFI[1], SCIFI[0]))
    assert all(i.startswith("scifi") for i in top_items(bundle, scifi_fan, k=3))
    romance_fan = UserProfile(weights={ROMANCE[3]: 3.0}, recent=acted(ROMANCE[3]))
    assert top_items(bundle, romance_fan, k=1) == [ROMANCE[4]]  # the chain's next item


def test_rule_patterns_match_by_exact_values_field_by_field():
    event = {"source": "aws.emr-serverless", "detail": {"state": "SUCCESS", "applicationId": "app"}}
    assert matches({"source": ["aws.emr-serverless"], "detail": {"state": ["SUCCESS", "FAILED"]}}, event)
    assert not matches({"detail": {"state": ["RUNNING"]}}, event)
    assert not matches({"detail": {"applicationId": ["other"]}}, event)
    assert not matches({"detail": {"jobRunName": ["x"]}}, event)  # a field the event lacks
