"""The local cloud's five servers on one layout and set of ports: started, reported and stopped
together, and the AWS clients of the emulator among them (moto's server, or with
RECSYS_AWS_EMULATOR=localstack LocalStack and a moto server for EMR Serverless: localstack.py)."""

from __future__ import annotations

import time
from typing import Any

from localcloud.connections import aws_client
from localcloud.services.base import Service, ServiceError
from localcloud.services.cassandra import Cassandra
from localcloud.services.localstack import emulator_services
from localcloud.services.postgres import Postgres
from localcloud.services.redis import Redis
from localcloud.services.runtime import LambdaRuntime
from localcloud.settings import AWS_EMULATORS, HOST, Layout, Ports, aws_emulator


class Servers:
    def __init__(self, layout: Layout, ports: Ports) -> None:
        self.layout, self.ports = layout, ports
        self.cassandra = Cassandra(layout, ports)
        self.postgres = Postgres(layout, ports)
        self.redis = Redis(layout, ports)
        self.emulator = aws_emulator(layout)
        # the AWS emulator (what chaos kills) and, under LocalStack, moto for EMR Serverless
        self.aws, *self.aws_sidecars = emulator_services(self.emulator, layout, ports)
        self.runtime = LambdaRuntime(layout, ports)

    @property
    def stores(self) -> list[Service]:
        # Cassandra first: it takes longest to become ready, the others start meanwhile.
        return [self.cassandra, self.postgres, self.redis, self.aws, *self.aws_sidecars]

    def other_emulators(self) -> list[Service]:
        """The services of the emulators not chosen (running ones are stopped with the rest)."""
        chosen = {service.name for service in [self.aws, *self.aws_sidecars]}
        return [
            service
            for emulator in AWS_EMULATORS
            if emulator != self.emulator
            for service in emulator_services(emulator, self.layout, self.ports)
            if service.name not in chosen
        ]

    @property
    def all(self) -> list[Service]:
        """Everything `make up` runs; the runtime last, as it needs the stack deployed."""
        return [*self.stores, self.runtime]

    def stores_down(self) -> list[str]:
        """The stores that are not running or not answering (commands that need them say so)."""
        return [s.title for s in self.stores if s.pid() is None or not s.answers()]

    def aws_client(self, service: str) -> Any:
        """A client of the AWS emulator, made once."""
        return aws_client(self.ports, service)

    def start_stores(self) -> None:
        """Start the stores not yet running, and wait until each answers."""
        running = [service.title for service in self.other_emulators() if service.pid() is not None]
        if running:
            raise ServiceError(
                f"{', '.join(running)} runs on this checkout, not the {self.emulator} chosen: "
                "`make down` first to switch emulators"
            )
        fresh = {service.name: service.start() for service in self.stores}
        # Quickest first, so each reported time is that service's own.
        for service in sorted(self.stores, key=lambda s: s.ready_timeout):
            self._report(service, fresh[service.name])

    def start_runtime(self) -> None:
        self._report(self.runtime, self.runtime.start())

    def _report(self, service: Service, fresh: bool) -> None:
        service.wait_ready()
        where = ", ".join(f"{HOST}:{port}" for port in service.ports.values())
        if fresh and service.spawned_at is not None:
            took = time.monotonic() - service.spawned_at
            ready_for = "ready for CQL" if service is self.cassandra else "ready"
            print(f"  {service.title:<20} {where:<38} {ready_for} in {took:.1f}s", flush=True)
        else:
            print(f"  {service.title:<20} {where:<38} already running", flush=True)

    def stop(self) -> None:
        """Stop every server, the runtime first."""
        for service in reversed(self.all):
            stopped = service.stop()
            print(f"  {service.title:<20} {'stopped' if stopped else 'not running'}")
        for service in self.other_emulators():
            if service.stop():
                print(f"  {service.title:<20} stopped")

    def status(self) -> bool:
        """Print each server's state, pid, ports, data and log; True when all answer."""
        healthy = True
        for service in self.all:
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
