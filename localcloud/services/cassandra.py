"""Apache Cassandra 5.0, single node, from the jars on Maven Central, run with Java 17."""

from __future__ import annotations

import os
import re
import resource
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from localcloud.progress import Progress
from localcloud.services.base import Service, ServiceError, apt_install
from localcloud.settings import CASSANDRA_VERSION, HOST

if TYPE_CHECKING:
    from cassandra.cluster import Session

CONFIG = Path(__file__).resolve().parent.parent / "cassandra"


def java_major_version(java: str) -> int:
    output = subprocess.run([java, "-version"], capture_output=True, text=True, check=False).stderr
    match = re.search(r'version "(\d+)', output)
    return int(match.group(1)) if match else 0


class Cassandra(Service):
    name = "cassandra"
    title = "Cassandra"
    ready_timeout = 180.0

    listens: ClassVar[dict[str, str]] = {
        "port": "cassandra",
        "storage_port": "cassandra_storage",
        "jmx_port": "cassandra_jmx",
    }
    port: int
    storage_port: int
    jmx_port: int

    @property
    def lib_dir(self) -> Path:
        return self.layout.cache / f"cassandra-{CASSANDRA_VERSION}" / "lib"

    @property
    def conf_dir(self) -> Path:
        return self.layout.state / "conf" / "cassandra"

    def install(self) -> None:
        java = shutil.which("java")
        if java is None:
            apt_install("openjdk-17-jre-headless", "Java 17 (for Cassandra)")
            java = shutil.which("java")
        if java is None or java_major_version(java) < 17:
            raise ServiceError(
                "Cassandra 5.0 needs Java 17 or newer: apt-get install -y openjdk-17-jre-headless"
            )
        marker = self.lib_dir / ".complete"
        if marker.exists():
            return
        if shutil.which("mvn") is None:
            apt_install("maven", "Maven (to fetch Cassandra's jars)")
        print(
            f"  fetching Cassandra {CASSANDRA_VERSION} jars with mvn into {self.lib_dir} (first run only)...",
            flush=True,
        )
        self.lib_dir.mkdir(parents=True, exist_ok=True)
        returncode, output = maven_with_progress(
            [
                "mvn",
                "-B",
                "-f",
                str(CONFIG / "pom.xml"),
                "dependency:copy-dependencies",
                f"-Dcassandra.version={CASSANDRA_VERSION}",
                f"-DoutputDirectory={self.lib_dir}",
                "-DincludeScope=runtime",
            ],
            f"Cassandra {CASSANDRA_VERSION} jars",
        )
        if returncode != 0 or not (self.lib_dir / f"cassandra-all-{CASSANDRA_VERSION}.jar").exists():
            errors = [line for line in output if "ERROR" in line] or ["no jar was fetched"]
            raise ServiceError(f"mvn could not fetch Cassandra {CASSANDRA_VERSION}: {errors[0].strip()}")
        marker.touch()

    def _fill(self, text: str) -> str:
        values = {
            "DATA_DIR": str(self.data_dir),
            "LOG_DIR": str(self.log_file.parent),
            "LIB_DIR": str(self.lib_dir),
            "CONF_DIR": str(self.conf_dir),
            "NATIVE_PORT": str(self.port),
            "STORAGE_PORT": str(self.storage_port),
            "JMX_PORT": str(self.jmx_port),
        }
        return re.sub(r"\{\{(\w+)\}\}", lambda m: values[m.group(1)], text)

    def prepare(self) -> None:
        (self.conf_dir / "triggers").mkdir(parents=True, exist_ok=True)
        (self.conf_dir / "cassandra.yaml").write_text(self._fill((CONFIG / "cassandra.yaml").read_text()))

    def jvm_options(self) -> list[str]:
        """One option a line in the file; `--add-opens X` lines are two arguments."""
        lines = self._fill((CONFIG / "jvm17-server.options").read_text()).splitlines()
        return [
            arg
            for line in lines
            if line.strip() and not line.lstrip().startswith("#")
            for arg in line.split()
        ]

    def spawn(self) -> None:
        command = [
            "java",
            *self.jvm_options(),
            f"-Dcassandra.config=file://{self.conf_dir / 'cassandra.yaml'}",
            f"-Dcassandra.storagedir={self.data_dir}",
            f"-Dcassandra.logdir={self.log_file.parent}",
            f"-Dlogback.configurationFile=file://{CONFIG / 'logback.xml'}",
            "-Dcassandra-foreground=yes",
            "-cp",
            f"{self.lib_dir}/*",
            "org.apache.cassandra.service.CassandraDaemon",
        ]
        if os.geteuid() == 0 and shutil.which("setpriv"):
            # A dev node must not mlockall() its heap; as root, dropping CAP_IPC_LOCK prevents it.
            command = ["setpriv", "--bounding-set=-ipc_lock", "--inh-caps=-ipc_lock", *command]
        self.launch(command, env={**os.environ, "MALLOC_ARENA_MAX": "4"}, preexec=_no_memlock)

    def answers(self) -> bool:
        try:
            with self.session(connect_timeout=2) as session:
                session.execute("SELECT release_version FROM system.local")
            return True
        except Exception:
            return False

    @contextmanager
    def session(self, connect_timeout: float = 10) -> Iterator[Session]:
        from cassandra.cluster import Cluster

        # protocol v4, as the functions use (recsys.connections says why)
        cluster = Cluster([HOST], port=self.port, connect_timeout=connect_timeout, protocol_version=4)
        try:
            yield cluster.connect()
        finally:
            cluster.shutdown()


# What Maven downloads into an empty local repository for the jars (and the plugin that copies
# them): 80.3 MB, measured with Maven 3.8.7 for Cassandra 5.0.6. The bar's total, so its time
# left is an estimate; a repository that holds some of them already finishes early.
MAVEN_DOWNLOAD_BYTES = 80_300_000
_DOWNLOADED = re.compile(r"Downloaded from \S+: \S+ \(([\d.]+) (B|kB|MB|GB)")
_UNITS = {"B": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9}


def downloaded_bytes(line: str) -> float:
    """The size in one of Maven's transfer lines: `Downloaded from central: <url> (2.8 kB at …)`."""
    found = _DOWNLOADED.search(line)
    return float(found.group(1)) * _UNITS[found.group(2)] if found else 0.0


def maven_with_progress(command: list[str], what: str) -> tuple[int, list[str]]:
    """Run Maven, counting the bytes its transfer lines report (a bar on a terminal); returns its
    exit status and its output lines."""
    output: list[str] = []
    with (
        Progress(f"downloading {what}", total=MAVEN_DOWNLOAD_BYTES, unit="B") as bar,
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as process,
    ):
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line.rstrip())
            size = downloaded_bytes(line)
            if size:
                bar.set(min(bar.done + size, MAVEN_DOWNLOAD_BYTES))
    return process.returncode, output


def _no_memlock() -> None:
    resource.setrlimit(resource.RLIMIT_MEMLOCK, (0, 0))
