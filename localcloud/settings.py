"""Where the local cloud lives: ports, folders, its region and account, and a local stack's parameters.

Every port can be moved with an environment variable (RECSYS_<NAME>_PORT) when another
program holds it; nothing else needs to change, since functions and tests read the values
from here through the template.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localcloud.template import StackContext, load_template
from recsys.connections import EMULATOR_VARIABLE, endpoint_variable

ROOT = Path(__file__).resolve().parent.parent
CASSANDRA_VERSION = "5.0.6"


def _port(name: str, default: int) -> int:
    raw = os.environ.get(f"RECSYS_{name}_PORT", str(default))
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise SystemExit(f"RECSYS_{name}_PORT={raw!r} is not a port number; unset it or give 1-65535")
    return int(raw)


@dataclass(frozen=True)
class Ports:
    postgres: int = _port("POSTGRES", 25432)
    redis: int = _port("REDIS", 26379)
    cassandra: int = _port("CASSANDRA", 29042)
    cassandra_storage: int = _port("CASSANDRA_STORAGE", 27000)
    cassandra_jmx: int = _port("CASSANDRA_JMX", 27199)
    aws: int = _port("AWS", 4566)
    # With AWS=localstack only: a moto server for EMR Serverless, which LocalStack lacks
    emr: int = _port("EMR", 4567)
    api: int = _port("API", 3000)
    invoke: int = _port("INVOKE", 3001)


@dataclass(frozen=True)
class Layout:
    """Folders: state (data, logs, pids) inside the checkout unless RECSYS_STATE_DIR moves it,
    downloads in the user's cache (RECSYS_CACHE_DIR)."""

    root: Path = ROOT
    state: Path = Path(os.environ.get("RECSYS_STATE_DIR", ROOT / ".localcloud"))
    cache: Path = Path(
        os.environ.get(
            "RECSYS_CACHE_DIR",
            Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "recsys-localcloud",
        )
    )

    def data(self, service: str) -> Path:
        return self.state / "data" / service

    def log(self, service: str) -> Path:
        return self.state / "logs" / f"{service}.log"

    def pid(self, service: str) -> Path:
        return self.state / "run" / f"{service}.pid"

    @property
    def template(self) -> Path:
        return self.root / "template.yaml"


HOST = "127.0.0.1"
# The one region and account of every local stack, its ARNs and its AWS clients.
REGION = "us-east-1"
# moto's default account; LocalStack takes a 12-digit access key as the account, so the ARNs
# either emulator makes carry it (aws_environment)
ACCOUNT_ID = "123456789012"
# The local PostgreSQL cluster's superuser (trusted on loopback, no password): tooling and functions.
SUPERUSER = "recsys"


def local_context(
    template: dict[str, Any], stack_name: str, parameters: Mapping[str, str] | None = None
) -> StackContext:
    """A stack of `template` in the local region and account."""
    return StackContext(template, stack_name, REGION, ACCOUNT_ID, parameter_overrides=parameters or {})


@dataclass(frozen=True)
class Stack:
    """One local deployment of the template: its stack name and where its data goes.

    Every local stack (STACKS below) shares the servers but not the data: each has its own
    database, keyspace, Redis database and AWS resource names.
    """

    name: str
    database: str
    keyspace: str
    redis_db: int

    def parameters(self, ports: Ports) -> dict[str, str]:
        return {
            "Stage": "local",
            "PostgresHost": HOST,
            "PostgresPort": str(ports.postgres),
            "PostgresDatabase": self.database,
            "PostgresUser": SUPERUSER,
            "RedisUrl": f"redis://{HOST}:{ports.redis}/{self.redis_db}",
            "CassandraContactPoints": HOST,
            "CassandraPort": str(ports.cassandra),
            "CassandraKeyspace": self.keyspace,
            # a refresh is served within seconds locally (tests and `make refresh` wait for it)
            "ModelCheckSeconds": "2",
            "CacheCheckSeconds": "1",
        }

    def context(self, ports: Ports, layout: Layout) -> StackContext:
        return local_context(load_template(layout.template), self.name, self.parameters(ports))


SERVED_STACK = Stack(name="recsys-local", database="recsys", keyspace="recsys", redis_db=0)
TEST_STACK = Stack(name="recsys-test", database="recsys_test", keyspace="recsys_test", redis_db=15)
# `make eval` trains and queries a stack of its own, so it never disturbs what is served or tested.
EVAL_STACK = Stack(name="recsys-eval", database="recsys_eval", keyspace="recsys_eval", redis_db=14)
# `make chaos` kills servers under traffic on a stack of its own.
CHAOS_STACK = Stack(name="recsys-chaos", database="recsys_chaos", keyspace="recsys_chaos", redis_db=13)
# `make bench` loads hundreds of thousands of events: on a stack of its own, never the served one.
BENCH_STACK = Stack(name="recsys-bench", database="recsys_bench", keyspace="recsys_bench", redis_db=12)
# `make bench SCALE=100k`: a synthetic catalog of 100,000 items and 1,000,000 interactions.
SCALE_STACK = Stack(name="recsys-scale", database="recsys_scale", keyspace="recsys_scale", redis_db=10)
STACKS = {
    "served": SERVED_STACK,
    "test": TEST_STACK,
    "eval": EVAL_STACK,
    "chaos": CHAOS_STACK,
    "bench": BENCH_STACK,
    "scale": SCALE_STACK,
}


# The AWS emulators the local cloud can run: moto's server (the default) or LocalStack on the host.
AWS_EMULATORS = ("moto", "localstack")


def aws_emulator(layout: Layout | None = None) -> str:
    """The emulator of this local cloud: RECSYS_AWS_EMULATOR (`make up AWS=localstack` sets it), or
    else LocalStack while it runs on this layout (so later commands find it), or else moto."""
    chosen = os.environ.get(EMULATOR_VARIABLE, "").strip().lower()
    if chosen:
        if chosen not in AWS_EMULATORS:
            raise SystemExit(f"{EMULATOR_VARIABLE}={chosen!r}: choose one of {', '.join(AWS_EMULATORS)}")
        return chosen
    try:
        pid = int((layout or Layout()).pid("localstack").read_text().split()[0])
        os.kill(pid, 0)
    except (OSError, ValueError, IndexError):
        return "moto"
    return "localstack"


def aws_environment(ports: Ports, emulator: str | None = None) -> dict[str, str]:
    """What a function's AWS clients need to talk to the emulator instead of AWS (boto3 reads it)."""
    env = {
        "AWS_ENDPOINT_URL": f"http://{HOST}:{ports.aws}",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_ACCESS_KEY_ID": ACCOUNT_ID,
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    if (emulator or aws_emulator()) == "localstack":
        env[endpoint_variable("emr-serverless")] = f"http://{HOST}:{ports.emr}"
    return env


def tooling_aws_environment(ports: Ports, emulator: str | None = None) -> dict[str, str]:
    """The local cloud's own clients: a function's, and which emulator serves them."""
    emulator = emulator or aws_emulator()
    return {**aws_environment(ports, emulator), EMULATOR_VARIABLE: emulator}
