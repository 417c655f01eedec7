"""A stack's models: the one published last, and a refresh run now through the runtime (for one
trained on Spark, until the run's model is published)."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from localcloud.aws_resources import spark_applications
from localcloud.invocations import invoke
from localcloud.progress import elapsed
from localcloud.services.base import ServiceError
from localcloud.services.servers import Servers
from localcloud.settings import SERVED_STACK, Stack
from localcloud.template import StackContext

if TYPE_CHECKING:
    from recsys.stores.index_artifacts import S3IndexArtifacts


def index_artifacts(servers: Servers, stack: Stack) -> S3IndexArtifacts:
    """The stack's published models (its IndexArtifactsBucket)."""
    from recsys.stores.index_artifacts import S3IndexArtifacts

    context = stack.context(servers.ports, servers.layout)
    bucket = context.resolve(
        context.template["Resources"]["IndexArtifactsBucket"]["Properties"]["BucketName"]
    )
    return S3IndexArtifacts(servers.aws_client("s3"), bucket)


def latest_model(servers: Servers, context: StackContext) -> str | None:
    """The version the deployed stack serves, if any was published."""
    from recsys.stores.index_artifacts import S3IndexArtifacts

    bucket = context.resources["IndexArtifactsBucket"]["Ref"]
    return S3IndexArtifacts(servers.aws_client("s3"), bucket).latest_version()


def refresh_metadata(
    servers: Servers, invoke_port: int | None = None, stack: Stack = SERVED_STACK, training: str = "auto"
) -> dict[str, Any]:
    """Run the refresh function now, through the runtime; returns the published version's
    metadata. A refresh that trains on Spark answers at once: this then waits for the run to
    end and its model to be published (the run's state-change event does that)."""
    payload_in = json.dumps({"training": training}).encode()
    expected = previous_duration(servers, stack, spark=training == "spark")
    with elapsed("refresh (read, train, index, publish)", expected):
        result = invoke(servers, "IndexRefreshFunction", payload_in, invoke_port)
    payload = json.loads(result["Payload"].read() or b"null")
    if result.get("FunctionError") or not isinstance(payload, dict) or "model_version" not in payload:
        message = payload.get("errorMessage") if isinstance(payload, dict) else payload
        raise ServiceError(f"the refresh failed: {message}")
    if payload.get("status") != "training":
        return payload
    return _published(servers, stack, payload["model_version"], payload["job_run_id"])


def _published(
    servers: Servers, stack: Stack, version: str, run_id: str, timeout: float = 1800.0
) -> dict[str, Any]:
    from recsys.logic.spark_training import FAILED

    artifacts = index_artifacts(servers, stack)
    context = stack.context(servers.ports, servers.layout)
    application = context.resolve(
        context.template["Resources"]["SparkTrainingApplication"]["Properties"]["Name"]
    )
    emr = servers.aws_client("emr-serverless")
    (found,) = spark_applications(emr, {application})
    application_id = found["id"]
    print(f"  training {version} on Spark (run {run_id}); waiting for it to be published", flush=True)
    deadline = time.monotonic() + timeout
    with elapsed("Spark run", previous_duration(servers, stack, spark=True)) as bar:
        while time.monotonic() < deadline:
            if artifacts.latest_version() == version:
                return dict(json.loads(artifacts.get(version, "metadata.json")))
            if artifacts.has(version, FAILED):
                raise ServiceError(
                    f"{version} was trained but not published: {artifacts.get(version, FAILED).decode()}"
                )
            run = emr.get_job_run(applicationId=application_id, jobRunId=run_id)["jobRun"]
            if run["state"] in ("FAILED", "CANCELLED"):
                raise ServiceError(f"the Spark run {run_id} {run['state']}: {run.get('stateDetails', '')}")
            bar.status = str(run["state"]).lower()
            time.sleep(1.0)
    raise ServiceError(f"{version} was not published within {timeout:.0f}s")


def previous_duration(servers: Servers, stack: Stack, spark: bool = False) -> float | None:
    """How long the refresh that published the stack's latest model took (the served stack's
    when this one has none, e.g. the freshly deployed eval stack): what a refresh now is
    expected to take. With spark: the Spark job's time, from a model trained on Spark."""
    for source in dict.fromkeys((stack, SERVED_STACK)):
        timings = _latest_timings(servers, source)
        if timings is None or spark != ("spark_seconds" in timings):
            continue
        # the stored metadata is written before the model is published: its time up to then
        names = ("spark_seconds",) if spark else ("total_seconds", "total_seconds_before_publish")
        seconds = next((timings[name] for name in names if name in timings), None)
        if isinstance(seconds, int | float) and seconds > 0:
            return float(seconds)
    return None


def _latest_timings(servers: Servers, stack: Stack) -> dict[str, Any] | None:
    try:
        artifacts = index_artifacts(servers, stack)
        version = artifacts.latest_version()
        metadata = json.loads(artifacts.get(version, "metadata.json")) if version else {}
    except Exception:  # no bucket yet, or an unreadable model: no expectation
        return None
    timings = metadata.get("timings")
    return timings if isinstance(timings, dict) else None


def train_once(servers: Servers, context: StackContext) -> None:
    """The served stack (deployed as `context`) gets a model now if it has none, so the first
    request is personal; a failure is reported, not fatal."""
    if latest_model(servers, context) is not None:
        return
    started = time.monotonic()
    try:
        version = str(refresh_metadata(servers)["model_version"])
    except ServiceError as exc:
        print(f"  model not trained yet: {exc}")
        return
    print(f"  model {version} trained and published in {time.monotonic() - started:.0f}s")
