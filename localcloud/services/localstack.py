"""LocalStack on the host, the AWS emulator of `make up AWS=localstack` (moto's server is the default).

Without Docker, LocalStack's CLI refuses to start (it wants an auth token for its host mode), so
its runtime is run directly: `python -m localstack.runtime.main`, from localstack-core installed
into a Python 3.13 virtual environment of its own in the user's cache (it fails to import on 3.12),
with the pins of localstack-requirements.txt beside this file. It serves S3, SQS, IAM and Kinesis
(Kinesis through kinesis-local, which it installs from npm on first use and runs with node). What
it keeps lives under the state folder (its FILESYSTEM_ROOT), in memory or there, gone at `make down`.

LocalStack's community edition has no EMR Serverless: under LocalStack a moto server keeps serving
that one API (MotoEmrServerless below, on RECSYS_EMR_PORT), running the job runs with pyspark as
it does on the default emulator (spark_jobs.py), reading and writing LocalStack's S3. Functions find
it through AWS_ENDPOINT_URL_EMR_SERVERLESS, the tooling through the one client factory
(recsys.connections.new_aws_client).

It does not always stop on SIGTERM: after a grace period it is killed, and so is every process
left running from its folder (kinesis-local runs in a session of its own).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import ClassVar

from localcloud.services.aws_emulator import AwsEmulator
from localcloud.services.base import Service, ServiceError, apt_install, kill_processes_mentioning
from localcloud.settings import HOST, Layout, Ports
from recsys.connections import EMULATOR_VARIABLE

LOCALSTACK_VERSION = "2026.3.0"
REQUIREMENTS = Path(__file__).with_name("localstack-requirements.txt")


def python313() -> str | None:
    """A Python 3.13 interpreter: RECSYS_PYTHON313, pyenv's newest 3.13, or python3.13 on PATH."""
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    found = sorted(
        pyenv.glob("3.13.*/bin/python3.13"),
        key=lambda p: [int(n) if n.isdigit() else 0 for n in re.split(r"[.]", p.parent.parent.name)],
        reverse=True,
    )
    candidates = [os.environ.get("RECSYS_PYTHON313", ""), *map(str, found), shutil.which("python3.13") or ""]
    for candidate in filter(None, candidates):
        check = [candidate, "-c", "import sys; sys.exit(sys.version_info[:2] != (3, 13))"]
        if subprocess.run(check, capture_output=True, check=False).returncode == 0:
            return candidate
    return None


