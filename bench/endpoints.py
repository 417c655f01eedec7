"""The API's read paths through the local gateway, as a client sees them: each request on a fresh
connection and on one kept-alive connection, requests per second at several parallel clients,
and the time spent inside the function (its Server-Timing header). Every request goes through
the Python client (clients/python) without retries, timed by the client itself.

Figures are medians and 99th percentiles of one run; compare endpoints within a run (the floor,
GET /v1/items/{id}, is one PostgreSQL read behind the same gateway and guard), not across runs:
these machines are shared and their speed moves by tens of percent from one hour to the next.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from recsys_client import NO_RETRY, RawResponse, RecsysClient

PathFor = Callable[[int], str]  # the n-th request's path and query


@dataclass(frozen=True)
class Endpoint:
    name: str
    function: str  # its logical id in template.yaml
    path: PathFor
    primed: int = 0  # paths 0..primed-1 are asked once before measuring (the rankings kept)


@dataclass(frozen=True)
class Sample:
    ms: float  # as the client saw it
    handler_ms: float | None  # inside the function (Server-Timing: handler;dur=...)
    cache: str | None = None  # X-Cache: whether a kept ranking answered ("hit") or not ("miss")


def _handler_ms(header: str | None) -> float | None:
    if not header or "dur=" not in header:
        return None
    return float(header.split("dur=", 1)[1].split(";", 1)[0].split(",", 1)[0])


def client(base: str, key: str, *, keep_alive: bool) -> RecsysClient:
    """The Python client as the benchmarks use it: no retries (a failure is a failure, and no
    backoff hides in a figure), and either one kept-alive connection or a new connection for
    every request (`keep_alive=False`: it sends `Connection: close`, as urllib did)."""
    return RecsysClient(base, key, timeout=60, retry=NO_RETRY, keep_alive=keep_alive)


def sample(raw: RawResponse, path: str, expected: int = 200) -> Sample:
    """The client's own timing of one exchange (RawResponse.elapsed: from sending the request,
    the connection's opening included when it is new, to the answer's last byte)."""
    if raw.status != expected:
        raise RuntimeError(f"{path}: HTTP {raw.status}")
    return Sample(raw.elapsed * 1000, _handler_ms(raw.header("server-timing")), raw.header("x-cache"))


def get(api: RecsysClient, path: str) -> Sample:
    """GET `path` (with its query) on the client's connection."""
    return sample(api.send("GET", path), path)


def fresh(base: str, path: str, key: str) -> Sample:
    """One request on a new connection."""
    with client(base, key, keep_alive=False) as api:
        return get(api, path)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


WARM_ANSWERS, WARM_SECONDS = 3, 1.0


def throughput(base: str, key: str, path: PathFor, clients: int, seconds: float) -> float:
    """Requests per second that `clients` parallel clients, each on its own kept-alive
    connection, get answered (every answer a 200), once the load has run until every client has
    had WARM_ANSWERS answers and at least WARM_SECONDS have passed: the execution environments
    the parallel load starts (the serial figures needed one) are then past their cold starts,
    which otherwise fell inside the timed window (about 0.9 s each for recommendations, 0.5 s
    for the floor: recommendations measured 69 requests/s cold against 207 warm here)."""
    done = [0] * clients
    warm = [0] * clients
    failures: list[BaseException] = []
    warm_until, window = time.perf_counter() + WARM_SECONDS, [0.0, 0.0]  # its start and end

    def open_window() -> None:  # run once, by the last client to be warm, before any goes on
        window[0] = time.perf_counter()
        window[1] = window[0] + seconds

    warmed = threading.Barrier(clients, action=open_window)

    def run(c: int) -> None:
        sent = [c]  # the client's next n: c, c + clients, ...

        def send(api: RecsysClient, answers: list[int], more: Callable[[], bool]) -> None:
            while more():
                get(api, path(sent[0]))
                answers[c] += 1
                sent[0] += clients

        with client(base, key, keep_alive=True) as api:
            try:
                send(api, warm, lambda: warm[c] < WARM_ANSWERS or time.perf_counter() < warm_until)
                warmed.wait()
                send(api, done, lambda: time.perf_counter() < window[1])
            except threading.BrokenBarrierError:
                return  # another client failed
            except BaseException as exc:  # reported below
                failures.append(exc)
                warmed.abort()

    threads = [threading.Thread(target=run, args=(c,), daemon=True) for c in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise RuntimeError(f"a client failed: {failures[0]}")
    return sum(done) / (time.perf_counter() - window[0])


def measure(
    base: str, key: str, endpoint: Endpoint, runs: int, clients: int, seconds: float
) -> dict[str, float]:
    """Warm figures of one endpoint (its environments already started). Where the answers say
    whether a kept ranking answered (X-Cache), the share that did is reported too."""
    with client(base, key, keep_alive=False) as api:
        for n in range(max(10, endpoint.primed)):  # past each environment's first requests
            get(api, endpoint.path(n))
        on_fresh = [get(api, endpoint.path(n)) for n in range(runs)]
    with client(base, key, keep_alive=True) as api:
        kept = [get(api, endpoint.path(n)) for n in range(runs)]
    handler = [s.handler_ms for s in on_fresh + kept if s.handler_ms is not None]
    cached = [s.cache == "hit" for s in on_fresh + kept if s.cache is not None]
    return {
        **({"hit_ratio": round(sum(cached) / len(cached), 3)} if cached else {}),
        "p50_ms": round(statistics.median(s.ms for s in on_fresh), 2),
        "p99_ms": round(percentile([s.ms for s in on_fresh], 0.99), 2),
        "keepalive_p50_ms": round(statistics.median(s.ms for s in kept), 2),
        "keepalive_p99_ms": round(percentile([s.ms for s in kept], 0.99), 2),
        "handler_p50_ms": round(statistics.median(handler), 3) if handler else float("nan"),
        "rps": round(throughput(base, key, endpoint.path, clients, seconds), 1),
    }
