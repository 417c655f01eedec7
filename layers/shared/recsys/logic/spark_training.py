"""Training on Spark: for interaction logs past what the refresh function can train.

A refresh decides by size (`choose`): up to the threshold (the template's SparkTrainingThreshold,
counted by the real-time features, which take in every logged event once) it trains in the
function (logic/refresh.py). Above it, `start` writes the job's inputs beside the new version
(`<version>/spark/`: the job file, the catalog's active item ids, the not-interested pairs) and
starts an EMR Serverless run of functions/index_refresh/jobs/train_als.py, named after the version.
On a catalog of up to `item_item_max` active items the job also sums the items × items
statistics the in-function trainer solves its item-item models from (the version is named after
those models). When the run ends, EMR Serverless's state-change event (an EventBridge rule)
invokes the refresh function again, and `finish` solves those models from the statistics, or
builds the low-rank model from ALS's factors, places the items without interactions by their
content, and publishes through the same steps as the in-function path (index, recall check,
files, `latest.json` last).

Robustness: the run's name is its client token, so a retried start starts one run; `finish` is
idempotent (a version already published, or older than the one published, is left alone), and a
scheduled refresh that finds a run ended but never published (its event lost) publishes it, or
finds one in flight and starts nothing. A run that failed, or whose model could not be published
(`spark/failed.json` says why), leaves `latest.json` on the previous version.
"""

from __future__ import annotations

import json
import shlex
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from recsys.domain import ACTION_WEIGHTS
from recsys.engine.blend import Blend
from recsys.engine.bundle import npz_arrays
from recsys.engine.training import ItemFactors, ItemItemStatistics, TrainParams, fit_factors, fit_item_item
from recsys.logic.refresh import (
    ALGORITHMS,
    NOT_INTERESTED_WEIGHT,
    LogSnapshot,
    RefreshStores,
    Trained,
    new_version,
    profiles_of,
    publish,
    refresh,
    snapshot_of,
    version_time,
)
from recsys.observability import logger
from recsys.stores.interaction_log import LoggedEvent
from recsys.stores.spark_jobs import IN_FLIGHT

if TYPE_CHECKING:
    from recsys.stores.spark_jobs import JobRun, SparkJobs

# what a run's version is named after: the item-item models solved from the job's statistics, or ALS
SPARK_ALGORITHMS = (ALGORITHMS["ease"], ALGORITHMS["als"])
# Spark 3.5 (EMR 7.x) and the connector built for it: Spark 4 fails at the first read.
CONNECTOR = "com.datastax.spark:spark-cassandra-connector_2.12:3.5.1"
PATHS = ("auto", "lambda", "spark")
FAILED = "spark/failed.json"  # beside a run whose publication failed: what went wrong
# weights of the next-item rows tried, on held-out events, when the model is built from the job's
# factors: the blend's own was chosen for the in-function models, whose rows have other scales
SEQUENCE_WEIGHTS = (0.0, 0.0625, 0.125, 0.25, 0.5, 1.0)


@dataclass(frozen=True)
class SparkSettings:
    threshold: int  # logged events above which a refresh trains on Spark
    keyspace: str
    cassandra_hosts: tuple[str, ...]
    cassandra_port: int
    cassandra_dc: str
    # catalogs of up to this many active items get the in-function item-item models, solved in the
    # refresh from the job's items × items statistics; larger ones the ALS factors
    item_item_max: int = 4096
    iterations: int = 15
    reg: float = 0.1
    alpha: float = 1.0


def choose(requested: str, events: int, threshold: int, spark_configured: bool) -> str:
    """'lambda' or 'spark': what was asked for, else by size."""
    if requested not in PATHS:
        raise ValueError(f"training must be one of {PATHS}, not {requested!r}")
    if requested == "spark" and not spark_configured:
        raise ValueError("training on Spark asked for, but the function has no Spark application")
    if requested != "auto":
        return requested
    return "spark" if spark_configured and events > threshold else "lambda"


