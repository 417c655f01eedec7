"""Latency of the local runtime for a trivial function (tests/e2e/runtime_fixture EchoFunction).

    make bench            # needs `make up` (the AWS emulator); prints medians and ratios

Measures, through the local API Gateway over HTTP (the Python client, without retries, a new
connection per request, timed by the client): a cold start (a new execution environment:
emulator + awslambdaric + imports) and a warm invoke; and the same handler called directly
in-process, so the gateway's and runtime's added latency is warm minus direct.

Then what a pause costs a store's round trip on this machine: a Redis PING and a PostgreSQL
`SELECT 1` right after the previous one, against after 3 ms of nothing (about what the gateway,
the emulator and the client take between two serial requests). A handler's round trips pay the
second figure: the in-handler times `make bench` reports include it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import statistics
import sys
import time
import uuid
from functools import partial
from pathlib import Path
from types import SimpleNamespace

from localcloud.connections import aws_client, postgres, redis_db
from localcloud.runtime import server
from localcloud.runtime.server import LocalRuntime
from localcloud.settings import HOST, Layout, Ports, aws_environment, local_context
from localcloud.template import load_template
from recsys_client import NO_RETRY, RecsysClient

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "e2e" / "runtime_fixture" / "template.yaml"
COLD_RUNS, WARM_RUNS = 15, 300
PAUSE_SECONDS, PAUSE_RUNS = 0.003, 600
PATH = "/echo/bench"


def get(api: RecsysClient, path: str) -> float:
    """One GET on a new connection (the client without retries, keep_alive=False), in ms."""
    raw = api.send("GET", path)
    if raw.status != 200:
        raise RuntimeError(f"{path}: HTTP {raw.status}")
    return raw.elapsed * 1000


def summary(name: str, samples: list[float]) -> float:
    ordered = sorted(samples)
    p95 = ordered[int(len(ordered) * 0.95) - 1]
    median = statistics.median(ordered)
    print(f"  {name:<40} median {median:8.2f} ms   p95 {p95:8.2f} ms   (n={len(samples)})")
    return median


def direct_samples(event: dict, runs: int) -> list[float]:
    """The handler called in this process, as a unit test would: no gateway, no runtime."""
    sys.path[:0] = [str(FIXTURE.parent / "layer"), str(FIXTURE.parent / "functions" / "echo")]
    os.environ.update({"GREETING": "hello", "OWN": "mine", "RECORD_BUCKET": "unused"})
    spec = importlib.util.spec_from_file_location(
        "echo_app", FIXTURE.parent / "functions" / "echo" / "app.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    context = SimpleNamespace(memory_limit_in_mb="384", function_name="echo")
    samples = []
    with contextlib.redirect_stdout(io.StringIO()):  # the handler's log line, as in the runtime
        for _ in range(runs):
            started = time.perf_counter()
            json.dumps(module.handler(event, context))
            samples.append((time.perf_counter() - started) * 1000)
    return samples


def pause_cost(ports: Ports) -> dict[str, tuple[float, float]]:
    """Median ms of a Redis PING and a PostgreSQL SELECT 1: right after the previous one, and
    after PAUSE_SECONDS of sleep (interleaved, so that the machine's drift falls on both)."""
    calls = {"Redis PING": redis_db(ports.redis).ping}
    with postgres(ports.postgres, "postgres") as conn:
        calls["PostgreSQL SELECT 1"] = lambda: conn.execute("SELECT 1", prepare=True).fetchone()
        figures = {}
        for name, call in calls.items():
            call()
            timed: dict[bool, list[float]] = {False: [], True: []}
            for n in range(2 * PAUSE_RUNS):
                paused = n % 2 == 1
                if paused:
                    time.sleep(PAUSE_SECONDS)
                started = time.perf_counter()
                call()
                timed[paused].append((time.perf_counter() - started) * 1000)
            figures[name] = (statistics.median(timed[False]), statistics.median(timed[True]))
    return figures


def main() -> None:
    server.log = lambda line: None  # keep the functions' log lines out of the figures
    layout, ports = Layout(), Ports()
    ctx = local_context(load_template(FIXTURE), f"bench{uuid.uuid4().hex[:6]}")
    runtime = LocalRuntime(
        ctx,
        FIXTURE.parent,
        layout.state,
        layout.cache,
        aws_environment(ports),
        partial(aws_client, ports),
        concurrency=1,
    )
    api_port, invoke_port = ports.api + 100, ports.invoke + 100
    runtime.start(HOST, api_port, invoke_port)
    api = RecsysClient(f"http://{HOST}:{api_port}", timeout=30, retry=NO_RETRY, keep_alive=False)
    try:
        cold = []
        for _ in range(COLD_RUNS):
            runtime.pools["EchoFunction"].stop()  # the next request needs a new environment
            cold.append(get(api, PATH))
        warm = [get(api, PATH) for _ in range(WARM_RUNS)]
        event = api.send("GET", PATH).json()["event"]  # the very event the gateway sends
    finally:
        api.close()
        runtime.shutdown()
    direct = direct_samples(event, WARM_RUNS)

    print(f"local runtime, trivial function ({os.cpu_count()} cores):")
    cold_ms = summary("cold start through the gateway", cold)
    warm_ms = summary("warm invoke through the gateway", warm)
    direct_ms = summary("handler called directly in-process", direct)
    print(f"  gateway + runtime added latency (warm - direct): {warm_ms - direct_ms:.2f} ms")
    print(f"  cold / warm ratio: {cold_ms / warm_ms:.1f}x")
    print(f"a store's round trip, right after the previous one / after {PAUSE_SECONDS * 1000:g} ms of pause:")
    for name, (back_to_back, after_pause) in pause_cost(ports).items():
        print(f"  {name:<40} {back_to_back:.3f} / {after_pause:.3f} ms")


if __name__ == "__main__":
    main()
