"""LocalCloud: the local cloud as its command line, the tools (bench, eval, chaos) and the tests
use it; each method hands the work to the module that does it."""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from localcloud import api_keys, deploy, invocations, refresh, seed
from localcloud.services import runtime
from localcloud.services.base import Service
from localcloud.services.servers import Servers
from localcloud.settings import HOST, SERVED_STACK, Layout, Ports, Stack
from localcloud.template import StackContext

if TYPE_CHECKING:
    from recsys.stores.index_artifacts import S3IndexArtifacts


class LocalCloud:
    def __init__(self, layout: Layout | None = None, ports: Ports | None = None) -> None:
        servers = self.servers = Servers(layout or Layout(), ports or Ports())
        self.layout, self.ports = servers.layout, servers.ports
        # the stores chaos/run.py kills and revives, and bench/ingest.py reads
        self.cassandra, self.redis, self.aws = servers.cassandra, servers.redis, servers.aws

    # -- the servers ---------------------------------------------------------------------
    @property
    def services(self) -> list[Service]:
        """Everything `make up` runs; the runtime last, as it needs the stack deployed."""
        return self.servers.all

    def stores_down(self) -> list[str]:
        return self.servers.stores_down()

    def up(self) -> None:
        """`make up`: the stores, the served stack deployed, its runtime, its seed and a model."""
        self.servers.start_stores()
        context = self.deploy(SERVED_STACK)
        created = len(context.resources)
        print(
            f"  stack {SERVED_STACK.name}: schema applied, {created} AWS resources created from template.yaml"
        )
        self.servers.start_runtime()
        # through the bulk import, which the runtime serves
        seed.seed_stack(self.servers, SERVED_STACK, context)
        refresh.train_once(self.servers, context)
        print(f"  API: http://{HOST}:{self.ports.api}  Lambda Invoke API: http://{HOST}:{self.ports.invoke}")

    def down(self) -> None:
        self.servers.stop()

    def status(self) -> bool:
        return self.servers.status()

    def aws_client(self, service: str) -> Any:
        return self.servers.aws_client(service)

    # -- stacks --------------------------------------------------------------------------
    def deploy(self, stack: Stack, *, fresh: bool = False) -> StackContext:
        return deploy.deploy(self.servers, stack, fresh=fresh)

    def history_import(
        self, stack: Stack, context: StackContext
    ) -> AbstractContextManager[seed.HistoryImport]:
        return seed.history_import(self.servers, stack, context)

    def serve_stack(
        self, stack: str, log_file: Path, *, api_only: bool = False, parameters: dict[str, str] | None = None
    ) -> AbstractContextManager[tuple[int, int]]:
        return runtime.serve_stack(stack, log_file, api_only=api_only, parameters=parameters)

    def create_api_key(
        self, tier: str, scopes: list[str], name: str | None, stack: Stack = SERVED_STACK
    ) -> str:
        return api_keys.create_api_key(self.ports, tier, scopes, name, stack)

    # -- functions and models ------------------------------------------------------------
    def invoke(self, function_id: str, payload: bytes, invoke_port: int | None = None) -> dict[str, Any]:
        return invocations.invoke(self.servers, function_id, payload, invoke_port)

    def fire_schedule(
        self,
        function_id: str,
        template: Path | None = None,
        stack_name: str | None = None,
        invoke_port: int | None = None,
    ) -> dict[str, Any]:
        return invocations.fire_schedule(self.servers, function_id, template, stack_name, invoke_port)

    def function_environment(self, stack: Stack, function_id: str | None = None) -> dict[str, str]:
        return invocations.function_environment(self.servers, stack, function_id)

    def refresh(
        self, invoke_port: int | None = None, stack: Stack = SERVED_STACK, training: str = "auto"
    ) -> str:
        """Run the refresh function now; returns the published model version."""
        return str(self.refresh_metadata(invoke_port, stack, training)["model_version"])

    def refresh_metadata(
        self, invoke_port: int | None = None, stack: Stack = SERVED_STACK, training: str = "auto"
    ) -> dict[str, Any]:
        return refresh.refresh_metadata(self.servers, invoke_port, stack, training)

    def latest_model(self, context: StackContext) -> str | None:
        return refresh.latest_model(self.servers, context)

    def index_artifacts(self, stack: Stack) -> S3IndexArtifacts:
        return refresh.index_artifacts(self.servers, stack)
