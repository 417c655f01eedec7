"""Ingest at scale: the batch endpoint end to end, a MovieLens-100k history import, and the
single-event endpoint's latency while that import runs; on a stack of its own (`recsys-bench`,
re-created empty with the MovieLens catalog, served by a runtime of its own), so that the
served stack keeps only what `make up` put there.

    make bench            # runs it among the rest (bench/__main__.py); alone: python bench/ingest.py

- ingest_eps: EVENTS events sent as batches of 500 by CLIENTS clients (bodies built before the
  clock starts), from the first request until every event is readable in the interaction log
  (Cassandra) and counted in the real-time features (Redis). ingest_api_eps: until the last 202.
- import_100k_s: MovieLens-100k's 100,000 ratings (as new users, so nothing is a duplicate) as a
  CSV file, from the start of its upload to `completed` (every row stored).
- single_event_*: POST /v1/interactions, one client, serial, fresh connections: idle first, then
  while the import runs (p50 and p99 in milliseconds).
"""

from __future__ import annotations

import concurrent.futures
import json
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import redis
from cassandra.concurrent import execute_concurrent_with_args

from bench.endpoints import client, sample
from localcloud import seed
from localcloud.connections import postgres, redis_db
from localcloud.progress import Progress
from localcloud.settings import BENCH_STACK, HOST
from localcloud.stack import LocalCloud
from recsys_client import RecsysClient

if TYPE_CHECKING:
    from cassandra.cluster import Session

EVENTS, BATCH, CLIENTS, USERS = 60_000, 500, 4, 200


def import_progress(total: int, label: str = "history import") -> tuple[Progress, Callable[[Any], None]]:
    """A bar of an import's rows read (on a terminal only) and the callback that moves it, for
    RecsysClient.wait_for_interaction_import(on_status=...)."""
    bar = Progress(label, total=total, unit="rows")
    return bar, lambda status: bar.set(status.rows_read, status=status.status)


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return round(statistics.median(ordered), 2), round(p99, 2)


