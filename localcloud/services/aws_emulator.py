"""The AWS emulator: moto's server (as moto_server.py patches it), serving the stacks' S3, SQS,
Kinesis, EMR Serverless and IAM (schedules are fired by the Lambda runtime, not by the emulator)."""

from __future__ import annotations

import shutil
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import ClassVar

from localcloud.services.base import Service, ServiceError
from localcloud.settings import HOST


class AwsEmulator(Service):
    name = "aws"
    title = "AWS emulator (moto)"
    ready_timeout = 20.0

    listens: ClassVar[dict[str, str]] = {"port": "aws"}
    port: int

    @property
    def data_location(self) -> str:
        return "in memory (make up re-creates the template's resources)"

    @property
    def executable(self) -> str | None:
        beside = Path(sys.executable).with_name("moto_server")
        return str(beside) if beside.exists() else shutil.which("moto_server")

    def install(self) -> None:
        if self.executable is None:
            raise ServiceError("moto_server is missing from the project venv: run `make venv`")

    def spawn(self) -> None:
        # moto's server, with Kinesis sequence numbers made safe under concurrency (moto_server.py)
        self.launch(
            [sys.executable, "-m", "localcloud.services.moto_server", "-H", HOST, "-p", str(self.port)]
        )

    def answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://{HOST}:{self.port}/moto-api/", timeout=1) as reply:
                return bool(reply.status == 200)
        except (urllib.error.URLError, OSError):
            return False
