"""The local EventBridge poller of EMR Serverless job runs asks only about the applications its
rule names (else about every live one), and a named application that does not exist has none.

The emulator's client is a small fake here: with moto's backend, a started run is executed by the
local cloud's runner (localcloud/services/moto_server.py patches it once imported), in a thread
that changes the run under the test."""

from __future__ import annotations

import threading
from typing import Any

from localcloud.runtime.service_events import EmrServerlessEvents

RULE: dict[str, Any] = {
    "source": ["aws.emr-serverless"],
    "detail-type": ["EMR Serverless Job Run State Change"],
    "detail": {"state": ["SUCCESS", "FAILED", "CANCELLED"]},
}


class NotFound(Exception):
    pass


class FakeEmr:
    """list_applications and list_job_runs as paginators, as boto3's client has them."""

    class exceptions:  # boto3's spelling
        ResourceNotFoundException = NotFound

    def __init__(self, applications: dict[str, str], runs: dict[str, list[str]]) -> None:
        self.applications, self.runs = applications, runs  # id -> state; id -> run ids
        self.calls: list[str] = []

    def get_paginator(self, operation: str) -> Any:
        self.calls.append(operation)
        fake = self

        class Paginator:
            def paginate(self, **kwargs: Any) -> list[dict[str, Any]]:
                if operation == "list_applications":
                    return [{"applications": [{"id": a, "state": s} for a, s in fake.applications.items()]}]
                application_id = kwargs["applicationId"]
                if application_id not in fake.applications:
                    raise NotFound(application_id)
                runs = [
                    {"id": r, "applicationId": application_id, "state": "RUNNING"}
                    for r in fake.runs[application_id]
                ]
                return [{"jobRuns": runs}]

        return Paginator()


def poller(emr: FakeEmr, pattern: dict[str, Any]) -> EmrServerlessEvents:
    return EmrServerlessEvents(
        pool=type("Pool", (), {"spec": type("Spec", (), {"logical_id": "IndexRefreshFunction"})()})(),
        props={"Pattern": pattern},
        clients=lambda service: emr,
        region="us-east-1",
        account_id="123456789012",
        stop=threading.Event(),
        log=print,
    )


def naming(*application_ids: str) -> dict[str, Any]:
    return {**RULE, "detail": {**RULE["detail"], "applicationId": list(application_ids)}}


def test_a_rule_naming_its_application_reads_only_that_applications_runs() -> None:
    emr = FakeEmr({"ours": "STARTED", "theirs": "STARTED"}, {"ours": ["r1"], "theirs": ["r2"]})

    assert set(poller(emr, naming("ours"))._runs()) == {"r1"}
    assert emr.calls == ["list_job_runs"]  # no listing of every application
    assert set(poller(emr, RULE)._runs()) == {"r1", "r2"}


def test_terminated_applications_are_not_asked_about() -> None:
    emr = FakeEmr({"old": "TERMINATED", "new": "CREATED"}, {"old": ["r1"], "new": ["r2"]})
    assert set(poller(emr, RULE)._runs()) == {"r2"}


def test_a_named_application_that_does_not_exist_has_no_runs() -> None:
    assert poller(FakeEmr({}, {}), naming("missing"))._runs() == {}
