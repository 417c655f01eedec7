"""A stack's functions from outside their runtime: invoked through its Lambda Invoke API, fired as
their schedule would, and the environment each gets."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from localcloud.aws_resources import create_stack_resources
from localcloud.connections import aws_client
from localcloud.runtime.functions import register_functions_and_layers
from localcloud.services.base import ServiceError
from localcloud.services.servers import Servers
from localcloud.settings import HOST, SERVED_STACK, Stack, aws_environment, local_context
from localcloud.template import StackContext, load_template


@cache
def _invoke_config() -> Any:
    """An invocation waits as long as a function may run (15 min), and is never retried."""
    from botocore.config import Config

    return Config(read_timeout=960, retries={"max_attempts": 0})


def invoke(
    servers: Servers, function_id: str, payload: bytes, invoke_port: int | None = None
) -> dict[str, Any]:
    """Invoke a function through a runtime's Lambda Invoke API (the served stack's by default)."""
    if invoke_port is None and servers.runtime.pid() is None:
        raise ServiceError("the local runtime is not running: run `make up` first")
    endpoint = f"http://{HOST}:{invoke_port or servers.ports.invoke}"
    client = aws_client(servers.ports, "lambda", endpoint, _invoke_config())
    try:
        return dict(client.invoke(FunctionName=function_id, Payload=payload))
    except client.exceptions.ResourceNotFoundException:
        raise ServiceError(f"{function_id} is not a function of template.yaml") from None


def fire_schedule(
    servers: Servers,
    function_id: str,
    template: Path | None = None,
    stack_name: str | None = None,
    invoke_port: int | None = None,
) -> dict[str, Any]:
    """Invoke a function with the event its schedule would send, now."""
    from localcloud.runtime.functions import load_functions
    from localcloud.runtime.schedules import scheduled_event

    if template is None:
        context = SERVED_STACK.context(servers.ports, servers.layout)
    else:
        context = local_context(load_template(template), stack_name or SERVED_STACK.name)
    create_stack_resources(context, servers.aws_client)
    root = (template.parent if template else servers.layout.template.parent).resolve()
    spec = load_functions(context, root).get(function_id)
    schedules = spec.events_of("Schedule", "ScheduleV2") if spec else []
    if spec is None or not schedules:
        raise ServiceError(f"{function_id} has no Schedule event in template.yaml")
    name, props = schedules[0]
    payload = scheduled_event(props, f"{spec.name}-{name}", context.region, context.account_id)
    return invoke(servers, function_id, payload, invoke_port)


def function_environment(servers: Servers, stack: Stack, function_id: str | None = None) -> dict[str, str]:
    """The environment a function of `stack` gets: template Globals, its own, and AWS endpoint."""
    context = stack.context(servers.ports, servers.layout)
    create_stack_resources(context, servers.aws_client)
    return {**_variables(context, function_id), **aws_environment(servers.ports)}


def _variables(context: StackContext, function_id: str | None) -> dict[str, str]:
    """The template's Globals variables, and a function's own over them, resolved (a Ref to a
    function, as POST /v1/model/refresh's to the refresh function, to its local name)."""
    register_functions_and_layers(context)
    template = context.template
    variables: dict[str, Any] = dict(
        ((template.get("Globals") or {}).get("Function") or {}).get("Environment", {}).get("Variables", {})
    )
    if function_id is not None:
        own = template["Resources"][function_id].get("Properties", {})
        variables.update(own.get("Environment", {}).get("Variables", {}))
    return {key: str(value) for key, value in context.resolve(variables).items()}


def sam_env_vars(servers: Servers, stack: Stack, host: str) -> dict[str, dict[str, str]]:
    """`sam local --env-vars` for functions in containers, which reach this machine at `host`:
    what every function gets (Parameters) and each function's own variables. Without the
    credentials and region: sam passes the caller's own (README: LocalStack)."""
    context = stack.context(servers.ports, servers.layout)
    create_stack_resources(context, servers.aws_client)
    caller = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "AWS_DEFAULT_REGION"}

    def reached(variables: dict[str, str]) -> dict[str, str]:
        return {k: v.replace(HOST, host) for k, v in variables.items() if k not in caller}

    every = reached({**_variables(context, None), **aws_environment(servers.ports)})
    files: dict[str, dict[str, str]] = {"Parameters": every}
    for logical_id, resource in context.template["Resources"].items():
        if resource.get("Type") == "AWS::Serverless::Function":
            own = {k: v for k, v in reached(_variables(context, logical_id)).items() if every.get(k) != v}
            if own:
                files[logical_id] = own
    return files