class LocalStack(Service):
    name = "localstack"
    title = "AWS: LocalStack"
    ready_timeout = 90.0
    stop_grace = 10.0  # then SIGKILL: LocalStack can hang on SIGTERM

    listens: ClassVar[dict[str, str]] = {"port": "aws"}
    port: int

    @property
    def home(self) -> Path:
        """The virtual environment LocalStack runs from, shared by every checkout."""
        return self.layout.cache / f"localstack-{LOCALSTACK_VERSION}"

    @property
    def python(self) -> Path:
        return self.home / "bin" / "python"

    @property
    def data_location(self) -> str:
        return f"{self.data_dir} (in memory and there; make up re-creates the template's resources)"

    @property
    def libraries(self) -> Path:
        """Where LocalStack installs what it runs beside itself (kinesis-local), in its FILESYSTEM_ROOT."""
        return self.data_dir / "var" / "lib" / "localstack" / "lib"

    def install(self) -> None:
        for tool, package in (("node", "nodejs"), ("npm", "npm")):  # kinesis-local runs on node
            if shutil.which(tool) is None:
                apt_install(package, f"{tool} (LocalStack runs its Kinesis with it)")
        ready = self.home / ".installed"
        if ready.exists() and ready.read_text() == REQUIREMENTS.read_text():
            return
        python = python313()
        if python is None:
            raise ServiceError(
                "LocalStack needs Python 3.13 (localstack-core fails on 3.12): install it "
                "(pyenv install 3.13) or set RECSYS_PYTHON313=/path/to/python3.13"
            )
        print(f"  installing LocalStack {LOCALSTACK_VERSION} into {self.home} (once, about 500 MB)...")
        for command in (
            [python, "-m", "venv", "--clear", str(self.home)],
            [str(self.python), "-m", "pip", "install", "-q", "--no-input", "-r", str(REQUIREMENTS)],
        ):
            result = subprocess.run(command, capture_output=True, text=True, check=False)
            if result.returncode != 0:
                last = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
                raise ServiceError(f"installing LocalStack failed: `{' '.join(command[:4])} ...`: {last[0]}")
        ready.write_text(REQUIREMENTS.read_text())

    def prepare(self) -> None:
        # A killed LocalStack can leave its kinesis-local behind: it would hold the stream's old state.
        kill_processes_mentioning(str(self.libraries))
        # What LocalStack installs at run time (kinesis-local) goes to the shared cache, once.
        libraries = self.libraries
        if not libraries.is_symlink():
            shutil.rmtree(libraries, ignore_errors=True)
            libraries.parent.mkdir(parents=True, exist_ok=True)
            (self.home / "lib-installed").mkdir(parents=True, exist_ok=True)
            libraries.symlink_to(self.home / "lib-installed")

    def environment(self) -> dict[str, str]:
        # the emulator's own settings only: none of the AWS_* variables a caller may have set
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LOCALSTACK_"))}
        return {
            **env,
            "GATEWAY_LISTEN": f"{HOST}:{self.port}",
            "GATEWAY_SERVER": "hypercorn",
            "OVERRIDE_IN_DOCKER": "0",
            "FILESYSTEM_ROOT": str(self.data_dir),
            # the URLs it hands out (SQS queue URLs) point here, not at *.localstack.cloud, whose
            # DNS is out of reach
            "LOCALSTACK_HOST": f"{HOST}:{self.port}",
            "SQS_ENDPOINT_STRATEGY": "path",
            "KINESIS_LATENCY": "0",  # it delays stream creation and deletion by 500 ms otherwise
            "DNS_ADDRESS": "0",  # no DNS server of its own
            "SKIP_SSL_CERT_DOWNLOAD": "1",
            "DISABLE_EVENTS": "1",  # no analytics
        }

    def spawn(self) -> None:
        self.launch([str(self.python), "-m", "localstack.runtime.main"], env=self.environment())

    def answers(self) -> bool:
        try:
            url = f"http://{HOST}:{self.port}/_localstack/health"
            with urllib.request.urlopen(url, timeout=2) as reply:
                return reply.status == 200 and "services" in json.loads(reply.read())
        except (urllib.error.URLError, OSError, ValueError):
            return False

    def stop(self, timeout: float | None = None) -> bool:
        stopped = super().stop(self.stop_grace if timeout is None else timeout)
        kill_processes_mentioning(str(self.libraries))  # kinesis-local
        return stopped


class MotoEmrServerless(AwsEmulator):
    """moto's server for the one API LocalStack lacks, EMR Serverless (its job runs run with
    pyspark, their S3 paths on LocalStack's S3)."""

    name = "emr"
    title = "EMR Serverless: moto"
    listens: ClassVar[dict[str, str]] = {"port": "emr"}

    def __init__(self, layout: Layout, ports: Ports) -> None:
        super().__init__(layout, ports)
        self.aws_port = ports.aws  # LocalStack's, whose S3 the job runs read and write

    @property
    def data_location(self) -> str:
        return "in memory (make up re-creates the template's EMR Serverless application)"

    def spawn(self) -> None:
        env = {**os.environ, EMULATOR_VARIABLE: "localstack", "RECSYS_AWS_PORT": str(self.aws_port)}
        self.launch(
            [sys.executable, "-m", "localcloud.services.moto_server", "-H", HOST, "-p", str(self.port)],
            env=env,
        )


def emulator_services(emulator: str, layout: Layout, ports: Ports) -> list[Service]:
    """The AWS emulator's services: moto's server, or LocalStack and moto for EMR Serverless."""
    if emulator == "localstack":
        return [LocalStack(layout, ports), MotoEmrServerless(layout, ports)]
    return [AwsEmulator(layout, ports)]
