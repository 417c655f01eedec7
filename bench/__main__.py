"""`make bench`: every path of the service measured side by side in one run, as a client sees it.

    make bench                 # the seeded stack (MovieLens-100k: 1,682 items), as `make up` left it

For each read endpoint, through a runtime of its own that serves the API only (the served
runtime keeps consuming the stream): cold start (a new execution environment, model load
included), warm p50/p99 on fresh connections and on one kept-alive connection, requests per
second at 8 parallel clients, and the time inside the function. The floor is GET
/v1/items/{id} (one PostgreSQL read behind the same gateway and guard), measured in the same run.
Then event to effect (an interaction to changed recommendations), a refresh (training, index,
publish: its time and peak memory), and ingest (bench/ingest.py, on a stack of its own).

It prints a table, the goals of issue 10 with what this run measured against each, and, last,
one JSON object whose keys other tools read (keep them stable).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import UTC, datetime

from bench import effect, endpoints, ingest
from bench.endpoints import Endpoint
from localcloud.settings import HOST, SERVED_STACK
from localcloud.stack import LocalCloud

RUNS, CLIENTS, SECONDS, COLD_ROUNDS, EFFECT_TRIALS = 200, 8, 5.0, 3, 40

SEEDED = [  # MovieLens-100k: user_1..user_943, movie_1..movie_1682
    Endpoint("floor", "GetItemFunction", lambda n: f"/v1/items/movie_{1 + n % 1682}"),
    Endpoint(
        "recs",
        "GetRecommendationsFunction",
        lambda n: f"/v1/recommendations?user_id=user_{1 + n % 943}&limit=20",
    ),
    Endpoint(
        "similar", "GetSimilarItemsFunction", lambda n: f"/v1/items/movie_{1 + n % 1682}/similar?limit=10"
    ),
    Endpoint(
        "explain",
        "ExplainRecommendationFunction",
        lambda n: f"/v1/recommendations/movie_{1 + (n * 7) % 1682}/explain?user_id=user_{1 + n % 943}",
    ),
]
TITLES = {
    "floor": "GET /v1/items/{id} (floor)",
    "recs": "GET /v1/recommendations?limit=20",
    "similar": "GET /v1/items/{id}/similar",
    "explain": "GET /v1/recommendations/{id}/explain",
}


def cold_starts(cloud: LocalCloud, key: str, rounds: int) -> dict[str, float]:
    """Each endpoint's first request to a runtime that has just started: a new environment."""
    samples: dict[str, list[float]] = {e.name: [] for e in SEEDED}
    for round_ in range(rounds):
        with cloud.serve_stack("served", cloud.layout.log("bench-runtime"), api_only=True) as (port, _):
            for endpoint in SEEDED:
                samples[endpoint.name].append(
                    endpoints.fresh(f"http://{HOST}:{port}", endpoint.path(round_), key).ms
                )
    return {name: round(statistics.median(values), 1) for name, values in samples.items()}


def refresh_figures(cloud: LocalCloud, invoke_port: int) -> dict[str, float]:
    metadata = cloud.refresh_metadata(invoke_port)
    timings = metadata["timings"]
    return {
        "refresh_s": round(float(timings["total_seconds"]), 1),
        "refresh_peak_mib": float(timings["peak_memory_mib"]),
        "refresh_items": float(metadata["counts"]["items"]),
    }