def run_refresh(
    stores: RefreshStores,
    jobs: SparkJobs | None,
    job_file: bytes,
    settings: SparkSettings,
    requested: str = "auto",
    params: TrainParams | None = None,
    blend: Blend | None = None,
) -> dict[str, Any]:
    """A refresh: publishes a run that ended unpublished, waits for one in flight, or trains."""
    params, blend = params or TrainParams(), blend or Blend()
    if jobs is not None:
        pending = _unfinished(stores, jobs)
        if pending is not None and pending.ended:
            return finish(stores, jobs, pending.run_id, params, blend)
        if pending is not None:
            logger.info("a Spark run is in flight; nothing started", extra={"job_run_id": pending.run_id})
            return {"status": "training", "model_version": pending.name, "job_run_id": pending.run_id}
    events = stores.features.events_applied()
    path = choose(requested, events, settings.threshold, jobs is not None)
    logger.info("training path", extra={"path": path, "events": events, "threshold": settings.threshold})
    if path == "lambda" or jobs is None:
        return refresh(stores, params, blend)
    return start(stores, jobs, job_file, settings, params, blend, events)


def _unfinished(stores: RefreshStores, jobs: SparkJobs) -> JobRun | None:
    """The newest Spark run in flight, or the newest that succeeded, if it trained after the
    published version and is not published."""
    running = jobs.runs(IN_FLIGHT)
    if running:
        return max(running, key=lambda r: version_time(r.name))
    ours = tuple(f"{algorithm}-" for algorithm in SPARK_ALGORITHMS)
    succeeded = [r for r in jobs.runs(("SUCCESS",)) if r.name.startswith(ours)]
    newest = max(succeeded, key=lambda r: version_time(r.name), default=None)
    latest = stores.artifacts.latest_version() or ""
    if (
        newest is not None
        and version_time(newest.name) > version_time(latest)
        and stores.artifacts.has(newest.name, "spark/output/stats.json")  # what finish reads
        and not stores.artifacts.has(newest.name, FAILED)
    ):
        return newest
    return None


def start(
    stores: RefreshStores,
    jobs: SparkJobs,
    job_file: bytes,
    settings: SparkSettings,
    params: TrainParams,
    blend: Blend,
    events: int,
) -> dict[str, Any]:
    now = datetime.now(UTC)
    active = stores.catalog.active_items()
    item_item = len(active) <= settings.item_item_max
    version = new_version(ALGORITHMS["ease" if item_item else "als"], now)
    artifacts = stores.artifacts
    items = "".join(f"{item.item_id}\n" for item in active)
    not_interested = "".join(
        json.dumps({"user_id": u, "item_id": i}) + "\n" for u, i in stores.feedback.not_interested_pairs()
    )
    inputs = {
        "spark/train_als.py": job_file,
        "spark/input/items.txt": items.encode(),
        "spark/input/not_interested.jsonl": not_interested.encode(),
    }
    for name, data in inputs.items():
        artifacts.put(version, name, data)
    arguments = [
        *("--keyspace", settings.keyspace),
        *("--weights", json.dumps(ACTION_WEIGHTS)),
        *("--items", artifacts.uri(version, "spark/input/items.txt")),
        *("--not-interested", artifacts.uri(version, "spark/input/not_interested.jsonl")),
        *("--not-interested-weight", str(NOT_INTERESTED_WEIGHT)),
        *("--output", artifacts.uri(version, "spark/output")),
        *("--rank", str(params.low_rank_dims), "--iterations", str(settings.iterations)),
        *("--reg", str(settings.reg), "--alpha", str(settings.alpha)),
        *("--window", str(blend.sequence_items), "--decay", str(blend.sequence_decay)),
        *("--sequence-ridge", str(params.low_rank_sequence_ridge), "--seed", str(params.seed)),
        *("--sample-users", str(params.scale_users)),
        *(("--item-item",) if item_item else ()),
    ]
    conf = {
        "spark.jars.packages": CONNECTOR,
        "spark.cassandra.connection.host": ",".join(settings.cassandra_hosts),
        "spark.cassandra.connection.port": str(settings.cassandra_port),
        "spark.cassandra.connection.localDC": settings.cassandra_dc,
    }
    spark_parameters = " ".join(f"--conf {shlex.quote(f'{k}={v}')}" for k, v in conf.items())
    run_id = jobs.start(version, artifacts.uri(version, "spark/train_als.py"), arguments, spark_parameters)
    run = {
        "job_run_id": run_id,
        "started_at": now.isoformat(),
        "events": events,
        "item_item": item_item,
        "arguments": arguments,
    }
    artifacts.put(version, "spark/run.json", json.dumps(run).encode())
    logger.info("Spark run started", extra={"model_version": version, "job_run_id": run_id, "events": events})
    return {"status": "training", "model_version": version, "job_run_id": run_id, "events": events}


