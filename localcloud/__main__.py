"""`python -m localcloud <command>`: the local cloud's command line (`--help` lists the commands;
the Makefile names each)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from localcloud.invocations import sam_env_vars
from localcloud.services.base import ServiceError
from localcloud.settings import SERVED_STACK, TEST_STACK
from localcloud.stack import LocalCloud


def _print_invocation(result: dict[str, Any]) -> int:
    payload = result["Payload"].read().decode()
    print(payload)
    if result.get("FunctionError"):
        print(f"error: the function failed ({result['FunctionError']})", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="localcloud", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "up", help="start every service, deploy the served stack, seed it and train its first model"
    )
    commands.add_parser("down", help="stop every service")
    commands.add_parser("status", help="report each service (exit 1 unless all are up)")
    env = commands.add_parser("env", help="print the environment a function gets locally")
    env.add_argument("--stack", choices=["served", "test"], default="served")
    env.add_argument(
        "--format",
        choices=["shell", "sam"],
        default="shell",
        help="sam: a `sam local --env-vars` file (JSON) for functions in containers (README: LocalStack)",
    )
    env.add_argument(
        "--host", default="host.docker.internal", help="with --format sam: how a container reaches this host"
    )
    invoke = commands.add_parser("invoke", help="invoke a function with an event file")
    invoke.add_argument("function", help="logical id in the template")
    invoke.add_argument("event", nargs="?", help="JSON event file (default: {})")
    refresh = commands.add_parser(
        "refresh", help="retrain the served stack's model now; prints the new version last"
    )
    refresh.add_argument(
        "--training",
        choices=("auto", "lambda", "spark"),
        default="auto",
        help="where to train: by the log's size (SparkTrainingThreshold), in the function, or on Spark",
    )
    commands.add_parser("replay", help="put the failure queue's records back on the stream; prints JSON last")
    fire = commands.add_parser("fire", help="fire a function's schedule now")
    fire.add_argument("function", help="logical id in the template")
    api_key = commands.add_parser("api-key", help="create an API key in the served stack; prints it last")
    api_key.add_argument("--tier", choices=["free", "pro", "enterprise"], default="free")
    api_key.add_argument("--scopes", default="read", help="comma-separated: read,write,admin")
    api_key.add_argument("--name", default=None)
    for command in (invoke, fire):
        command.add_argument("--invoke-port", type=int, help="the runtime's Lambda Invoke API port")
        command.add_argument("--template", type=Path, help="another template served by its own runtime")
        command.add_argument("--stack-name", help="that runtime's stack name")
    args = parser.parse_args(argv)

    cloud = LocalCloud()
    try:
        if args.command == "up":
            started = time.monotonic()
            cloud.up()
            print(f"local cloud ready in {time.monotonic() - started:.1f}s")
        elif args.command == "down":
            cloud.down()
        elif args.command == "status":
            return 0 if cloud.status() else 1
        elif args.command == "env":
            stack = SERVED_STACK if args.stack == "served" else TEST_STACK
            if args.format == "sam":
                print(json.dumps(sam_env_vars(cloud.servers, stack, args.host), indent=2, sort_keys=True))
            else:
                for key, value in sorted(cloud.function_environment(stack).items()):
                    print(f"export {key}={value!r}")
        elif args.command == "invoke":
            payload = Path(args.event).read_bytes() if args.event else b"{}"
            # Sample API events carry a placeholder key; API_KEY=<key from make api-key> fills it in.
            if os.environ.get("API_KEY"):
                payload = payload.replace(b"REPLACE_WITH_AN_API_KEY", os.environ["API_KEY"].encode())
            return _print_invocation(cloud.invoke(args.function, payload, args.invoke_port))
        elif args.command == "api-key":
            scopes = [s.strip() for s in args.scopes.split(",") if s.strip()]
            secret = cloud.create_api_key(args.tier, scopes, args.name)
            print(f"created a {args.tier} key with scopes {','.join(sorted(set(scopes)))} (shown once):")
            print(secret)
        elif args.command == "refresh":
            started = time.monotonic()
            metadata = cloud.refresh_metadata(training=args.training)
            counts, index, timings = metadata["counts"], metadata["index"], metadata["timings"]
            print(
                f"{metadata['algorithm']}: {counts['events']} events, {counts['users']} users, "
                f"{counts['items']} items ({counts['items_from_content']} from content), "
                f"{counts['dimensions']} dimensions; index {index['kind']}, "
                f"recall@50 {index['recall_at_50']:.3f}; "
                + (
                    f"trained on Spark in {timings['spark_seconds']:.1f}s, published in "
                    f"{timings['total_seconds_before_publish']:.1f}s"
                    if "spark_seconds" in timings
                    else f"trained and published in {timings['total_seconds']:.1f}s, "
                    f"peak {timings['peak_memory_mib']} MiB"
                )
            )
            print(f"round trip {time.monotonic() - started:.1f}s; serving switches within seconds to:")
            print(metadata["model_version"])
        elif args.command == "replay":
            result = cloud.invoke("ReplayFailuresFunction", b"{}")
            return _print_invocation(result)
        elif args.command == "fire":
            result = cloud.fire_schedule(args.function, args.template, args.stack_name, args.invoke_port)
            return _print_invocation(result)
    except ServiceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
