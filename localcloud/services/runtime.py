"""The local Lambda runtime as a service of the local cloud (see localcloud/runtime/)."""

from __future__ import annotations

import os
import signal
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import ClassVar

from localcloud.runtime import build
from localcloud.services.base import Service, ServiceError
from localcloud.settings import HOST


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
            build.runtime_python(self.layout.state)
        except build.BuildError as exc:
            raise ServiceError(str(exc)) from None

    def spawn(self) -> None:
        self.launch(
            [
                sys.executable,
                "-m",
                "localcloud.runtime",
                "--stack",
                "served",
                "--api-port",
                str(self.api_port),
                "--invoke-port",
                str(self.invoke_port),
            ]
        )

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
