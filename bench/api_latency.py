"""Latency of the API endpoints on the seeded served stack, through the local gateway.

    make bench            # after `make up` (which seeds MovieLens-100k)

For each endpoint: a cold start (a new execution environment: emulator, awslambdaric, FastAPI,
the layer, the first connections) and warm invocations, as medians with p95.
"""

from __future__ import annotations

import json
import statistics
import time
import urllib.error
import urllib.request
import uuid

from localcloud.runtime import server
from localcloud.runtime.server import LocalRuntime
from localcloud.settings import HOST, SERVED_STACK, Layout, Ports, aws_environment
from localcloud.stack import LocalCloud

COLD_RUNS, WARM_RUNS = 5, 200
ENDPOINTS = [
    ("GetRecommendationsFunction", "GET", "/v1/recommendations?user_id=user_{n}&limit=20", None),
    ("GetSimilarItemsFunction", "GET", "/v1/items/movie_{n}/similar?limit=10", None),
    (
        "RecordInteractionFunction",
        "POST",
        "/v1/interactions",
        {"user_id": "user_{n}", "item_id": "movie_{n}", "action": "click"},
    ),
]


def call(base: str, method: str, path: str, body: dict | None, key: str, n: int) -> float:
    data = json.dumps({k: v.format(n=n) for k, v in body.items()}).encode() if body else None
    request = urllib.request.Request(
        f"{base}{path.format(n=n)}",
        data=data,
        method=method,
        headers={
            "Authorization": f"Bearer {key}",
            "Content-Type": "application/json",
            "X-Event-ID": str(uuid.uuid4()),
        },
    )
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=60) as reply:
        reply.read()
        assert reply.status < 300, reply.status
    return (time.perf_counter() - started) * 1000


def main() -> None:
    server.log = lambda line: None
    layout, ports = Layout(), Ports()
    cloud = LocalCloud(layout, ports)
    key = cloud.create_api_key("enterprise", ["read", "write"], "bench")
    ctx = SERVED_STACK.context(ports, layout)
    runtime = LocalRuntime(
        ctx, layout.root, layout.state, layout.cache, aws_environment(ports), cloud.aws_client, concurrency=1
    )
    api_port = ports.api + 200
    runtime.start(HOST, api_port, ports.invoke + 200)
    base = f"http://{HOST}:{api_port}"
    print("API endpoints on the seeded served stack (MovieLens-100k), through the local gateway:")
    try:
        for function, method, path, body in ENDPOINTS:
            cold = []
            for run in range(COLD_RUNS):
                runtime.pools[function].stop()
                cold.append(call(base, method, path, body, key, run + 1))
            warm = [call(base, method, path, body, key, 1 + n % 900) for n in range(WARM_RUNS)]
            p95 = sorted(warm)[int(len(warm) * 0.95) - 1]
            print(
                f"  {method} {path.split('?')[0]:<32} cold median {statistics.median(cold):7.1f} ms   "
                f"warm median {statistics.median(warm):6.2f} ms   p95 {p95:6.2f} ms"
            )
    finally:
        runtime.shutdown()


if __name__ == "__main__":
    main()
