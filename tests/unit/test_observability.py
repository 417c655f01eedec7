"""The one decorator stack every handler wears (logs with the invocation's context and correlation
id, metrics, a trace), and what every hot handler's environment does after its first invocation."""

import contextlib
import gc
import importlib.util
import io
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from fastapi import APIRouter

from localcloud.template import NO_VALUE, StackContext, load_template
from recsys.api import app as api_app
from recsys.api import dependencies as deps
from recsys.observability import (
    api_request_id,
    event_id,
    logger,
    long_lived_after_first_call,
    metrics,
    observed,
    tracer,
)
from recsys.stores.api_keys import ApiKey
from recsys.stores.rate_limits import Budget


@pytest.fixture
def unfrozen():
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_what_outlives_the_first_call_is_frozen_once(unfrozen):
    kept = []

    @long_lived_after_first_call
    def handler(event, context):
        kept.append(object())  # a client made at the first call, say
        return {"n": len(kept)}

    assert gc.get_freeze_count() == 0
    assert handler({}, None) == {"n": 1}
    frozen = gc.get_freeze_count()
    assert frozen > 0
    gc.unfreeze()
    assert handler({}, None) == {"n": 2}
    assert gc.get_freeze_count() == 0  # later calls leave the collector alone


def test_a_first_call_that_fails_still_freezes_and_raises(unfrozen):
    @long_lived_after_first_call
    def handler(event, context):
        raise RuntimeError("store down")

    with pytest.raises(RuntimeError):
        handler({}, None)
    assert gc.get_freeze_count() > 0


ROOT = Path(__file__).resolve().parents[2]
CONTEXT = SimpleNamespace(
    function_name="GetItemFunction",
    memory_limit_in_mb=512,
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:GetItemFunction",
    aws_request_id="0f1e2d3c-invocation",
)


@pytest.fixture
def log_lines(monkeypatch):
    """What the service's logger writes, one dict a line."""
    stream = io.StringIO()
    handler = logger.registered_handler
    monkeypatch.setattr(handler, "stream", stream)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logger.set_correlation_id(None)


@pytest.fixture
def segments(monkeypatch):
    """The tracer's subsegments, recorded."""
    recorded = Segments()
    monkeypatch.setattr(tracer, "provider", recorded)
    return recorded


class Segments:
    """A stand-in for the X-Ray recorder: the subsegments opened, with what was put on them."""

    def __init__(self):
        self.opened = []

    @contextlib.contextmanager
    def in_subsegment(self, name):
        subsegment = SimpleNamespace(name=name, annotations={}, metadata={})
        subsegment.put_annotation = lambda key, value: subsegment.annotations.__setitem__(key, value)
        subsegment.put_metadata = lambda key, value, namespace=None: subsegment.metadata.update({key: value})
        self.opened.append(subsegment)
        yield subsegment


def api_event(path, request_id="c6af9ac6-7b61-11e6-9a41-93e8deadbeef"):
    event = json.loads((ROOT / "events" / "get_item.json").read_text())
    event["headers"]["Authorization"] = "Bearer rk_reader"
    event["multiValueHeaders"]["Authorization"] = ["Bearer rk_reader"]
    event["path"] = event["requestContext"]["path"] = path
    if request_id is None:
        del event["requestContext"]["requestId"]
    else:
        event["requestContext"]["requestId"] = request_id
    return event


@pytest.fixture
def failing_api(unfrozen):
    """An API function whose route fails unexpectedly, its key and limit stores faked."""
    router = APIRouter()

    @router.get("/v1/fails")
    async def fails() -> None:
        raise RuntimeError("a fault nobody foresaw")

    keys = SimpleNamespace(find=lambda secret: ApiKey("reader01", "free", frozenset({"read"})))
    limits = SimpleNamespace(spend=lambda subject, limit: Budget(limit, limit - 1, 1_900_000_000, True))
    app = api_app.create_app(router)
    app.dependency_overrides[deps.injected(deps.api_keys)] = lambda: keys
    app.dependency_overrides[deps.injected(deps.rate_limits)] = lambda: limits
    return api_app.serve(app)


@pytest.mark.parametrize("request_id", ["c6af9ac6-7b61-11e6-9a41-93e8deadbeef", None])
def test_the_error_envelope_carries_the_id_the_logs_are_correlated_by(failing_api, log_lines, request_id):
    response = failing_api(api_event("/v1/fails", request_id), CONTEXT)

    assert response["statusCode"] == 500
    envelope_id = json.loads(response["body"])["error"]["request_id"]
    assert response["headers"]["x-request-id"] == envelope_id
    if request_id is not None:  # API Gateway's id, else one the guard made
        assert envelope_id == request_id
    logged = [line for line in log_lines() if line["message"] == "unhandled error"]
    assert len(logged) == 1
    assert logged[0]["correlation_id"] == envelope_id
    assert logged[0]["function_request_id"] == CONTEXT.aws_request_id  # the invocation's context too


