"""Runtimes of the e2e tier: each test module starts the local runtime it needs."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

from botocore.config import Config

from localcloud.connections import aws_client
from localcloud.services.runtime import free_port
from localcloud.settings import ROOT, TEST_STACK


class Runtime:
    """A runtime process of its own: a fixture template, or the project's on the test stack."""

    def __init__(
        self,
        cloud,
        tmp: Path,
        template: Path | None = None,
        concurrency: int = 4,
        env: dict[str, str] | None = None,
    ) -> None:
        self.stack = f"rt{uuid.uuid4().hex[:8]}" if template else TEST_STACK.name
        self.api_port, self.invoke_port = free_port(), free_port()
        self.log_path = tmp / "runtime.log"
        self.log = self.log_path.open("wb")
        where = (
            ["--template", str(template), "--stack", "none", "--stack-name", self.stack]
            if template
            else ["--stack", "test"]
        )
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "localcloud.runtime",
                *where,
                "--api-port",
                str(self.api_port),
                "--invoke-port",
                str(self.invoke_port),
                "--concurrency",
                str(concurrency),
            ],
            cwd=ROOT,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
        self.aws = lambda name: aws_client(cloud.ports, name)
        self.lam = aws_client(
            cloud.ports,
            "lambda",
            f"http://127.0.0.1:{self.invoke_port}",
            Config(read_timeout=60, retries={"max_attempts": 0}),
        )
        deadline = time.monotonic() + 600
        while not self._serving():
            assert self.process.poll() is None, self.log_path.read_text()
            assert time.monotonic() < deadline, "the runtime did not start"
            time.sleep(0.2)

    def _serving(self) -> bool:
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", self.api_port)) == 0

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.api_port}{path}", data=body, method=method, headers=headers or {}
        )
        try:
            with urllib.request.urlopen(req, timeout=60) as reply:
                return reply.status, reply.headers, reply.read()
        except urllib.error.HTTPError as err:
            return err.code, err.headers, err.read()

    def invoke(self, function: str, payload: dict):
        reply = self.lam.invoke(FunctionName=function, Payload=json.dumps(payload).encode())
        return reply.get("FunctionError"), json.loads(reply["Payload"].read())

    def records(self, prefix: str) -> list[str]:
        listed = self.aws("s3").list_objects_v2(Bucket=f"{self.stack}-records", Prefix=prefix)
        return sorted(obj["Key"].rsplit("/", 1)[0] for obj in listed.get("Contents", []))

    def queue_url(self, suffix: str) -> str:
        return self.aws("sqs").get_queue_url(QueueName=f"{self.stack}-{suffix}")["QueueUrl"]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)
        self.log.close()


def wait_for(check, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.3)
    return check()
