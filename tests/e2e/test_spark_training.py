"""Training on Spark end to end, on MovieLens-100k through `make eval`'s harness: on a stack
whose SparkTrainingThreshold is set low, the refresh starts an EMR Serverless run that the
emulator executes with pyspark (`local[2]`, reading the eval stack's Cassandra through the Spark
Cassandra Connector); the run's state-change event brings the refresh function back, which
publishes what the job trained; every held-out user's recommendations then come through the API
from that version. The same split is trained in the function first, for comparison; and once more
on Spark with SparkItemItemMaxItems at 0, so that the path for large catalogs (ALS's factors)
runs too."""

from __future__ import annotations

import json

import pytest

from evaluation.served import evaluate
from localcloud.settings import EVAL_STACK

THRESHOLD = 1000  # logged events; the split's training events are some 99,000


def _metadata(cloud, version: str) -> dict:
    return json.loads(cloud.index_artifacts(EVAL_STACK).get(version, "metadata.json"))


@pytest.fixture(scope="module")
def runs(cloud):
    in_function = evaluate(cloud, "lambda", baselines=False)
    runs = {"lambda": (in_function, _metadata(cloud, in_function["served"]["model_version"]))}
    # the stack's threshold set low: the refresh chooses Spark by the log's size (and deploys afresh)
    for name, parameters in (
        ("item-item", {"SparkTrainingThreshold": str(THRESHOLD)}),
        ("als", {"SparkTrainingThreshold": str(THRESHOLD), "SparkItemItemMaxItems": "0"}),
    ):
        summary = evaluate(cloud, baselines=False, parameters=parameters)
        runs[name] = (summary, _metadata(cloud, summary["served"]["model_version"]))
    return runs


@pytest.mark.parametrize(
    ("run", "algorithm", "dimensions"),
    [("item-item", "ease", None), ("als", "als", 64)],  # None: the in-function model's, exact
)
def test_a_model_trained_on_spark_is_published_and_answers_every_request(runs, run, algorithm, dimensions):
    _, in_function_metadata = runs["lambda"]
    on_spark, metadata = runs[run]
    version = on_spark["served"]["model_version"]
    assert version.startswith(f"{algorithm}-sequential-")
    assert metadata["algorithm"] == f"{algorithm}-sequential"
    assert on_spark["served"]["answered_by"] == [version]
    spark = metadata["spark"]
    assert spark["job_run_id"] and spark["timings"]["als_seconds"] > 0
    assert ("item_item_seconds" in spark["timings"]) is (run == "item-item")
    assert spark["events"] > THRESHOLD  # what the refresh counted when it chose Spark
    # the job read the same log from Cassandra as the function did, and trained ALS on it
    assert spark["counts"]["events"] == in_function_metadata["counts"]["events"] > 90_000
    assert spark["counts"]["users"] == in_function_metadata["counts"]["users"] == 943
    assert metadata["counts"]["models"] == algorithm
    assert metadata["counts"]["dimensions"] == (dimensions or in_function_metadata["counts"]["dimensions"])
    assert metadata["index"]["recall_at_50"] >= 0.9


def test_the_spark_model_ranks_held_out_items_as_the_in_function_model_within_one_standard_error(runs):
    """The issue's measure: on a catalog the refresh can solve item-item models for, the job sums
    the same statistics over the log as the function does, so the two models are the same."""
    (theirs, _), (ours, _) = runs["lambda"], runs["item-item"]
    for metric in ("hr@10", "ndcg@10"):
        assert abs(ours["served"][metric] - theirs["served"][metric]) <= theirs["served"][f"se_{metric}"], (
            metric,
            ours["served"],
            theirs["served"],
        )


def test_the_als_model_for_large_catalogs_ranks_held_out_items_near_the_in_function_model(runs):
    """ALS is low-rank and the in-function model on this catalog is not: measured here it is about
    2.6 standard errors below (README "Training on Spark"), so this holds it to three."""
    (theirs, _), (ours, _) = runs["lambda"], runs["als"]
    for metric in ("hr@10", "ndcg@10"):
        floor = theirs["served"][metric] - 3 * theirs["served"][f"se_{metric}"]
        assert ours["served"][metric] >= floor, (metric, ours["served"], theirs["served"])
