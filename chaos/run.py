"""`make chaos`: nothing acknowledged is lost, under store outages, emulator restarts and crashes.

For each scenario, clients send a stream of interactions with unique event ids (some sent twice on
purpose, every 5xx or dropped connection retried with the same id) to a stack of its own
(`recsys-chaos`); a few seconds in, one part is killed with SIGKILL (Redis, Cassandra, the AWS
emulator, or a consumer's execution environment) and brought back a few seconds later, as
`make up` would. After the stream drains, every event the API acknowledged (202) is looked up:
is it in the interaction log exactly once, and were its real-time features applied exactly once?

The AWS emulator keeps its streams in memory: what was still on the stream when it died is gone
locally (never in AWS, which keeps a stream through any restart of a client). Those events are
counted apart, as `lost_in_emulator`; everything acknowledged after it is back must arrive.
Everything listens on 127.0.0.1; each scenario is bounded in events and time.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from localcloud.aws_resources import create_stack_resources
from localcloud.connections import redis_db
from localcloud.settings import CHAOS_STACK, HOST, SERVED_STACK
from localcloud.stack import LocalCloud
from recsys.connections import cassandra_session

SCENARIOS = ("redis", "cassandra", "aws", "consumer")
KEYS = ("acknowledged", "stored_once", "lost", "duplicated", "features_missing", "http_500")


@dataclass
class Traffic:
    """What the clients saw: acknowledged event ids per user, and when."""

    acked: dict[str, tuple[str, float]] = field(default_factory=dict)  # event id -> (user, when)
    statuses: Counter[int] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _post(api_port: int, key: str, event_id: str, body: dict[str, Any]) -> int:
    request = urllib.request.Request(
        f"http://{HOST}:{api_port}/v1/interactions",
        data=json.dumps(body).encode(),
        method="POST",
        headers={
            "Authorization": f"Bearer {key}",
            "Content-Type": "application/json",
            "X-Event-ID": event_id,
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:  # loopback only
            return int(reply.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except OSError:
        return 0  # no answer at all: the client cannot know, so it retries


def _client(
    api_port: int, key: str, scenario: str, n: int, events: int, rate: float, traffic: Traffic, seed: int
) -> None:
    """One client: `events` events at `rate` per second, each retried until acknowledged (30 s)."""
    rng = random.Random(seed)
    users = [f"chaos_{scenario}_{n}_{u}" for u in range(5)]
    for k in range(events):
        started = time.monotonic()
        user = users[k % len(users)]
        event_id = f"{scenario}-{n}-{k}-{uuid.uuid4().hex[:6]}"
        body = {"user_id": user, "item_id": f"movie_{rng.randint(1, 200)}", "action": "watch"}
        deadline = time.monotonic() + 30
        while True:
            status = _post(api_port, key, event_id, body)
            with traffic.lock:
                traffic.statuses[status] += 1
            if status == 202:
                with traffic.lock:
                    traffic.acked.setdefault(event_id, (user, time.time()))
                if rng.random() < 0.05:  # a deliberate duplicate: the client sends it again
                    _post(api_port, key, event_id, body)
                break
            if status in (400, 401, 403, 404, 413) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        time.sleep(max(0.0, 1 / rate - (time.monotonic() - started)))


def _consumer_pids(function: str) -> list[int]:
    """Processes of a function's execution environments (by the name the runtime gives them)."""
    marker = f"AWS_LAMBDA_FUNCTION_NAME={CHAOS_STACK.name}-{function}".encode()
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if marker in (proc / "environ").read_bytes().split(b"\0"):
                    found.append(int(proc.name))
            except OSError:
                continue
    return found


def _kill(cloud: LocalCloud, scenario: str) -> None:
    if scenario == "consumer":
        for function in ("RealtimeFeaturesFunction", "InteractionLogWriterFunction"):
            for pid in _consumer_pids(function):
                os.kill(pid, signal.SIGKILL)
        return
    service = {"redis": cloud.redis, "cassandra": cloud.cassandra, "aws": cloud.aws}[scenario]
    pid = service.pid()
    if pid is not None:
        os.kill(pid, signal.SIGKILL)


def _revive(cloud: LocalCloud, scenario: str) -> None:
    """What `make up` does for a part that died: start it again; the emulator also gets its
    stacks' resources back (a Lambda's execution environment is replaced by the runtime itself)."""
    if scenario == "consumer":
        return
    service = {"redis": cloud.redis, "cassandra": cloud.cassandra, "aws": cloud.aws}[scenario]
    service.start()
    service.wait_ready()
    if scenario == "aws":
        for stack in (CHAOS_STACK, SERVED_STACK):
            create_stack_resources(stack.context(cloud.ports, cloud.layout), cloud.aws_client)


def _stored(session: Any, users: set[str]) -> Counter[str]:
    """How many log rows each event id has, for these users."""
    rows: Counter[str] = Counter()
    for user in users:
        query = "SELECT event_id FROM user_events WHERE user_id = %s"
        rows.update(r.event_id for r in session.execute(query, (user,)))
    return rows


