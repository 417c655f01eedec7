"""The local Lambda runtime (see localcloud/runtime/): the served stack's, as a service of the
local cloud, and runtimes of other stacks on free ports, for the commands that need one."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar

from localcloud.runtime import build
from localcloud.services.base import Service, ServiceError, port_is_open, wait_until
from localcloud.settings import HOST, ROOT
from localcloud.template import load_template


def runtime_command(
    stack: str,
    api_port: int,
    invoke_port: int,
    api_only: bool = False,
    parameters: dict[str, str] | None = None,
) -> list[str]:
    """The command that runs a runtime serving one of settings.STACKS (see runtime/server.py)."""
    command = [sys.executable, "-m", "localcloud.runtime", "--stack", stack]
    command += ["--api-port", str(api_port), "--invoke-port", str(invoke_port)]
    command += ["--api-only"] if api_only else []
    return command + [f"--parameter={name}={value}" for name, value in (parameters or {}).items()]


class LambdaRuntime(Service):
    name = "runtime"
    title = "Lambda runtime + API"
    ready_timeout = 600.0  # the first start builds the runtime and the layers' requirements

    listens: ClassVar[dict[str, str]] = {"api_port": "api", "invoke_port": "invoke"}
    api_port: int
    invoke_port: int

    @property
    def data_location(self) -> str:
        return str(self.layout.state / "build")

    def install(self) -> None:
        try:
            build.runtime_interface_emulator(self.layout.cache)
            python = build.runtime_python(self.layout.state)
            # the layers' and functions' requirements too, here where their progress shows
            folders = build.template_folders(load_template(self.layout.template), self.layout.root)
            build.function_dependencies(folders, self.layout.state, python)
        except build.BuildError as exc:
            raise ServiceError(str(exc)) from None

    def spawn(self) -> None:
        self.launch(runtime_command("served", self.api_port, self.invoke_port))

    def stop(self, timeout: float = 30.0) -> bool:
        stopped = super().stop(timeout)
        # Execution environments run in sessions of their own; if the runtime was killed
        # outright they outlive it, so sweep up every process running our runtime interpreter.
        marker = str(self.layout.state / "runtime").encode()
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if marker in (entry / "cmdline").read_bytes():
                        os.kill(int(entry.name), signal.SIGKILL)
                except OSError:
                    continue
        return stopped

    def answers(self) -> bool:
        try:
            urllib.request.urlopen(f"http://{HOST}:{self.api_port}/", timeout=2)
        except urllib.error.HTTPError:
            return True  # any HTTP answer (a 404 for /) means the gateway serves
        except (urllib.error.URLError, OSError):
            return False
        return True


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve_stack(
    stack: str, log_file: Path, *, api_only: bool = False, parameters: dict[str, str] | None = None
) -> Iterator[tuple[int, int]]:
    """A runtime serving one of settings.STACKS on free ports of its own (its API, its Invoke API),
    stopped on leaving; for commands that must not disturb the served stack (eval, chaos).
    api_only: no pollers or schedules, beside a runtime that consumes (benchmarks).
    parameters: template parameters over the stack's, for this runtime's functions."""
    api_port, invoke_port = free_port(), free_port()
    command = runtime_command(stack, api_port, invoke_port, api_only, parameters)
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