def finish(
    stores: RefreshStores,
    jobs: SparkJobs,
    run_id: str,
    params: TrainParams | None = None,
    blend: Blend | None = None,
) -> dict[str, Any]:
    """Publish what a Spark run trained once it has succeeded (its state-change event)."""
    params, blend = params or TrainParams(), blend or Blend()
    run = jobs.get(run_id)
    version, artifacts = run.name, stores.artifacts
    if not run.ended:
        return {"status": "training", "model_version": version, "job_run_id": run_id, "state": run.state}
    if run.state != "SUCCESS":
        logger.error("Spark run ended without a model", extra={"job_run_id": run_id, "state": run.state})
        return {"status": "failed", "model_version": version, "job_run_id": run_id, "details": run.details}
    latest = artifacts.latest_version() or ""
    if latest == version:
        return {"status": "published", "model_version": version, "job_run_id": run_id}
    if version_time(latest) > version_time(version):  # a newer model was published meanwhile
        return {"status": "superseded", "model_version": version, "job_run_id": run_id, "latest": latest}
    try:
        return _publish_run(stores, version, run_id, params, blend)
    except Exception as exc:
        # marked, so that later refreshes train anew rather than try this run again
        artifacts.put(version, FAILED, json.dumps({"error": f"{type(exc).__name__}: {exc}"}).encode())
        raise


def _publish_run(
    stores: RefreshStores, version: str, run_id: str, params: TrainParams, blend: Blend
) -> dict[str, Any]:
    artifacts = stores.artifacts
    started = time.perf_counter()
    started_run = json.loads(artifacts.get(version, "spark/run.json"))
    stats = json.loads(artifacts.get(version, "spark/output/stats.json"))
    sample: dict[str, list[list[Any]]] = json.loads(artifacts.get(version, "spark/output/sample.json"))
    items = stores.catalog.active_items()
    sampled = _sampled_snapshot(sample, stores)
    histories = list(sampled.histories.values())
    factors = npz_arrays(artifacts.get(version, "spark/output/factors.npz"))
    counts = {k: stats["counts"][k] for k in ("users", "pairs", "events")}
    if started_run.get("item_item"):
        statistics = npz_arrays(artifacts.get(version, "spark/output/item_item.npz"))
        model = fit_item_item(
            items,
            ItemItemStatistics(
                item_ids=[str(i) for i in statistics["item_ids"]],
                G=statistics["gram"],
                ZZ=statistics["next_zz"],
                ZY=statistics["next_zy"],
                item_users=factors["item_users"],  # the same items, in the same order
                stats=counts,
            ),
            histories,
            params,
            blend,
        )
    else:
        reg = float(stats["parameters"]["reg"])
        item_factors = ItemFactors(
            item_ids=[str(i) for i in factors["item_ids"]],
            V=factors["item_factors"],
            item_users=factors["item_users"],
            M=factors["sequence_map"],
            # ALS's own λ, and as MLlib applies it (ALS-WR: scaled by each user's count of items)
            # to a user with the mean count
            fold_in_regs=(reg, reg * stats["counts"]["pairs"] / max(stats["counts"]["users"], 1)),
            sequence_weights=SEQUENCE_WEIGHTS,
            stats=counts,
        )
        model = fit_factors(items, item_factors, histories, params, blend)
    trained = Trained(
        version=version,
        algorithm=ALGORITHMS[model.stats["models"]],
        model=model,
        items=items,
        profiles=profiles_of(sampled),
        ratings=sampled.ratings,
        trained_at=datetime.fromisoformat(started_run["started_at"]),
        steps={
            "spark_seconds": stats["timings"]["total_seconds"],
            "fit_seconds": round(time.perf_counter() - started, 3),
        },
        # Every user's top 50 needs every user's history, which only the job read: the request
        # path's fallback for a Spark-trained model is popularity (README "Architecture").
        precompute=False,
        extra={"spark": {"job_run_id": run_id, "events": started_run["events"], **stats}},
    )
    return publish(stores, trained, params, blend)


def _sampled_snapshot(sample: dict[str, list[list[Any]]], stores: RefreshStores) -> LogSnapshot:
    """The sampled users under the in-function trainer's rules (logic/refresh.snapshot_of)."""
    events = (
        LoggedEvent(user_id, item_id, action, datetime.fromtimestamp(at, UTC), rating)
        for user_id, rows in sample.items()
        for item_id, action, rating, at in rows
    )
    not_interested = [(u, i) for u, i in stores.feedback.not_interested_pairs() if u in sample]
    return snapshot_of(events, not_interested)
