"""The local EventBridge poller of EMR Serverless job runs: it asks only about the applications
the rule names, and delivers a run's change of state once."""

from __future__ import annotations

import threading
from typing import Any

import boto3
from moto import mock_aws

from localcloud.runtime.service_events import EmrServerlessEvents

RULE: dict[str, Any] = {
    "source": ["aws.emr-serverless"],
    "detail-type": ["EMR Serverless Job Run State Change"],
    "detail": {"state": ["SUCCESS", "FAILED", "CANCELLED"]},
}


class CountingEmr:
    """The emulator's client, counting the calls the poller makes."""

    def __init__(self, emr: Any) -> None:
        self.emr = emr
        self.calls: list[str] = []
        self.exceptions = emr.exceptions

    def get_paginator(self, operation: str) -> Any:
        self.calls.append(operation)
        return self.emr.get_paginator(operation)


def poller(emr: Any, pattern: dict[str, Any]) -> EmrServerlessEvents:
    return EmrServerlessEvents(
        pool=type("Pool", (), {"spec": type("Spec", (), {"logical_id": "IndexRefreshFunction"})()})(),
        props={"Pattern": pattern},
        clients=lambda service: emr,
        region="us-east-1",
        account_id="123456789012",
        stop=threading.Event(),
        log=print,
    )


def start_run(emr: Any, application_id: str) -> str:
    return str(
        emr.start_job_run(
            applicationId=application_id,
            executionRoleArn="arn:aws:iam::123456789012:role/job",
            jobDriver={"sparkSubmit": {"entryPoint": "s3://bucket/job.py"}},
        )["jobRunId"]
    )


@mock_aws
def test_a_rule_naming_its_application_reads_only_that_applications_runs() -> None:
    emr = boto3.client("emr-serverless", region_name="us-east-1")
    ours, other = (
        emr.create_application(name=name, releaseLabel="emr-7.5.0", type="SPARK")["applicationId"]
        for name in ("stack-a-training", "stack-b-training")
    )
    mine, theirs = start_run(emr, ours), start_run(emr, other)
    counting = CountingEmr(emr)
    named = poller(counting, {**RULE, "detail": {**RULE["detail"], "applicationId": [ours]}})

    assert set(named._runs()) == {mine}
    assert counting.calls == ["list_job_runs"]  # no listing of every application

    everyone = poller(emr, RULE)
    assert set(everyone._runs()) == {mine, theirs}


@mock_aws
def test_terminated_applications_are_not_asked_about() -> None:
    emr = boto3.client("emr-serverless", region_name="us-east-1")
    gone = emr.create_application(name="old", releaseLabel="emr-7.5.0", type="SPARK")["applicationId"]
    start_run(emr, gone)
    emr.stop_application(applicationId=gone)
    emr.delete_application(applicationId=gone)
    live = emr.create_application(name="new", releaseLabel="emr-7.5.0", type="SPARK")["applicationId"]
    run = start_run(emr, live)

    assert set(poller(emr, RULE)._runs()) == {run}


@mock_aws
def test_a_named_application_that_does_not_exist_has_no_runs() -> None:
    emr = boto3.client("emr-serverless", region_name="us-east-1")
    named = poller(emr, {**RULE, "detail": {**RULE["detail"], "applicationId": ["00missing"]}})
    assert named._runs() == {}
