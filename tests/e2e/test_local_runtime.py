"""The local Lambda runtime end to end: HTTP through the gateway into function processes,
event-source mappings, schedules and Lambda's failure modes (tests/e2e/runtime_fixture)."""

from __future__ import annotations

import base64
import concurrent.futures
import importlib.util
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from localcloud.settings import ACCOUNT_ID, REGION, ROOT
from tests.e2e.conftest import Runtime, wait_for

FIXTURE = Path(__file__).parent / "runtime_fixture" / "template.yaml"
CONCURRENCY = 2


@pytest.fixture(scope="module")
def runtime(cloud, tmp_path_factory):
    started = Runtime(cloud, tmp_path_factory.mktemp("runtime"), template=FIXTURE, concurrency=CONCURRENCY)
    yield started
    started.stop()


def test_first_invoke_is_cold_and_later_ones_reuse_the_environment(runtime):
    results = [runtime.invoke("WarmthFunction", {"n": n})[1] for n in range(3)]
    bodies = [json.loads(r["body"]) for r in results]
    assert [b["cold"] for b in bodies] == [True, False, False]
    assert len({b["pid"] for b in bodies}) == 1


def test_http_request_becomes_the_proxy_event_aws_sends(runtime):
    status, headers, raw = runtime.request("GET", "/echo/bob?a=1&a=2&b=x", headers={"X-Test": "t1"})
    assert status == 200
    body = json.loads(raw)
    event = body["event"]
    assert event["resource"] == "/echo/{name}" and event["path"] == "/echo/bob"
    assert event["httpMethod"] == "GET"
    assert event["pathParameters"] == {"name": "bob"}
    assert event["queryStringParameters"] == {"a": "2", "b": "x"}
    assert event["multiValueQueryStringParameters"] == {"a": ["1", "2"], "b": ["x"]}
    assert event["headers"]["X-Test"] == "t1" and event["multiValueHeaders"]["X-Test"] == ["t1"]
    context = event["requestContext"]
    assert context["requestId"] == headers["x-amzn-RequestId"]
    assert context["stage"] == "local" and context["identity"]["sourceIp"] == "127.0.0.1"
    assert event["body"] is None and event["isBase64Encoded"] is False
    # The function's answer: status, single and multi-value headers.
    assert headers.get_all("X-Multi") == ["a", "b"]
    # Globals and the function's own environment, and its MemorySize, as on AWS.
    assert body["env"] == {"GREETING": "hello", "OWN": "mine", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "384"}
    assert body["memory_limit_in_mb"] == "384"
    assert body["function_name"] == f"{runtime.stack}-EchoFunction"


def test_text_and_binary_bodies(runtime):
    status, _, raw = runtime.request(
        "POST", "/echo/t", body=b'{"x": 1}', headers={"Content-Type": "application/json"}
    )
    event = json.loads(raw)["event"]
    assert status == 201 and event["body"] == '{"x": 1}' and event["isBase64Encoded"] is False

    blob = bytes([0, 255, 254, 10, 128])
    _, _, raw = runtime.request(
        "POST", "/echo/b", body=blob, headers={"Content-Type": "application/octet-stream"}
    )
    event = json.loads(raw)["event"]
    assert event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == blob


def test_greedy_path_and_any_method(runtime):
    status, _, raw = runtime.request("DELETE", "/files/a/b/c.txt")
    event = json.loads(raw)["event"]
    assert (
        status == 200
        and event["pathParameters"] == {"proxy": "a/b/c.txt"}
        and event["httpMethod"] == "DELETE"
    )


@pytest.mark.parametrize(("method", "path"), [("GET", "/nope"), ("PUT", "/echo/x"), ("GET", "/echo")])
def test_unknown_routes_get_the_templates_404_envelope(runtime, method, path):
    status, headers, raw = runtime.request(method, path)
    assert status == 404
    assert json.loads(raw) == {
        "error": {
            "code": "NOT_FOUND",
            "message": "No such route",
            "details": {},
            "request_id": headers["x-amzn-RequestId"],
        },
    }


def test_overlapping_invocations_get_more_environments_up_to_the_limit(runtime):
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        started = time.monotonic()
        replies = list(pool.map(lambda _: runtime.request("GET", "/echo/p?sleep=0.7"), range(4)))
        elapsed = time.monotonic() - started
    pids = {json.loads(raw)["pid"] for status, _, raw in replies if status == 200}
    assert len(pids) == CONCURRENCY
    assert elapsed >= 1.4  # four invocations on two environments: two rounds


def test_unhandled_error_comes_back_in_lambdas_error_shape(runtime):
    error, payload = runtime.invoke("EchoFunction", {"pathParameters": {"name": "explode"}})
    assert error == "Unhandled"
    assert payload["errorType"] == "RuntimeError" and payload["errorMessage"] == "asked to explode"
    assert isinstance(payload["stackTrace"], list) and payload["stackTrace"]
    status, _, raw = runtime.request("GET", "/echo/explode")
    assert status == 502 and json.loads(raw) == {"message": "Internal server error"}


