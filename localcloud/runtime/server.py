"""The local runtime process: builds what functions need, then serves the API Gateway, the Lambda
Invoke API (as `sam local start-lambda` does), event-source mappings and schedules."""

from __future__ import annotations

import json
import re
import sys
import threading
import uuid
from datetime import UTC, datetime
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from localcloud.aws_resources import create_stack_resources
from localcloud.runtime import build
from localcloud.runtime.environments import FunctionPool, RuntimeParts
from localcloud.runtime.event_sources import KinesisMapping, SqsMapping
from localcloud.runtime.functions import FunctionSpec, load_functions
from localcloud.runtime.gateway import MAX_REQUEST_BYTES, Gateway, HardenedHandler, HardenedServer, serve
from localcloud.runtime.schedules import expression_of, next_fire, scheduled_event
from localcloud.runtime.service_events import EmrServerlessEvents, wants_emr_events
from localcloud.template import StackContext

_INVOKE_PATH = re.compile(r"^/2015-03-31/functions/([^/]+)/invocations$")
_print_lock = threading.Lock()


def log(line: str) -> None:
    with _print_lock:
        print(line, flush=True)


def function_log(function: str, line: str) -> None:
    log(f"[{function}] {line}")


class LocalRuntime:
    def __init__(
        self,
        ctx: StackContext,
        root: Path,
        state: Path,
        cache: Path,
        base_env: dict[str, str],
        clients: Any,
        concurrency: int,
    ) -> None:
        self.ctx, self.clients = ctx, clients
        create_stack_resources(ctx, clients)
        self.functions = load_functions(ctx, root)
        python = build.runtime_python(state)
        dependency_dirs = build.function_dependencies(build.spec_folders(self.functions), state, python)
        parts = RuntimeParts(build.runtime_interface_emulator(cache), python, dependency_dirs)
        self.pools = {
            logical_id: FunctionPool(
                spec,
                parts,
                base_env,
                function_log,
                min(concurrency, spec.reserved_concurrency or concurrency),
            )
            for logical_id, spec in self.functions.items()
        }
        self.stop_event = threading.Event()
        self.servers: list[ThreadingHTTPServer] = []

    def function(self, name: str) -> FunctionSpec | None:
        return self.functions.get(name) or next((f for f in self.functions.values() if f.name == name), None)

    def start(self, host: str, api_port: int, invoke_port: int, event_sources: bool = True) -> None:
        """Serve the API and the Invoke API; with event_sources, also poll the streams and queues
        and fire the schedules (without: a second runtime beside the one that consumes, e.g. for
        benchmarks)."""
        gateway_server = serve(Gateway(self.ctx, self.functions, self.pools), host, api_port)
        gateway_server.log = log  # type: ignore[attr-defined]
        self.servers = [gateway_server, self._invoke_server(host, invoke_port)]
        for server in self.servers:
            threading.Thread(target=server.serve_forever, daemon=True).start()
        for spec in self.functions.values() if event_sources else ():
            pool = self.pools[spec.logical_id]
            for _, props in spec.events_of("Kinesis"):
                KinesisMapping(pool, props, self.clients, self.ctx.region, self.stop_event, log).start()
            for _, props in spec.events_of("SQS"):
                SqsMapping(pool, props, self.clients, self.ctx.region, self.stop_event, log).start()
            for name, props in spec.events_of("Schedule", "ScheduleV2"):
                if (
                    props.get("Enabled", True) not in (False, "false", "False")
                    and props.get("State") != "DISABLED"
                ):
                    threading.Thread(target=self._schedule, args=(spec, name, props), daemon=True).start()
            for _, props in spec.events_of("EventBridgeRule", "CloudWatchEvent"):
                if wants_emr_events(props):
                    EmrServerlessEvents(
                        pool, props, self.clients, self.ctx.region, self.ctx.account_id, self.stop_event, log
                    ).start()
        routes = sum(len(f.events_of("Api")) for f in self.functions.values())
        log(
            f"runtime: {len(self.functions)} functions, {routes} routes on http://{host}:{api_port}, "
            f"Lambda Invoke API on http://{host}:{invoke_port}"
        )

    def _schedule(self, spec: FunctionSpec, name: str, props: dict[str, Any]) -> None:
        expression = expression_of(props)
        while not self.stop_event.is_set():
            due = next_fire(expression, datetime.now(UTC))
            if self.stop_event.wait((due - datetime.now(UTC)).total_seconds()):
                return
            log(f"schedule {spec.logical_id}.{name} ({expression}) fired")
            payload = scheduled_event(props, f"{spec.name}-{name}", self.ctx.region, self.ctx.account_id)
            self.pools[spec.logical_id].invoke(payload)

    def _invoke_server(self, host: str, port: int) -> ThreadingHTTPServer:
        runtime = self

        class Handler(HardenedHandler):
            def _reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                match = _INVOKE_PATH.match(self.path.split("?", 1)[0])
                spec = runtime.function(match.group(1)) if match else None
                if spec is None:
                    message = {"Type": "User", "Message": f"Function not found: {self.path}"}
                    self._reply(
                        404, json.dumps(message).encode(), {"x-amzn-ErrorType": "ResourceNotFoundException"}
                    )
                    return
                body = self.read_body(MAX_REQUEST_BYTES)
                if body is None:
                    return
                payload = body or b"{}"
                kind = self.headers.get("X-Amz-Invocation-Type", "RequestResponse")
                pool = runtime.pools[spec.logical_id]
                if kind == "DryRun":
                    self._reply(204, b"")
                elif kind == "Event":
                    threading.Thread(target=pool.invoke, args=(payload,), daemon=True).start()
                    self._reply(202, b"", {"x-amzn-RequestId": str(uuid.uuid4())})  # as Lambda names it
                else:
                    result = pool.invoke(payload)
                    headers = {"X-Amz-Executed-Version": "$LATEST"}
                    if result.error:
                        headers["X-Amz-Function-Error"] = result.error
                    self._reply(200, result.payload, headers)

        return HardenedServer((host, port), Handler)

    def shutdown(self) -> None:
        self.stop_event.set()
        for server in self.servers:
            server.shutdown()
        for pool in self.pools.values():
            pool.stop()


