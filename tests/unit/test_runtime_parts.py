"""Pure pieces of the local runtime: routing, error classification, schedules, template reading."""

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from localcloud.runtime.environments import classify
from localcloud.runtime.functions import load_functions
from localcloud.runtime.gateway import Route, compile_path, routes_from
from localcloud.runtime.schedules import cron_matches, next_fire
from localcloud.settings import ACCOUNT_ID, REGION, local_context
from localcloud.template import load_template

FIXTURE = Path(__file__).parents[1] / "e2e" / "runtime_fixture" / "template.yaml"


def fixture_functions():
    ctx = local_context(load_template(FIXTURE), "stk")
    for logical_id, kind in (
        ("RecordBucket", "s3"),
        ("Stream", "kinesis"),
        ("StreamFailures", "sqs"),
        ("WorkQueue", "sqs"),
        ("WorkDeadLetters", "sqs"),
    ):
        ctx.resources[logical_id] = {
            "Ref": logical_id.lower(),
            "Arn": f"arn:aws:{kind}:{REGION}:{ACCOUNT_ID}:{logical_id}",
        }
    return load_functions(ctx, FIXTURE.parent)


def test_globals_are_merged_into_each_function():
    echo = fixture_functions()["EchoFunction"]
    assert echo.name == "stk-EchoFunction"
    assert echo.memory_size == 384 and echo.timeout == 5  # own MemorySize, global Timeout
    assert echo.environment == {"GREETING": "hello", "RECORD_BUCKET": "recordbucket", "OWN": "mine"}
    assert [layer.logical_id for layer in echo.layers] == ["FixtureLayer"]
    assert echo.code_dir == FIXTURE.parent / "functions" / "echo"


def test_routes_prefer_literal_then_parameter_then_greedy():
    routes = routes_from(fixture_functions())
    assert [r.path for r in routes][-1] == "/files/{proxy+}"
    matched = compile_path("/v1/items/{item_id}/similar").match("/v1/items/m1/similar")
    assert matched is not None and matched.groupdict() == {"item_id": "m1"}
    assert compile_path("/v1/items/{item_id}/similar").match("/v1/items/a/b/similar") is None
    literal = Route("/v1/items/popular", "GET", "A", compile_path("/v1/items/popular"))
    param = Route("/v1/items/{item_id}", "GET", "B", compile_path("/v1/items/{item_id}"))
    assert sorted([param, literal], key=lambda r: r.rank) == [literal, param]


def test_classify_tells_function_errors_and_timeouts_from_results():
    error = json.dumps(
        {"errorMessage": "x", "errorType": "ValueError", "requestId": "", "stackTrace": []}
    ).encode()
    assert classify(error) == (error, "Unhandled")
    payload, kind = classify(b"Task timed out after 1.00 seconds")
    assert kind == "Unhandled" and json.loads(payload)["errorType"] == "Sandbox.Timedout"
    ordinary = json.dumps({"errorType": "in my data", "errorMessage": "m", "other": 1}).encode()
    assert classify(ordinary) == (ordinary, None)
    assert classify(b"plain text") == (b"plain text", None)


def test_rate_and_cron_schedules():
    now = datetime(2026, 11, 28, 15, 0, 30, tzinfo=UTC)  # a Saturday
    assert next_fire("rate(5 minutes)", now) == datetime(2026, 11, 28, 15, 5, 30, tzinfo=UTC)
    assert next_fire("cron(0 3 * * ? *)", now) == datetime(2026, 11, 29, 3, 0, tzinfo=UTC)
    assert next_fire("cron(*/15 * * * ? *)", now) == datetime(2026, 11, 28, 15, 15, tzinfo=UTC)
    assert cron_matches("0 9 ? * 2-6 *", datetime(2026, 11, 30, 9, 0, tzinfo=UTC))  # Monday
    assert not cron_matches("0 9 ? * 2-6 *", datetime(2026, 11, 29, 9, 0, tzinfo=UTC))  # Sunday
    with pytest.raises(ValueError):
        next_fire("cron(0 9 ? * MON-FRI *)", now)