def test_a_handler_is_logged_traced_and_measured(segments, log_lines, capsys):
    @observed(correlation=event_id)
    def handler(event, context):
        logger.info("refreshing")
        metrics.add_metric(name="Refreshed", unit="Count", value=1)
        return {"model_version": "v1"}

    assert handler({"id": "event-1"}, CONTEXT) == {"model_version": "v1"}

    [line] = log_lines()
    assert line["correlation_id"] == "event-1" and line["function_name"] == CONTEXT.function_name
    [subsegment] = segments.opened
    assert subsegment.name == "## handler" and "ColdStart" in subsegment.annotations
    assert subsegment.metadata == {}  # the response is not put on the trace
    [emf] = [json.loads(out) for out in capsys.readouterr().out.splitlines() if '"_aws"' in out]
    assert emf["Refreshed"] == [1.0]


def test_a_failing_handler_is_still_traced_and_its_metrics_flushed(segments, capsys):
    @observed
    def handler(event, context):
        metrics.add_metric(name="Attempted", unit="Count", value=1)
        raise RuntimeError("store down")

    with pytest.raises(RuntimeError):
        handler({}, CONTEXT)
    assert [s.name for s in segments.opened] == ["## handler"]
    assert '"Attempted"' in capsys.readouterr().out


def test_after_the_first_invocation_only_those_x_ray_samples_enter_the_tracer(segments, monkeypatch):
    @observed
    def handler(event, context):
        return {}

    trace_id = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled="
    monkeypatch.setenv("_X_AMZN_TRACE_ID", trace_id + "0")
    handler({}, CONTEXT)  # the first, cold: always (the tracer annotates it ColdStart)
    handler({}, CONTEXT)
    assert len(segments.opened) == 1
    monkeypatch.setenv("_X_AMZN_TRACE_ID", trace_id + "1")
    handler({}, CONTEXT)
    assert len(segments.opened) == 2
    monkeypatch.delenv("_X_AMZN_TRACE_ID")  # outside Lambda
    handler({}, CONTEXT)
    assert len(segments.opened) == 2


def test_an_event_without_an_id_leaves_no_correlation_id_from_the_one_before(log_lines):
    @observed(correlation=event_id)
    def handler(event, context):
        logger.info("refreshing")

    handler({"id": "event-1"}, CONTEXT)
    handler({"source": "make refresh"}, CONTEXT)
    assert [line.get("correlation_id") for line in log_lines()] == ["event-1", None]


def function_modules():
    """(folder, event types, its imported app.py) of every function of the template."""
    resources = load_template(ROOT / "template.yaml")["Resources"]
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        code_dir = ROOT / resource["Properties"]["CodeUri"]
        spec = importlib.util.spec_from_file_location(f"handler_of_{logical_id}", code_dir / "app.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        kinds = {event["Type"] for event in (resource["Properties"].get("Events") or {}).values()}
        yield code_dir.name, kinds, module


HOT = {"interaction_log_writer", "realtime_features", "interaction_import_worker"}


def test_every_function_handler_wears_the_one_stack():
    seen = 0
    for name, kinds, module in function_modules():
        stack = getattr(module.handler, "observed", None)
        assert stack is not None, f"functions/{name}/app.py: its handler is not observed()"
        if "Api" in kinds:  # correlated by API Gateway's request id, as the error envelope is
            assert stack["correlation"] == api_request_id, name
        if "Schedule" in kinds:
            assert stack["correlation"] == event_id, name
        if ("Api" in kinds and name != "api_docs") or name in HOT:
            assert stack["long_lived"], f"{name}: a hot handler freezes what outlives its first call"
        seen += 1
    assert seen >= 20


@pytest.mark.parametrize("stage", ["dev", "prod", "local"])
def test_functions_are_traced_on_aws_and_not_locally(stage):
    """Locally no invocation carries a trace id: the X-Ray SDK would warn of every subsegment."""
    template = load_template(ROOT / "template.yaml")
    parameters = {"Stage": stage, "PostgresHost": "db", "RedisUrl": "redis://", "CassandraContactPoints": "c"}
    ctx = StackContext(template, "stack", "us-east-1", "123456789012", parameter_overrides=parameters)
    function = template["Globals"]["Function"]
    assert function["Tracing"] == "Active"
    assert template["Resources"]["RecommendationApi"]["Properties"]["TracingEnabled"] is True
    disabled = ctx.resolve(function["Environment"]["Variables"]["POWERTOOLS_TRACE_DISABLED"])
    assert disabled == ("true" if stage == "local" else NO_VALUE)