def main(argv: list[str] | None = None) -> int:
    import argparse
    import signal
    from functools import partial

    from localcloud.connections import aws_client
    from localcloud.settings import HOST, SERVED_STACK, STACKS, Layout, Ports, aws_environment, local_context
    from localcloud.template import load_template

    parser = argparse.ArgumentParser(prog="python -m localcloud.runtime")
    parser.add_argument("--template", type=Path, default=None)
    parser.add_argument(
        "--stack",
        choices=[*STACKS, "none"],
        default="served",
        help="whose template parameters to use (none: the template's defaults)",
    )
    parser.add_argument("--stack-name", default=None)
    parser.add_argument("--api-port", type=int, default=None)
    parser.add_argument("--invoke-port", type=int, default=None)
    parser.add_argument(
        "--concurrency", type=int, default=4, help="execution environments per function, at most"
    )
    parser.add_argument(
        "--api-only", action="store_true", help="no pollers and no schedules (another runtime consumes)"
    )
    parser.add_argument(
        "--parameter",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a template parameter over the stack's (as sam deploy --parameter-overrides), repeatable",
    )
    args = parser.parse_args(argv)
    overrides = dict(p.split("=", 1) for p in args.parameter if "=" in p)
    if len(overrides) != len(args.parameter):
        parser.error("--parameter takes NAME=VALUE")

    layout, ports = Layout(), Ports()
    stack = STACKS.get(args.stack)
    template_path = args.template or layout.template
    ctx = local_context(
        load_template(template_path),
        args.stack_name or (stack or SERVED_STACK).name,
        {**(stack.parameters(ports) if stack else {}), **overrides},
    )
    invoke_port = args.invoke_port or ports.invoke
    # Lambda calls from a function (POST /v1/model/refresh invokes the refresh) reach this runtime.
    base_env = {**aws_environment(ports), "AWS_ENDPOINT_URL_LAMBDA": f"http://{HOST}:{invoke_port}"}
    try:
        runtime = LocalRuntime(
            ctx,
            template_path.parent.resolve(),
            layout.state,
            layout.cache,
            base_env,
            partial(aws_client, ports),
            args.concurrency,
        )
        runtime.start(HOST, args.api_port or ports.api, invoke_port, event_sources=not args.api_only)
    except (build.BuildError, OSError, ValueError) as exc:
        print(f"error: local runtime could not start: {exc}", file=sys.stderr)
        return 2
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    stopped.wait()
    runtime.shutdown()
    return 0
