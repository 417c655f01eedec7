"""EventBridge rules on AWS services' own events, for the one service whose events the stack
uses: EMR Serverless's "EMR Serverless Job Run State Change" (the job runs the emulator executes,
localcloud/services/spark_jobs.py). The emulator emits no such events, so a poller watches the
runs' states and delivers each change that matches a rule's pattern to the rule's function,
asynchronously, as EventBridge does."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

from localcloud.runtime.environments import FunctionPool

DETAIL_TYPE = "EMR Serverless Job Run State Change"
POLL_SECONDS = 1.0


def matches(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    """EventBridge's matching by exact values: every field the pattern names holds one of the
    values listed for it (nested patterns for nested fields)."""
    for key, wanted in pattern.items():
        value = event.get(key)
        if isinstance(wanted, dict):
            if not isinstance(value, dict) or not matches(wanted, value):
                return False
        elif value not in wanted:
            return False
    return True


def wants_emr_events(props: dict[str, Any]) -> bool:
    return "aws.emr-serverless" in ((props.get("Pattern") or {}).get("source") or [])


class EmrServerlessEvents(threading.Thread):
    """Delivers job runs' state changes to a function whose rule's pattern matches them."""

    def __init__(
        self,
        pool: FunctionPool,
        props: dict[str, Any],
        clients: Any,
        region: str,
        account_id: str,
        stop: threading.Event,
        log: Any,
    ) -> None:
        super().__init__(daemon=True, name=f"emr-events-{pool.spec.logical_id}")
        self.pool, self.pattern, self.stop, self.log = pool, props.get("Pattern") or {}, stop, log
        self.emr, self.region, self.account_id = clients("emr-serverless"), region, account_id

    def _applications(self) -> list[str]:
        """The applications the rule names (the template's does: its stack's own), else every live
        one. Listing every application's runs each second, terminated ones of earlier stacks
        included, was a sixth of a core on an idle machine (the runtime and the emulator)."""
        named = (self.pattern.get("detail") or {}).get("applicationId")
        if isinstance(named, list) and named and all(isinstance(a, str) for a in named):
            return named
        return [
            application["id"]
            for page in self.emr.get_paginator("list_applications").paginate()
            for application in page["applications"]
            if application["state"] != "TERMINATED"
        ]

    def _runs(self) -> dict[str, dict[str, Any]]:
        runs: dict[str, dict[str, Any]] = {}
        for application_id in self._applications():
            try:
                for runs_page in self.emr.get_paginator("list_job_runs").paginate(
                    applicationId=application_id
                ):
                    runs.update({run["id"]: run for run in runs_page["jobRuns"]})
            except self.emr.exceptions.ResourceNotFoundException:
                continue  # not created yet, or deleted: no runs
        return runs

    def _event(self, run: dict[str, Any], previous: str | None) -> dict[str, Any]:
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": DETAIL_TYPE,
            "source": "aws.emr-serverless",
            "account": self.account_id,
            "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": self.region,
            "resources": [],
            "detail": {
                "jobRunId": run["id"],
                "jobRunName": run.get("name", ""),
                "applicationId": run["applicationId"],
                "arn": run["arn"],
                "releaseLabel": run.get("releaseLabel", ""),
                "state": run["state"],
                "previousState": previous or "SUBMITTED",
                "createdBy": run.get("createdBy") or "",
                "updatedAt": str(run.get("updatedAt", "")),
                "createdAt": str(run.get("createdAt", "")),
            },
        }

    def run(self) -> None:
        known: dict[str, str] | None = None
        failures = 0
        while not self.stop.wait(0 if known is None else POLL_SECONDS):
            try:
                runs = self._runs()
                failures = 0
            except Exception as exc:  # the emulator restarted: the next round asks again
                failures += 1
                if failures == 1 or failures % 60 == 0:
                    self.log(f"{self.pool.spec.logical_id}: listing EMR Serverless job runs failed ({exc})")
                continue
            if known is not None:  # runs that changed before this runtime started are not news
                for run_id, run in runs.items():
                    if known.get(run_id) != run["state"]:
                        self._deliver(self._event(run, known.get(run_id)))
            known = {run_id: run["state"] for run_id, run in runs.items()}

    def _deliver(self, event: dict[str, Any]) -> None:
        if not matches(self.pattern, event):
            return
        detail = event["detail"]
        self.log(
            f"event {DETAIL_TYPE} ({detail['jobRunId']}: {detail['state']}) to {self.pool.spec.logical_id}"
        )
        threading.Thread(target=self.pool.invoke, args=(json.dumps(event).encode(),), daemon=True).start()
