"""Spark job runs (EMR Serverless): the refresh starts one to train a large log and, when the run
has ended, reads its state to publish what it wrote (logic/spark_training.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

ENDED = frozenset({"SUCCESS", "FAILED", "CANCELLED"})
IN_FLIGHT = ("SUBMITTED", "PENDING", "SCHEDULED", "RUNNING", "QUEUED")


@dataclass(frozen=True)
class JobRun:
    run_id: str
    name: str  # the model version the run trains
    state: str
    details: str = ""

    @property
    def ended(self) -> bool:
        return self.state in ENDED


class SparkJobs(Protocol):
    def start(self, name: str, entry_point: str, arguments: list[str], spark_parameters: str) -> str: ...
    def get(self, run_id: str) -> JobRun: ...
    def runs(self, states: tuple[str, ...]) -> list[JobRun]: ...


class EmrServerlessJobs:
    def __init__(self, client: Any, application_id: str, role_arn: str, timeout_minutes: int = 720) -> None:
        self._client, self._application, self._role = client, application_id, role_arn
        self._timeout = timeout_minutes

    def start(self, name: str, entry_point: str, arguments: list[str], spark_parameters: str) -> str:
        """Starts the run; the name is its client token too, so a retried start starts nothing more."""
        reply = self._client.start_job_run(
            applicationId=self._application,
            clientToken=name,
            executionRoleArn=self._role,
            name=name,
            jobDriver={
                "sparkSubmit": {
                    "entryPoint": entry_point,
                    "entryPointArguments": arguments,
                    "sparkSubmitParameters": spark_parameters,
                }
            },
            executionTimeoutMinutes=self._timeout,
        )
        return str(reply["jobRunId"])

    def get(self, run_id: str) -> JobRun:
        run = self._client.get_job_run(applicationId=self._application, jobRunId=run_id)["jobRun"]
        return JobRun(run["jobRunId"], run.get("name", ""), run["state"], run.get("stateDetails", ""))

    def runs(self, states: tuple[str, ...]) -> list[JobRun]:
        """Runs in these states."""
        found: list[JobRun] = []
        for page in self._client.get_paginator("list_job_runs").paginate(
            applicationId=self._application, states=list(states)
        ):
            found += [
                JobRun(r["id"], r.get("name", ""), r["state"], r.get("stateDetails", ""))
                for r in page["jobRuns"]
            ]
        return found
