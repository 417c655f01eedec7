"""Scheduled (and `make refresh`): retrain on the interaction log, publish a new model version."""

from typing import Any

from recsys.api import dependencies as deps
from recsys.logic.refresh import RefreshStores, refresh
from recsys.observability import logger, metrics


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    metadata = refresh(
        RefreshStores(
            catalog=deps.catalog(),
            log=deps.interaction_log(),
            feedback=deps.feedback_store(),
            features=deps.feature_store(),
            precomputed=deps.precomputed_store(),
            artifacts=deps.index_artifacts(),
        )
    )
    metrics.add_metric(name="ModelRefreshSeconds", unit="Seconds", value=metadata["timings"]["total_seconds"])
    return metadata