def test_timeout_fails_the_invocation_and_the_next_one_starts_cold(runtime):
    started = time.monotonic()
    error, payload = runtime.invoke("SlowFunction", {"seconds": 3})
    assert time.monotonic() - started < 2.5  # Timeout: 1 in the template
    assert error == "Unhandled" and payload["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in payload["errorMessage"]
    status, _, raw = runtime.request("GET", "/slow?seconds=0.05")
    assert (status, raw) == (200, b"finally")


def test_a_dependency_the_function_does_not_ship_fails_as_on_aws(runtime):
    assert importlib.util.find_spec("yaml") is not None  # the project's venv has it; the function must not
    error, payload = runtime.invoke("BrokenFunction", {})
    assert error == "Unhandled"
    assert payload["errorType"] == "Runtime.ImportModuleError"
    assert "No module named 'yaml'" in payload["errorMessage"]


def test_sqs_poison_message_alone_is_retried_and_lands_in_the_dlq(runtime):
    sqs = runtime.aws("sqs")
    queue = runtime.queue_url("work")
    tag = uuid.uuid4().hex[:6]
    for body in (f"a{tag}", "poison", f"c{tag}"):
        sqs.send_message(QueueUrl=queue, MessageBody=body)

    dlq = runtime.queue_url("work-dlq")
    dead = wait_for(lambda: sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10).get("Messages"), 40)
    assert [m["Body"] for m in dead] == ["poison"]
    time.sleep(2)  # beyond the visibility timeout: nothing else comes back
    assert runtime.records(f"queue/a{tag}") == [f"queue/a{tag}"]
    assert runtime.records(f"queue/c{tag}") == [f"queue/c{tag}"]


def test_kinesis_poison_record_is_bisected_out_and_sent_to_the_on_failure_destination(runtime):
    kinesis = runtime.aws("kinesis")
    tag = uuid.uuid4().hex[:6]
    sequences = {}
    for payload in (f"k1{tag}", "poison", f"k3{tag}", f"k4{tag}"):
        put = kinesis.put_record(
            StreamName=f"{runtime.stack}-stream", Data=payload.encode(), PartitionKey="p"
        )
        sequences[payload] = put["SequenceNumber"]

    failures = runtime.queue_url("stream-failures")
    messages = wait_for(lambda: runtime.aws("sqs").receive_message(QueueUrl=failures).get("Messages"), 60)
    info = json.loads(messages[0]["Body"])["KinesisBatchInfo"]
    assert info["batchSize"] == 1
    assert info["startSequenceNumber"] == info["endSequenceNumber"] == sequences["poison"]
    for good in (f"k1{tag}", f"k3{tag}", f"k4{tag}"):
        assert runtime.records(f"stream/{good}") == [f"stream/{good}"]  # processed exactly once


def test_schedule_fired_on_demand_gets_eventbridges_event(runtime):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "localcloud",
            "fire",
            "NightlyFunction",
            "--template",
            str(FIXTURE),
            "--stack-name",
            runtime.stack,
            "--invoke-port",
            str(runtime.invoke_port),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"ok": True}
    [prefix] = runtime.records("scheduled/")
    stored = runtime.aws("s3").get_object(Bucket=f"{runtime.stack}-records", Key=f"{prefix}/event")
    event = json.loads(stored["Body"].read())
    assert event["detail-type"] == "Scheduled Event" and event["source"] == "aws.events"
    assert event["resources"] == [
        f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/{runtime.stack}-NightlyFunction-Nightly"
    ]


def test_function_logs_are_tagged_with_the_function_name(runtime):
    runtime.request("GET", "/echo/logged")
    assert wait_for(lambda: "[EchoFunction] echo handled /echo/logged" in runtime.log_path.read_text(), 10)


def test_invoke_command_runs_a_function_with_an_event_file(runtime, tmp_path):
    event = tmp_path / "event.json"
    event.write_text(
        json.dumps({"httpMethod": "GET", "path": "/echo/cli", "pathParameters": {"name": "cli"}})
    )
    command = [
        sys.executable,
        "-m",
        "localcloud",
        "invoke",
        "EchoFunction",
        str(event),
        "--invoke-port",
        str(runtime.invoke_port),
    ]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert json.loads(json.loads(result.stdout)["body"])["event"]["path"] == "/echo/cli"

    failing = tmp_path / "explode.json"
    failing.write_text(json.dumps({"pathParameters": {"name": "explode"}}))
    command[5] = str(failing)
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 1 and "Unhandled" in result.stderr
    assert json.loads(result.stdout)["errorType"] == "RuntimeError"