def goals(f: dict[str, float]) -> list[tuple[str, str, bool]]:
    """Issue 10's goals, each with what this run measured."""
    rows = [
        (
            "recs p50 <= floor p50 + 1.5 ms",
            f"{f['recs_p50_ms']} vs {f['floor_p50_ms']} + 1.5",
            f["recs_p50_ms"] <= f["floor_p50_ms"] + 1.5,
        ),
        (
            "recs p99 <= 2 x floor p99",
            f"{f['recs_p99_ms']} vs 2 x {f['floor_p99_ms']}",
            f["recs_p99_ms"] <= 2 * f["floor_p99_ms"],
        ),
        (
            "similar p50 <= floor p50 + 1 ms",
            f"{f['similar_p50_ms']} vs {f['floor_p50_ms']} + 1",
            f["similar_p50_ms"] <= f["floor_p50_ms"] + 1,
        ),
        (
            "explain p50 <= floor p50 + 3 ms",
            f"{f['explain_p50_ms']} vs {f['floor_p50_ms']} + 3",
            f["explain_p50_ms"] <= f["floor_p50_ms"] + 3,
        ),
    ]
    for name in ("floor", "recs", "similar", "explain"):
        kept, new = f[f"keepalive_{name}_p50_ms"], f[f"{name}_p50_ms"]
        rows.append((f"{name}: keep-alive p50 <= fresh p50", f"{kept} vs {new}", kept <= new))
    rows += [
        (
            "rps at 8 clients >= 80 % of the floor's",
            f"{f['rps_8']} vs {f['floor_rps_8']}",
            f["rps_8"] >= 0.8 * f["floor_rps_8"],
        ),
        ("recs in-handler p50 <= 1 ms", f"{f['recs_handler_p50_ms']}", f["recs_handler_p50_ms"] <= 1),
        (
            "similar in-handler p50 <= 1 ms",
            f"{f['similar_handler_p50_ms']}",
            f["similar_handler_p50_ms"] <= 1,
        ),
        ("recs cold start <= 1.5 s", f"{f['cold_start_ms']} ms", f["cold_start_ms"] <= 1500),
        (
            "refresh <= 2 minutes",
            f"{f['refresh_s']} s, peak {f['refresh_peak_mib']} MiB",
            f["refresh_s"] <= 120,
        ),
        (
            "event to effect p99 <= 1 s",
            f"p50 {f['effect_p50_ms']} ms, p99 {f['effect_p99_ms']} ms",
            f["effect_p99_ms"] <= 1000,
        ),
        ("ingest >= 12,000 events/s (issue 9)", f"{f['ingest_eps']}", f["ingest_eps"] >= 12000),
        ("MovieLens import <= 10 s (issue 9)", f"{f['import_100k_s']} s", f["import_100k_s"] <= 10),
    ]
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--skip-ingest", action="store_true", help="leave out bench/ingest.py (about 3 minutes)"
    )
    args = parser.parse_args(argv)
    cloud = LocalCloud()
    if cloud.stores_down():
        print("error: the local cloud is not up: run `make up` first", file=sys.stderr)
        return 2
    if cloud.latest_model(cloud.deploy(SERVED_STACK)) is None:
        print("error: the served stack has no model: `make up` seeds and trains it", file=sys.stderr)
        return 2
    key = cloud.create_api_key("enterprise", ["read", "write"], "bench")
    figures: dict[str, float] = {"items": 1682.0}
    started = time.perf_counter()

    cold = cold_starts(cloud, key, COLD_ROUNDS)
    figures["cold_start_ms"] = cold["recs"]
    with cloud.serve_stack("served", cloud.layout.log("bench-runtime"), api_only=True) as (port, invoke_port):
        for endpoint in SEEDED:
            measured = endpoints.measure(HOST, port, key, endpoint, RUNS, CLIENTS, SECONDS)
            measured["cold_ms"] = cold[endpoint.name]
            for name, value in measured.items():
                if name.startswith("keepalive_"):
                    figures[f"keepalive_{endpoint.name}_{name[len('keepalive_') :]}"] = value
                elif name == "rps":
                    figures[f"{endpoint.name}_rps_8"] = value
                else:
                    figures[f"{endpoint.name}_{name}"] = value
        figures.update(effect.event_to_effect(HOST, port, key, EFFECT_TRIALS))
        figures.update(refresh_figures(cloud, invoke_port))
    figures["rps_8"] = figures["recs_rps_8"]
    if not args.skip_ingest:
        figures.update(ingest.run(cloud))

    print(f"\nmake bench, seeded stack (1,682 items), {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"{'endpoint':<38} {'cold':>8} {'p50':>7} {'p99':>7} {'keep-alive p50':>15} {'p99':>7}", end="")
    print(f" {'handler p50':>12} {'rps @8':>8}")
    for endpoint in SEEDED:
        f, n = figures, endpoint.name
        row = f"{TITLES[n]:<38} {f[n + '_cold_ms']:>8.0f} {f[n + '_p50_ms']:>7.2f} {f[n + '_p99_ms']:>7.2f}"
        row += f" {f['keepalive_' + n + '_p50_ms']:>15.2f} {f['keepalive_' + n + '_p99_ms']:>7.2f}"
        print(row + f" {f[n + '_handler_p50_ms']:>12.3f} {f[n + '_rps_8']:>8.1f}")
    print(
        f"refresh {figures['refresh_s']} s (peak {figures['refresh_peak_mib']:.0f} MiB); event to effect p50"
        f" {figures['effect_p50_ms']} ms, p99 {figures['effect_p99_ms']} ms ({EFFECT_TRIALS} trials)"
    )
    if "ingest_eps" in figures:
        print("\ngoal                                          measured                              met")
        for goal, measured, met in goals(figures):
            print(f"  {goal:<44} {measured:<37} {'yes' if met else 'NO'}")
    print(f"(took {time.perf_counter() - started:.0f} s)")
    print(json.dumps({"scale": "seeded", **figures}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