def _count(
    session: Any, store: redis.Redis, traffic: Traffic, revived_at: float, scenario: str
) -> dict[str, int]:
    users = {user for user, _ in traffic.acked.values()}
    rows = _stored(session, users)
    lost = [e for e in traffic.acked if rows[e] == 0]
    # the emulator's stream is in memory: what it held when it died is gone locally, never in AWS
    in_emulator = {e for e in lost if traffic.acked[e][1] < revived_at} if scenario == "aws" else set()
    missing_features = 0
    for user in users:
        expected = {e for e, (u, _) in traffic.acked.items() if u == user and e not in in_emulator}
        total = int(store.hget(f"user_features:{user}", "interactions_total") or 0)  # type: ignore[arg-type]
        missing_features += max(0, len(expected) - total)
    return {
        "acknowledged": len(traffic.acked),
        "stored_once": sum(1 for e in traffic.acked if rows[e] == 1),
        "lost": len(lost) - len(in_emulator),
        "lost_in_emulator": len(in_emulator),
        "duplicated": sum(1 for e in traffic.acked if rows[e] > 1),
        "features_missing": missing_features,
        "http_500": sum(n for status, n in traffic.statuses.items() if status >= 500 and status != 503),
        "http_503": traffic.statuses[503],
        "lost_examples": sorted(set(lost) - in_emulator)[:5],  # type: ignore[dict-item]
    }


def run_scenario(
    cloud: LocalCloud, api_port: int, key: str, scenario: str, events: int, clients: int, rate: float,
    kill_after: float, down_for: float, drain_timeout: float,
) -> dict[str, int]:  # fmt: skip
    from recsys.config import Settings

    settings = Settings.from_environment(cloud.function_environment(CHAOS_STACK))
    store = redis_db(cloud.ports.redis, CHAOS_STACK.redis_db)
    traffic = Traffic()
    threads = [
        threading.Thread(
            target=_client, args=(api_port, key, scenario, n, events, rate, traffic, n), daemon=True
        )
        for n in range(clients)
    ]
    for thread in threads:
        thread.start()
    time.sleep(kill_after)
    _kill(cloud, scenario)
    time.sleep(down_for)
    _revive(cloud, scenario)
    revived_at = time.time()
    for thread in threads:
        thread.join(120)
    users = {user for user, _ in traffic.acked.values()}
    deadline, done, progressed = time.monotonic() + drain_timeout, -1, time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - progressed < 20:  # until done or stuck
        with contextlib.suppress(Exception):  # a store still coming back (Redis reloading): look again
            stored = sum(_stored(cassandra_session(settings), users).values())
            counted = sum(
                int(store.hget(f"user_features:{user}", "interactions_total") or 0)  # type: ignore[arg-type]
                for user in users
            )
            if stored >= len(traffic.acked) and counted >= len(traffic.acked):
                break
            if stored + counted > done:  # both consumers: the log and the features
                done, progressed = stored + counted, time.monotonic()
        time.sleep(1)
    return _count(cassandra_session(settings), store, traffic, revived_at, scenario)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make chaos", description=__doc__)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--events", type=int, default=150, help="events per client")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--rate", type=float, default=10.0, help="events per second per client")
    parser.add_argument("--kill-after", type=float, default=5.0)
    parser.add_argument("--down-for", type=float, default=5.0)
    parser.add_argument("--drain-timeout", type=float, default=120.0)
    args = parser.parse_args(argv)
    cloud = LocalCloud()
    down = cloud.stores_down()
    if down:
        print(f"error: the local cloud is not up ({', '.join(down)}): run `make up` first", file=sys.stderr)
        return 2
    cloud.deploy(CHAOS_STACK, fresh=True)
    key = cloud.create_api_key("enterprise", ["read", "write"], "chaos", stack=CHAOS_STACK)
    results: dict[str, dict[str, int]] = {}
    with cloud.serve_stack("chaos", cloud.layout.log("chaos-runtime")) as (api_port, _):
        for scenario in args.scenarios.split(","):
            started = time.monotonic()
            print(
                f"  {scenario}: {args.clients} clients × {args.events} events, "
                f"SIGKILL after {args.kill_after:.0f}s",
                flush=True,
            )
            results[scenario] = run_scenario(
                cloud, api_port, key, scenario, args.events, args.clients, args.rate,
                args.kill_after, args.down_for, args.drain_timeout,
            )  # fmt: skip
            print(f"    {results[scenario]} ({time.monotonic() - started:.0f}s)", flush=True)
    print(f"\n  {'scenario':<10}" + "".join(f"{k:>18}" for k in (*KEYS, "lost_in_emulator")))
    for scenario, figures in results.items():
        print(f"  {scenario:<10}" + "".join(f"{figures[k]:>18}" for k in (*KEYS, "lost_in_emulator")))
    print(json.dumps({"scenarios": results}))
    failed = any(
        r["lost"] or r["duplicated"] or r["features_missing"] or r["http_500"] for r in results.values()
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
