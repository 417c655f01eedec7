"""events/ has a sample for every function of template.yaml, in the shape its trigger sends."""

import json
from pathlib import Path

from localcloud.aws_resources import CREATORS
from localcloud.runtime.functions import load_functions
from localcloud.runtime.gateway import Gateway
from localcloud.settings import ACCOUNT_ID, REGION, ROOT, SERVED_STACK, Layout, Ports


def served_functions():
    ctx = SERVED_STACK.context(Ports(), Layout())
    created = [lid for lid, res in ctx.template["Resources"].items() if res["Type"] in CREATORS]
    for logical_id in created:
        ctx.resources[logical_id] = {
            "Ref": logical_id,
            "Arn": f"arn:aws:x:{REGION}:{ACCOUNT_ID}:{logical_id}",
            "QueueName": logical_id,
        }
    return ctx, load_functions(ctx, ROOT)


def test_every_function_has_a_sample_event_its_trigger_would_send():
    ctx, functions = served_functions()
    gateway = Gateway(ctx, functions, {})
    assert len(functions) >= 20
    for logical_id, spec in functions.items():
        sample = Path(ROOT / "events" / f"{spec.code_dir.name}.json")
        assert sample.exists(), f"events/{sample.name} is missing for {logical_id}"
        event = json.loads(sample.read_text())
        if spec.events_of("Api"):
            found = gateway.match(event["httpMethod"], event["path"])
            assert found is not None, sample.name
            route, _ = found
            assert route.function == logical_id, sample.name
        elif spec.events_of("Kinesis"):
            assert event["Records"][0]["eventSource"] == "aws:kinesis"
        elif not spec.events:  # invoked on demand
            assert isinstance(event, dict)
        elif spec.events_of("Schedule", "ScheduleV2"):
            assert event["detail-type"] == "Scheduled Event" and event["source"] == "aws.events"
        else:
            assert event["Records"][0]["eventSource"] == "aws:sqs"


def test_every_function_folder_is_in_the_template():
    _, functions = served_functions()
    folders = {path.name for path in (ROOT / "functions").iterdir() if path.is_dir()}
    assert folders == {spec.code_dir.name for spec in functions.values()}
