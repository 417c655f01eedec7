"""`make eval`: the served model's quality through the public API, beside four baselines, on one split.

MovieLens-100k (fetched by `make up`) is split by the protocol of evaluation/protocol.py (temporal
leave-last-out, ties in the data file's order). The training events go into a stack of their own
(`recsys-eval`) through the project's ingest code, the refresh function trains on them through the
local runtime, and every user's top 10 comes from `GET /v1/recommendations`. The baselines are
computed in-process on the same split. Every API call goes through the Python client
(clients/python). It writes a chart (docs/eval.png unless --chart says where), and the last line
printed is one JSON object.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evaluation import baselines as baselines_module
from evaluation.protocol import Event, item_universe, leave_last_out, metrics
from localcloud import seed
from localcloud.charts import eval_chart
from localcloud.progress import Progress, elapsed
from localcloud.settings import EVAL_STACK, HOST, ROOT
from localcloud.stack import LocalCloud
from recsys.stores.index_artifacts import S3IndexArtifacts
from recsys_client import RecsysClient

KEYS = ("hr@10", "ndcg@10", "coverage@10", "se_hr@10", "se_ndcg@10")


def _log(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


def load_split(cloud: LocalCloud) -> tuple[list[Event], dict[str, str], list[str], str]:
    """Load the catalog and the training events into the eval stack (deployed afresh and served
    by its runtime) through its bulk import."""
    items, interactions = seed.read_movielens(seed.fetch(cloud.layout.cache / "datasets"))
    events = [Event(i.user_id, i.item_id, i.action, i.event_time.timestamp()) for i in interactions]
    train, held_out = leave_last_out(events)
    held = set(held_out.items())
    kept = [i for i in interactions if (i.user_id, i.item_id) not in held]
    context = cloud.deploy(EVAL_STACK)
    with cloud.history_import(EVAL_STACK, context) as history:
        seed.ingest(items, kept, history)
    return train, held_out, item_universe(events), context.resources["IndexArtifactsBucket"]["Ref"]


def served_rankings(
    base_url: str, key: str, users: list[str], workers: int = 4
) -> tuple[dict[str, list[str]], set[str]]:
    """Each user's top 10 through the API (the Python client: one per worker thread, each on its
    own kept-alive connection, retrying a 429 or 503), and the model versions that answered."""
    local = threading.local()
    clients: list[RecsysClient] = []

    def top10(user: str) -> tuple[str, list[str], str]:
        if not hasattr(local, "client"):
            local.client = RecsysClient(base_url, key, timeout=60)
            clients.append(local.client)
        answer = local.client.get_recommendations(user, limit=10)
        return user, [r.item_id for r in answer.recommendations], answer.model_version

    rankings: dict[str, list[str]] = {}
    versions: set[str] = set()
    try:
        with (
            concurrent.futures.ThreadPoolExecutor(workers) as pool,
            Progress("ranking users through the API", total=len(users), unit="users") as bar,
        ):
            for user, ranked, version in pool.map(top10, users):
                rankings[user] = ranked
                versions.add(version)
                bar.advance()
    finally:
        for client in clients:
            client.close()
    _log(f"served by {', '.join(sorted(versions))}")
    return rankings, versions


def set_blend(base_url: str, key: str, overrides: dict[str, float]) -> None:
    variants = [{"name": name, "weight": 1, "blend": overrides} for name in ("a", "b")]
    with RecsysClient(base_url, key, timeout=60) as client:
        client.put_experiment("eval_blend", variants)
    _log(f"serving every user with {overrides}")


def _row(name: str, figures: dict[str, float]) -> str:
    return (
        f"  {name:<12} {figures['hr@10']:.4f} ± {figures['se_hr@10']:.4f}   "
        f"{figures['ndcg@10']:.4f} ± {figures['se_ndcg@10']:.4f}   {figures['coverage@10']:.3f}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make eval", description=__doc__)
    parser.add_argument("--skip-baselines", action="store_true", help="only the served model")
    parser.add_argument(
        "--blend",
        default="",
        help="serve every user with these ranking overrides, e.g. 'max_category_share=0.5,recent_weight=4' "
        "(through a ranking experiment whose variants all carry them)",
    )
    parser.add_argument(
        "--training",
        choices=("auto", "lambda", "spark"),
        default="auto",
        help="where the refresh trains: by the log's size (the default), in the function, or on Spark",
    )
    parser.add_argument(
        "--chart",
        type=Path,
        default=ROOT / "docs" / "eval.png",
        help="where to write the chart of HR@10 and NDCG@10 with their standard errors (PNG)",
    )
    args = parser.parse_args(argv)
    cloud = LocalCloud()
    down = cloud.stores_down()
    if down:
        print(f"error: the local cloud is not up ({', '.join(down)}): run `make up` first", file=sys.stderr)
        return 2
    summary = evaluate(cloud, args.training, args.blend, baselines=not args.skip_baselines)
    note = f"{datetime.now(UTC):%Y-%m-%d}, {os.cpu_count()} cores" + (
        f", blend {args.blend}" if args.blend else ""
    )
    eval_chart(summary, args.chart, note=note)
    print(f"  chart: {args.chart}")
    print(json.dumps(summary))
    return 0


def evaluate(
    cloud: LocalCloud,
    training: str = "auto",
    blend: str = "",
    baselines: bool = True,
    parameters: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Train on the split's training events, rank every held-out user through the API, print the
    table; returns the figures (the JSON `make eval` prints last). parameters: template
    parameters over the eval stack's (e.g. SparkTrainingThreshold)."""
    started = time.monotonic()
    log_file = cloud.layout.log("eval-runtime")
    cloud.deploy(EVAL_STACK, fresh=True)
    with cloud.serve_stack("eval", log_file, parameters=parameters) as (api_port, invoke_port):
        _log(
            "splitting MovieLens-100k (leave-last-out, ties in file order); importing it into the eval stack"
        )
        train, held_out, items, bucket = load_split(cloud)
        _log(f"{len(train)} training events, {len(held_out)} held-out users, {len(items)} items")
        version = cloud.refresh(invoke_port, EVAL_STACK, training)
        _log(f"trained {version} through the refresh function")
        time.sleep(0.1)
        key = cloud.create_api_key("enterprise", ["read", "admin"], "eval", stack=EVAL_STACK)
        base_url = f"http://{HOST}:{api_port}"
        if blend:
            overrides = {k.strip(): float(v) for k, v in (pair.split("=") for pair in blend.split(","))}
            set_blend(base_url, key, overrides)
        rankings, versions = served_rankings(base_url, key, sorted(held_out))
    results: dict[str, dict[str, Any]] = {"served": metrics(rankings, held_out, len(items))}
    chosen: dict[str, dict[str, float]] = {}
    if baselines:
        for name, run in (
            ("popular", baselines_module.most_popular),
            ("ease", baselines_module.ease),
            ("als", baselines_module.als),
            ("sequential", baselines_module.sequential_ease),
        ):
            _log(f"baseline {name} (hyper-parameters chosen on the validation split)...")
            with elapsed(f"baseline {name}"):
                result = run(train, items)
            results[name] = metrics(result.rankings, held_out, len(items))
            chosen[name] = result.params
    print(f"\nMovieLens-100k, leave-last-out (ties in file order), {len(held_out)} users, {len(items)} items")
    print(f"  {'model':<12} {'HR@10 ± se':<18} {'NDCG@10 ± se':<18} coverage@10")
    for name, figures in results.items():
        print(_row(name, figures))
    for name, params in chosen.items():
        print(f"  {name} chose {params} on validation")
    best = max((r["ndcg@10"] for n, r in results.items() if n != "served"), default=0.0)
    if best:
        print(f"  served / best baseline NDCG@10: {results['served']['ndcg@10'] / best:.3f}")
    print(f"  took {time.monotonic() - started:.0f}s")
    summary: dict[str, Any] = {name: {k: round(float(r[k]), 4) for k in KEYS} for name, r in results.items()}
    summary["served"]["model_version"] = version
    summary["served"]["answered_by"] = sorted(versions)  # every version an answer named
    # beside the version it measured, so the model's metadata and its eval figures sit together
    S3IndexArtifacts(cloud.aws_client("s3"), bucket).put(version, "eval.json", json.dumps(summary).encode())
    return summary


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