def batch_ingest(cloud: LocalCloud, base: str, key: str) -> dict[str, float]:
    tag = uuid.uuid4().hex[:6]
    users = [f"bench_{tag}_{n}" for n in range(USERS)]
    batches = [
        [
            {
                "event_id": f"{tag}-{k}-{i}",
                "user_id": users[(k * BATCH + i) % USERS],
                "item_id": f"movie_{(k * 7 + i) % 1682 + 1}",
                "action": "watch",
            }
            for i in range(BATCH)
        ]
        for k in range(EVENTS // BATCH)
    ]
    bodies = [json.dumps({"events": events}).encode() for events in batches]
    features = redis_db(cloud.ports.redis, BENCH_STACK.redis_db)
    local = threading.local()

    def post(body: bytes) -> int:
        """One batch as it was built, on a new connection, without retries (as before the client)."""
        if not hasattr(local, "api"):
            local.api = client(base, key, keep_alive=False)
        raw = local.api.send("POST", "/v1/interactions/batch", body=body)
        if raw.status != 202:
            raise RuntimeError(f"the batch endpoint answered HTTP {raw.status}: {raw.body[:200]!r}")
        return int(raw.json()["accepted"])

    with cloud.cassandra.session() as session:  # connected before the clock starts
        session.set_keyspace(BENCH_STACK.keyspace)
        started = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(CLIENTS) as pool:
            accepted = sum(pool.map(post, bodies))
        api_done = time.perf_counter()
        logged, counted = _wait_until_stored(session, features, batches, started)
    return {
        "events": EVENTS,
        "accepted": accepted,
        "ingest_api_eps": round(EVENTS / (api_done - started)),
        "ingest_log_s": round(logged - started, 2),
        "ingest_features_s": round(counted - started, 2),
        "ingest_eps": round(EVENTS / (max(logged, counted) - started)),
    }


def _wait_until_stored(
    session: Session, features: redis.Redis, batches: list[list[dict[str, str]]], started: float
) -> tuple[float, float]:
    """When every event was readable in the log and counted in the features (perf_counter times).

    The log is checked in two steps, so that the benchmark does not become the largest reader of
    what it measures (a count of every user's partition every round cost Cassandra more than a
    third of its CPU): first each user's event in the last batch sent, by primary key; once all
    are there, every user's count, until each is whole. While the last batch is not in, one read a
    round (of the first user still missing) decides whether to read the others: reading all 200
    users every 50 ms was about 24,000 reads during a 60,000-event run, and more than a third of the
    Cassandra CPU the run measured (3.1 s against 1.8 s once it read one user a round)."""
    expected: dict[str, int] = {}
    last: dict[str, str] = {}
    for event in (e for events in batches for e in events):
        expected[event["user_id"]] = expected.get(event["user_id"], 0) + 1
    for event in batches[-1]:
        last[event["user_id"]] = event["event_id"]
    users = list(expected)
    found = session.prepare("SELECT event_id FROM user_events WHERE user_id = ? AND event_id = ?")
    count = session.prepare("SELECT count(*) FROM user_events WHERE user_id = ?")
    logged = counted = None
    waiting, counting = list(last), set(users)
    while (logged is None or counted is None) and time.perf_counter() - started < 600:
        if waiting:
            # one read a round while the first is missing; the rest in one sweep once it is there
            first = waiting[0]
            if session.execute(found, (first, last[first])).one():
                rows = execute_concurrent_with_args(session, found, [(u, last[u]) for u in waiting])
                waiting = [user for user, (ok, r) in zip(waiting, rows, strict=True) if not (ok and r.one())]
        elif logged is None:
            pending = sorted(counting)
            rows = execute_concurrent_with_args(session, count, [(u,) for u in pending])
            counting -= {
                u for u, (ok, r) in zip(pending, rows, strict=True) if ok and r.one()[0] >= expected[u]
            }
            if not counting:
                logged = time.perf_counter()
        if counted is None:
            with features.pipeline(transaction=False) as pipe:
                for user in users:
                    pipe.hget(f"user_features:{user}", "interactions_total")
                totals = pipe.execute()
            if all(int(t or 0) >= expected[u] for u, t in zip(users, totals, strict=True)):
                counted = time.perf_counter()
        time.sleep(0.05)
    if logged is None or counted is None:
        raise RuntimeError("the log" if logged is None else "the features" + " never got every event")
    return logged, counted


def single_events(base: str, key: str, tag: str, stop: threading.Event | None, limit: int) -> list[float]:
    """POST /v1/interactions, serial, each on a new connection, no retries: the client's timing."""
    samples: list[float] = []
    n = 0
    with client(base, key, keep_alive=False) as api:
        while (stop is None or not stop.is_set()) and n < limit:
            event = {"user_id": f"single_{tag}", "item_id": f"movie_{n % 1682 + 1}", "action": "click"}
            samples.append(
                sample(api.send("POST", "/v1/interactions", json_body=event), "interaction", 202).ms
            )
            n += 1
    return samples


def import_movielens(cloud: LocalCloud, base: str, key: str) -> dict[str, float]:
    _, interactions = seed.read_movielens(seed.fetch(cloud.layout.cache / "datasets"))
    tag = uuid.uuid4().hex[:6]
    lines = ["user_id,item_id,action,timestamp,context"] + [
        f"{i.user_id.replace('user_', f'ml{tag}_')},{i.item_id},{i.action},{int(i.event_time.timestamp())},"
        f'"{{""rating"": ""{i.context["rating"]}""}}"'
        for i in interactions
    ]
    data = "\n".join(lines).encode()
    idle = single_events(base, key, tag, None, 200)
    stop = threading.Event()
    with (
        RecsysClient(base, key, timeout=120) as api,
        concurrent.futures.ThreadPoolExecutor(1) as pool,
    ):
        created = api.start_interaction_import("csv")
        during = pool.submit(single_events, base, key, tag, stop, 10**9)
        bar, on_status = import_progress(len(interactions))
        with bar:
            started = time.perf_counter()
            api.upload_interaction_file(created.upload_url, data)  # the emulator's S3, on loopback
            status = api.wait_for_interaction_import(
                created.import_id, timeout=600, interval=0.1, on_status=on_status
            )
            took = time.perf_counter() - started
        stop.set()
        busy = during.result()
    if status.status != "completed" or status.accepted != len(interactions):
        raise RuntimeError(f"the import did not complete: {status}")
    idle_p50, idle_p99 = _percentiles(idle)
    busy_p50, busy_p99 = _percentiles(busy)
    return {
        "import_rows": len(interactions),
        "import_100k_s": round(took, 2),
        "single_event_p50_ms_idle": idle_p50,
        "single_event_p99_ms_idle": idle_p99,
        "single_event_p50_ms_during_import": busy_p50,
        "single_event_p99_ms_during_import": busy_p99,
        "single_events_during_import": len(busy),
    }


def run(cloud: LocalCloud) -> dict[str, float]:
    """The batch endpoint (after a warm-up round) and the MovieLens import, on a fresh recsys-bench."""
    from recsys.stores.catalog import PostgresCatalog

    cloud.deploy(BENCH_STACK, fresh=True)
    items, _ = seed.read_movielens(seed.fetch(cloud.layout.cache / "datasets"))
    with postgres(cloud.ports.postgres, BENCH_STACK.database) as conn:
        seed.load_catalog(PostgresCatalog(conn), items)
    key = cloud.create_api_key("enterprise", ["read", "write"], "bench-ingest", stack=BENCH_STACK)
    with cloud.serve_stack("bench", cloud.layout.log("bench-runtime")) as (api_port, _):
        base = f"http://{HOST}:{api_port}"
        batch_ingest(cloud, base, key)  # warm: every consumer and endpoint past its cold start
        f = batch_ingest(cloud, base, key)
        print(
            f"batch endpoint: {f['events']} events, API {f['ingest_api_eps']} events/s; all in the log"
            f" after {f['ingest_log_s']} s, in the features after {f['ingest_features_s']} s:"
            f" {f['ingest_eps']} events/s end to end"
        )
        i = import_movielens(cloud, base, key)
    print(
        f"import: {i['import_rows']} rows from upload to completed in {i['import_100k_s']} s;"
        f" single events p50/p99 {i['single_event_p50_ms_idle']}/{i['single_event_p99_ms_idle']} ms idle,"
        f" {i['single_event_p50_ms_during_import']}/{i['single_event_p99_ms_during_import']} ms during it"
    )
    return {**f, **i}


def main() -> int:
    cloud = LocalCloud()
    if cloud.stores_down():
        print("error: the local cloud is not up: run `make up` first", file=sys.stderr)
        return 2
    print(json.dumps(run(cloud)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
