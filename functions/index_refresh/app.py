"""Scheduled (and `make refresh`): retrain on the interaction log, publish a new model version.

Small logs train here; large ones on Spark (jobs/train_als.py), and the run's end comes back
here as EMR Serverless's state-change event, which publishes what it trained."""

from pathlib import Path
from typing import Any

from recsys.api import dependencies as deps
from recsys.config import get_settings
from recsys.logic import spark_training
from recsys.logic.refresh import RefreshStores
from recsys.observability import event_id, metrics, observed

JOB_FILE = Path(__file__).with_name("jobs") / "train_als.py"


@observed(correlation=event_id)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    settings = get_settings()
    stores = RefreshStores(
        catalog=deps.catalog(),
        log=deps.interaction_log(),
        feedback=deps.feedback_store(),
        features=deps.feature_store(),
        precomputed=deps.precomputed_store(),
        artifacts=deps.index_artifacts(),
    )
    jobs = deps.spark_jobs()
    if event.get("source") == "aws.emr-serverless" and jobs is not None:  # a Spark run changed state
        result = spark_training.finish(stores, jobs, event["detail"]["jobRunId"])
    else:
        spark = spark_training.SparkSettings(
            threshold=settings.spark_training_threshold,
            keyspace=settings.cassandra_keyspace,
            cassandra_hosts=settings.cassandra_contact_points,
            cassandra_port=settings.cassandra_port,
            cassandra_dc=settings.cassandra_local_dc,
            item_item_max=settings.spark_item_item_max_items,
        )
        result = spark_training.run_refresh(
            stores, jobs, JOB_FILE.read_bytes(), spark, event.get("training", "auto")
        )
    if "timings" in result:
        metrics.add_metric(
            name="ModelRefreshSeconds", unit="Seconds", value=result["timings"]["total_seconds"]
        )
    return result
