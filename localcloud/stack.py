"""The local cloud as a whole: its services, and the stacks (schema + AWS resources) on them."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from localcloud.aws_resources import (
    create_stack_resources,
    delete_spark_applications,
    delete_streams_and_queues,
    empty_buckets,
    spark_applications,
)
from localcloud.connections import aws_client, postgres, redis_db
from localcloud.services.aws_emulator import AwsEmulator
from localcloud.services.base import Service, ServiceError, port_is_open, wait_until
from localcloud.services.cassandra import Cassandra
from localcloud.services.postgres import Postgres
from localcloud.services.redis import Redis
from localcloud.services.runtime import LambdaRuntime
from localcloud.settings import HOST, ROOT, SERVED_STACK, Layout, Ports, Stack, aws_environment, local_context
from localcloud.template import StackContext, load_template
from recsys.schema.migrate import ensure_keyspace, migrate_cassandra, migrate_postgres

if TYPE_CHECKING:
    from recsys.stores.index_artifacts import S3IndexArtifacts


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


SEED_MARKER = (
    "seed:movielens-100k:v2"  # set once the whole seed (log keyed by event id, catalog, history) is in
)


class LocalCloud:
    def __init__(self, layout: Layout | None = None, ports: Ports | None = None) -> None:
        self.layout = layout or Layout()
        self.ports = ports or Ports()
        self.cassandra = Cassandra(self.layout, self.ports)
        self.postgres = Postgres(self.layout, self.ports)
        self.redis = Redis(self.layout, self.ports)
        self.aws = AwsEmulator(self.layout, self.ports)
        self.runtime = LambdaRuntime(self.layout, self.ports)

    @property
    def stores(self) -> list[Service]:
        # Cassandra first: it takes longest to become ready, the others start meanwhile.
        return [self.cassandra, self.postgres, self.redis, self.aws]

    def stores_down(self) -> list[str]:
        """The stores that are not running or not answering (commands that need them say so)."""
        return [s.title for s in self.stores if s.pid() is None or not s.answers()]

    @property
    def services(self) -> list[Service]:
        """Everything `make up` runs; the runtime last, as it needs the stack deployed."""
        return [*self.stores, self.runtime]

    def up(self) -> None:
        fresh = {service.name: service.start() for service in self.stores}
        # Quickest first, so each reported time is that service's own.
        for service in sorted(self.stores, key=lambda s: s.ready_timeout):
            self._report(service, fresh[service.name])
        context = self.deploy(SERVED_STACK)
        created = len(context.resources)
        print(
            f"  stack {SERVED_STACK.name}: schema applied, {created} AWS resources created from template.yaml"
        )
        self._report(self.runtime, self.runtime.start())
        self.seed(SERVED_STACK, context)  # through the bulk import, which the runtime serves
        self.train_once(context)
        print(f"  API: http://{HOST}:{self.ports.api}  Lambda Invoke API: http://{HOST}:{self.ports.invoke}")

    def latest_model(self, context: StackContext) -> str | None:
        from recsys.stores.index_artifacts import S3IndexArtifacts

        bucket = context.resources["IndexArtifactsBucket"]["Ref"]
        return S3IndexArtifacts(self.aws_client("s3"), bucket).latest_version()

    def train_once(self, context: StackContext) -> None:
        """A stack with interactions but no model gets one, so the first request is personal."""
        if self.latest_model(context) is not None:
            return
        started = time.monotonic()
        try:
            version = self.refresh()
        except ServiceError as exc:
            print(f"  model not trained yet: {exc}")
            return
        print(f"  model {version} trained and published in {time.monotonic() - started:.0f}s")

    def refresh(
        self, invoke_port: int | None = None, stack: Stack = SERVED_STACK, training: str = "auto"
    ) -> str:
        """Run the refresh function now, through the runtime; returns the published model version."""
        return str(self.refresh_metadata(invoke_port, stack, training)["model_version"])

    def refresh_metadata(
        self, invoke_port: int | None = None, stack: Stack = SERVED_STACK, training: str = "auto"
    ) -> dict[str, Any]:
        """Run the refresh function now, through the runtime; returns the published version's
        metadata. A refresh that trains on Spark answers at once: this then waits for the run to
        end and its model to be published (the run's state-change event does that)."""
        import json

        result = self.invoke("IndexRefreshFunction", json.dumps({"training": training}).encode(), invoke_port)
        payload = json.loads(result["Payload"].read() or b"null")
        if result.get("FunctionError") or not isinstance(payload, dict) or "model_version" not in payload:
            message = payload.get("errorMessage") if isinstance(payload, dict) else payload
            raise ServiceError(f"the refresh failed: {message}")
        if payload.get("status") != "training":
            return payload
        return self._published(stack, payload["model_version"], payload["job_run_id"])

    def index_artifacts(self, stack: Stack) -> S3IndexArtifacts:
        """The stack's published models (its IndexArtifactsBucket)."""
        from recsys.stores.index_artifacts import S3IndexArtifacts

        context = stack.context(self.ports, self.layout)
        bucket = context.resolve(
            context.template["Resources"]["IndexArtifactsBucket"]["Properties"]["BucketName"]
        )
        return S3IndexArtifacts(self.aws_client("s3"), bucket)

    def _published(self, stack: Stack, version: str, run_id: str, timeout: float = 1800.0) -> dict[str, Any]:
        import json

        from recsys.logic.spark_training import FAILED

        artifacts = self.index_artifacts(stack)
        context = stack.context(self.ports, self.layout)
        application = context.resolve(
            context.template["Resources"]["SparkTrainingApplication"]["Properties"]["Name"]
        )
        emr = self.aws_client("emr-serverless")
        (found,) = spark_applications(emr, {application})
        application_id = found["id"]
        print(f"  training {version} on Spark (run {run_id}); waiting for it to be published", flush=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if artifacts.latest_version() == version:
                return dict(json.loads(artifacts.get(version, "metadata.json")))
            if artifacts.has(version, FAILED):
                raise ServiceError(
                    f"{version} was trained but not published: {artifacts.get(version, FAILED).decode()}"
                )
            run = emr.get_job_run(applicationId=application_id, jobRunId=run_id)["jobRun"]
            if run["state"] in ("FAILED", "CANCELLED"):
                raise ServiceError(f"the Spark run {run_id} {run['state']}: {run.get('stateDetails', '')}")
            time.sleep(1.0)
        raise ServiceError(f"{version} was not published within {timeout:.0f}s")

    def _report(self, service: Service, fresh: bool) -> None:
        service.wait_ready()
        where = ", ".join(f"{HOST}:{port}" for port in service.ports.values())
        if fresh and service.spawned_at is not None:
            took = time.monotonic() - service.spawned_at
            ready_for = "ready for CQL" if service is self.cassandra else "ready"
            print(f"  {service.title:<20} {where:<38} {ready_for} in {took:.1f}s", flush=True)
        else:
            print(f"  {service.title:<20} {where:<38} already running", flush=True)

    def seed(self, stack: Stack, context: StackContext) -> None:
        """Load MovieLens-100k into `stack` once (see seed.py); a failure is reported, not fatal."""
        from localcloud import seed
        from recsys.stores.catalog import PostgresCatalog
        from recsys.stores.feature_store import RedisFeatureStore

        features = RedisFeatureStore(redis_db(self.ports.redis, stack.redis_db))
        if features.has_marker(SEED_MARKER):
            return
        with postgres(self.ports.postgres, stack.database) as conn:
            query = "SELECT count(*) FROM items WHERE item_id LIKE %s"
            present = conn.execute(query, ("movie\\_%",)).fetchone()
        if present and present[0] > 0:  # seeded by an older version that kept no real-time history
            print(f"  {stack.name} holds a seed from an older layout of the stores: re-creating the stack")
            context = self.deploy(stack, fresh=True)
        started = time.monotonic()
        try:
            folder = seed.fetch(self.layout.cache / "datasets")
        except Exception as exc:  # no registry: the stack still runs, just empty
            print(f"  seed data skipped: could not fetch MovieLens-100k ({exc})")
            return
        with (
            self.history_import(stack, context) as history,
            postgres(self.ports.postgres, stack.database) as conn,
        ):
            items, interactions = seed.read_movielens(folder)
            seed.ingest(items, interactions, PostgresCatalog(conn), history)
        features.set_marker(SEED_MARKER)
        print(
            f"  seeded {stack.name} with MovieLens-100k: {len(items)} items,"
            f" {len({i.user_id for i in interactions})} users, {len(interactions)} interactions"
            f" (bulk import) in {time.monotonic() - started:.0f}s"
        )

    @contextmanager
    def history_import(self, stack: Stack, context: StackContext) -> Iterator[Any]:
        """A seed.HistoryImport into `stack` (whose runtime must be serving)."""
        from localcloud import seed
        from recsys.stores.catalog import PostgresCatalog
        from recsys.stores.feature_store import RedisFeatureStore
        from recsys.stores.interaction_imports import PostgresImportRegistry
        from recsys.stores.interaction_log import CassandraInteractionLog

        features = RedisFeatureStore(redis_db(self.ports.redis, stack.redis_db))
        with postgres(self.ports.postgres, stack.database) as conn, self.cassandra.session() as session:
            session.set_keyspace(stack.keyspace)
            yield seed.HistoryImport(
                self.aws_client("s3"),
                context.resources["InteractionImportBucket"]["Ref"],
                PostgresImportRegistry(conn),
                CassandraInteractionLog(session),
                features,
                PostgresCatalog(conn),
            )

    @contextmanager
    def serve_stack(
        self, stack: str, log_file: Path, *, api_only: bool = False, parameters: dict[str, str] | None = None
    ) -> Iterator[tuple[int, int]]:
        """A runtime serving one of STACKS on free ports of its own (its API, its Invoke API),
        stopped on leaving; for commands that must not disturb the served stack (eval, chaos).
        api_only: no pollers or schedules, beside a runtime that consumes (benchmarks).
        parameters: template parameters over the stack's, for this runtime's functions."""
        api_port, invoke_port = free_port(), free_port()
        command = [sys.executable, "-m", "localcloud.runtime", "--stack", stack]
        command += ["--api-port", str(api_port), "--invoke-port", str(invoke_port)]
        command += ["--api-only"] if api_only else []
        command += [f"--parameter={name}={value}" for name, value in (parameters or {}).items()]
        log_file.parent.mkdir(parents=True, exist_ok=True)
        with log_file.open("wb") as log:
            process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
            try:
                if not wait_until(lambda: port_is_open(api_port) or process.poll() is not None, 300, 0.2):
                    raise ServiceError(f"the {stack} runtime did not start; see {log_file}")
                if process.poll() is not None:
                    raise ServiceError(f"the {stack} runtime exited; see {log_file}")
                yield api_port, invoke_port
            finally:
                process.terminate()
                process.wait(30)

    def down(self) -> None:
        for service in reversed(self.services):
            stopped = service.stop()
            print(f"  {service.title:<20} {'stopped' if stopped else 'not running'}")

    def status(self) -> bool:
        healthy = True
        for service in self.services:
            pid = service.pid()
            answering = pid is not None and service.answers()
            healthy &= answering
            state = "up" if answering else ("starting" if pid else "down")
            ports = ",".join(str(p) for p in service.ports.values())
            print(
                f"  {service.title:<20} {state:<8} pid={pid or '-':<8} port={ports:<12} "
                f"data={service.data_location} log={service.log_file}"
            )
        return healthy

    # -- stacks --------------------------------------------------------------------------
    def aws_client(self, service: str) -> Any:
        return aws_client(self.ports, service)

    def deploy(self, stack: Stack, *, fresh: bool = False) -> StackContext:
        """Apply the schema and create the template's AWS resources for `stack`.

        fresh=True first wipes the stack's data (the test suite starts from empty stores).
        """
        self.postgres.ensure_database(stack.database, recreate=fresh)
        with postgres(self.ports.postgres, stack.database) as conn:
            migrate_postgres(conn)

        with self.cassandra.session() as session:
            if fresh:
                session.execute(f"DROP KEYSPACE IF EXISTS {stack.keyspace}")
            ensure_keyspace(session, stack.keyspace)
            migrate_cassandra(session, stack.keyspace)

        if fresh:
            redis_db(self.ports.redis, stack.redis_db).flushdb()

        context = stack.context(self.ports, self.layout)
        try:
            if fresh:
                delete_streams_and_queues(context, self.aws_client)
                delete_spark_applications(context, self.aws_client)
            create_stack_resources(context, self.aws_client)
            if fresh:  # a model published by an earlier run must not outlive the data it was trained on
                empty_buckets(context, self.aws_client)
        except Exception as exc:  # botocore errors carry the emulator's message
            raise ServiceError(
                f"creating {stack.name}'s AWS resources in the emulator failed: {exc}"
            ) from exc
        return context

    def invoke(self, function_id: str, payload: bytes, invoke_port: int | None = None) -> dict[str, Any]:
        """Invoke a function through a runtime's Lambda Invoke API (the served stack's by default)."""
        if invoke_port is None and self.runtime.pid() is None:
            raise ServiceError("the local runtime is not running: run `make up` first")
        client = aws_client(
            self.ports, "lambda", f"http://{HOST}:{invoke_port or self.ports.invoke}", _invoke_config()
        )
        try:
            return dict(client.invoke(FunctionName=function_id, Payload=payload))
        except client.exceptions.ResourceNotFoundException:
            raise ServiceError(f"{function_id} is not a function of template.yaml") from None

    def create_api_key(
        self, tier: str, scopes: list[str], name: str | None, stack: Stack = SERVED_STACK
    ) -> str:
        from recsys.stores.api_keys import PostgresApiKeyStore

        with postgres(self.ports.postgres, stack.database) as conn:
            try:
                return PostgresApiKeyStore(conn).create(tier, scopes, name)
            except ValueError as exc:
                raise ServiceError(str(exc)) from None

    def fire_schedule(
        self,
        function_id: str,
        template: Path | None = None,
        stack_name: str | None = None,
        invoke_port: int | None = None,
    ) -> dict[str, Any]:
        """Invoke a function with the event its schedule would send, now."""
        from localcloud.runtime.functions import load_functions
        from localcloud.runtime.schedules import scheduled_event

        if template is None:
            context = SERVED_STACK.context(self.ports, self.layout)
        else:
            context = local_context(load_template(template), stack_name or SERVED_STACK.name)
        create_stack_resources(context, self.aws_client)
        root = (template.parent if template else self.layout.template.parent).resolve()
        spec = load_functions(context, root).get(function_id)
        schedules = spec.events_of("Schedule", "ScheduleV2") if spec else []
        if spec is None or not schedules:
            raise ServiceError(f"{function_id} has no Schedule event in template.yaml")
        name, props = schedules[0]
        payload = scheduled_event(props, f"{spec.name}-{name}", context.region, context.account_id)
        return self.invoke(function_id, payload, invoke_port)

    def function_environment(self, stack: Stack, function_id: str | None = None) -> dict[str, str]:
        """The environment a function of `stack` gets: template Globals, its own, and AWS endpoint."""
        context = stack.context(self.ports, self.layout)
        create_stack_resources(context, self.aws_client)
        template = context.template
        variables: dict[str, Any] = dict(
            ((template.get("Globals") or {}).get("Function") or {})
            .get("Environment", {})
            .get("Variables", {})
        )
        if function_id is not None:
            own = template["Resources"][function_id].get("Properties", {})
            variables.update(own.get("Environment", {}).get("Variables", {}))
        resolved = {key: str(value) for key, value in context.resolve(variables).items()}
        return {**resolved, **aws_environment(self.ports)}


@cache
def _invoke_config() -> Any:
    """An invocation waits as long as a function may run (15 min), and is never retried."""
    from botocore.config import Config

    return Config(read_timeout=960, retries={"max_attempts": 0})
