"""The API's read paths through the local gateway, as a client sees them: each request on a fresh
connection and on one kept-alive connection, requests per second at several parallel clients,
and the time spent inside the function (its Server-Timing header).

Figures are medians and 99th percentiles of one run; compare endpoints within a run (the floor,
GET /v1/items/{id}, is one PostgreSQL read behind the same gateway and guard), not across runs:
these machines are shared and their speed moves by tens of percent from one hour to the next.
"""

from __future__ import annotations

import http.client
import statistics
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

PathFor = Callable[[int], str]  # the n-th request's path and query


@dataclass(frozen=True)
class Endpoint:
    name: str
    function: str  # its logical id in template.yaml
    path: PathFor


@dataclass(frozen=True)
class Sample:
    ms: float  # as the client saw it
    handler_ms: float | None  # inside the function (Server-Timing: handler;dur=...)


def _handler_ms(header: str | None) -> float | None:
    if not header or "dur=" not in header:
        return None
    return float(header.split("dur=", 1)[1].split(";", 1)[0].split(",", 1)[0])


def fresh(base: str, path: str, key: str) -> Sample:
    """One request on a new connection (urllib opens one per request)."""
    request = urllib.request.Request(f"{base}{path}", headers={"Authorization": f"Bearer {key}"})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=60) as reply:
        reply.read()
        elapsed = (time.perf_counter() - started) * 1000
        if reply.status != 200:
            raise RuntimeError(f"{path}: HTTP {reply.status}")
        return Sample(elapsed, _handler_ms(reply.headers.get("server-timing")))


class KeepAlive:
    """One connection kept open across requests, as browsers, SDKs and requests.Session do."""

    def __init__(self, host: str, port: int, key: str) -> None:
        self._host, self._port, self._key = host, port, key
        self._connection: http.client.HTTPConnection | None = None

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes, Sample]:
        if self._connection is None:
            self._connection = http.client.HTTPConnection(self._host, self._port, timeout=60)
        sent = {"Authorization": f"Bearer {self._key}", **(headers or {})}
        if body is not None:
            sent["Content-Type"] = "application/json"
        started = time.perf_counter()
        try:
            self._connection.request(method, path, body=body, headers=sent)
            reply = self._connection.getresponse()
            data = reply.read()
        except (http.client.HTTPException, OSError):
            self.close()  # the server closed it (idle timeout): the next request opens another
            raise
        elapsed = (time.perf_counter() - started) * 1000
        if reply.getheader("connection", "").lower() == "close":
            self.close()
        return reply.status, data, Sample(elapsed, _handler_ms(reply.getheader("server-timing")))

    def get(self, path: str) -> Sample:
        status, _, sample = self.request("GET", path)
        if status != 200:
            raise RuntimeError(f"{path}: HTTP {status}")
        return sample

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def throughput(host: str, port: int, key: str, path: PathFor, clients: int, seconds: float) -> float:
    """Requests per second that `clients` parallel clients, each on its own kept-alive
    connection, get answered (every answer a 200)."""
    done = [0] * clients
    failures: list[BaseException] = []
    start = threading.Barrier(clients + 1)
    deadline = [0.0]

    def client(c: int) -> None:
        connection = KeepAlive(host, port, key)
        start.wait()
        n = c
        try:
            while time.perf_counter() < deadline[0]:
                connection.get(path(n))
                done[c] += 1
                n += clients
        except BaseException as exc:  # reported below
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=client, args=(c,), daemon=True) for c in range(clients)]
    for thread in threads:
        thread.start()
    deadline[0] = time.perf_counter() + seconds
    began = time.perf_counter()
    start.wait()
    for thread in threads:
        thread.join()
    if failures:
        raise RuntimeError(f"a client failed: {failures[0]}")
    return sum(done) / (time.perf_counter() - began)


def measure(
    host: str, port: int, key: str, endpoint: Endpoint, runs: int, clients: int, seconds: float
) -> dict[str, float]:
    """Warm figures of one endpoint (its environments already started)."""
    base = f"http://{host}:{port}"
    for n in range(10):  # past each environment's first requests
        fresh(base, endpoint.path(n), key)
    on_fresh = [fresh(base, endpoint.path(n), key) for n in range(runs)]
    connection = KeepAlive(host, port, key)
    try:
        kept = [connection.get(endpoint.path(n)) for n in range(runs)]
    finally:
        connection.close()
    handler = [s.handler_ms for s in on_fresh + kept if s.handler_ms is not None]
    return {
        "p50_ms": round(statistics.median(s.ms for s in on_fresh), 2),
        "p99_ms": round(percentile([s.ms for s in on_fresh], 0.99), 2),
        "keepalive_p50_ms": round(statistics.median(s.ms for s in kept), 2),
        "keepalive_p99_ms": round(percentile([s.ms for s in kept], 0.99), 2),
        "handler_p50_ms": round(statistics.median(handler), 3) if handler else float("nan"),
        "rps": round(throughput(host, port, key, endpoint.path, clients, seconds), 1),
    }
