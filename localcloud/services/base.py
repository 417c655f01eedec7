"""What every local service shares: pid files, port checks, waiting until it answers."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from localcloud.settings import HOST, Layout, Ports


class ServiceError(RuntimeError):
    """A service cannot be brought up; the message names the cause and the fix, in one line."""


def port_is_open(port: int, host: str = HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped) counts as gone.
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_until(check: Callable[[], bool], timeout: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval)
    return check()


def kill_processes_mentioning(folder: str) -> list[int]:
    """SIGKILL every process one of whose arguments is a path inside `folder` (what a server left
    running from its folder after it died); returns their pids."""
    prefix, killed = folder.rstrip("/").encode() + b"/", []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if any(arg.startswith(prefix) for arg in (entry / "cmdline").read_bytes().split(b"\0")):
                os.kill(int(entry.name), signal.SIGKILL)
                killed.append(int(entry.name))
        except OSError:
            continue
    return killed


def apt_install(package: str, why: str) -> None:
    """Install a Debian package, or say how to when we may not."""
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise ServiceError(f"{why} is missing: install it with `sudo apt-get install -y {package}`")
    print(f"  installing {package} with apt-get (first run only)...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", package]):
        result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            last = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
            raise ServiceError(f"`{' '.join(command)}` failed ({last[0]}); install {package} by hand")


class Service(ABC):
    """A server process of the local cloud, started in the background with a pid file."""

    name: str
    title: str
    ready_timeout: float = 60.0

    # the ports it listens on: attribute -> the field of Ports it takes (RECSYS_<FIELD>_PORT moves it)
    listens: ClassVar[dict[str, str]] = {}

    def __init__(self, layout: Layout, ports: Ports) -> None:
        self.layout = layout
        self.spawned_at: float | None = None
        for attribute, field in self.listens.items():
            setattr(self, attribute, getattr(ports, field))

    @property
    def ports(self) -> dict[str, int]:
        """The ports it listens on, keyed by the environment variable that moves each."""
        return {f"RECSYS_{field.upper()}_PORT": getattr(self, a) for a, field in self.listens.items()}

    # -- what each service defines -------------------------------------------------------

    @abstractmethod
    def install(self) -> None:
        """Make the server's binaries available (first run only)."""

    @abstractmethod
    def spawn(self) -> None:
        """Start the server in the background and write its pid file."""

    @abstractmethod
    def answers(self) -> bool:
        """True once the server really serves requests (not merely listens)."""

    def prepare(self) -> None:  # noqa: B027 - optional hook
        """Initialise the data folder on first start, where the server needs that."""

    # -- shared behaviour ----------------------------------------------------------------
    @property
    def pid_file(self) -> Path:
        return self.layout.pid(self.name)

    @property
    def data_location(self) -> str:
        return str(self.data_dir)

    @property
    def log_file(self) -> Path:
        return self.layout.log(self.name)

    @property
    def data_dir(self) -> Path:
        return self.layout.data(self.name)

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        return pid if pid_alive(pid) else None

    def write_pid(self, pid: int) -> None:
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        self.pid_file.write_text(f"{pid}\n")

    def start(self) -> bool:
        """Start unless already running. Returns False when it was already up."""
        if self.pid() is not None:
            return False
        self.pid_file.unlink(missing_ok=True)
        for variable, port in self.ports.items():
            if port_is_open(port):
                raise ServiceError(
                    f"{self.title}: port {port} on {HOST} is taken by another program; "
                    f"stop that program or choose another port with {variable}=<free port>"
                )
        self.install()
        for folder in (self.data_dir, self.log_file.parent, self.pid_file.parent):
            folder.mkdir(parents=True, exist_ok=True)
        self.prepare()
        self.spawned_at = time.monotonic()
        self.spawn()
        return True

    def wait_ready(self) -> None:
        def check() -> bool:
            if self.pid() is None:
                raise ServiceError(f"{self.title} exited during start-up; see its log: {self.log_tail()}")
            return self.answers()

        while not wait_until(check, self.ready_timeout, interval=0.25):
            if not self.loading():  # a server still loading its data answers once it has
                raise ServiceError(
                    f"{self.title} did not answer within {self.ready_timeout:.0f}s; see {self.log_file}"
                )

    def loading(self) -> bool:
        """Whether the server is up but still loading its data (it then answers later)."""
        return False

    def log_tail(self, lines: int = 1) -> str:
        try:
            tail = self.log_file.read_text(errors="replace").strip().splitlines()[-lines:]
        except OSError:
            return str(self.log_file)
        return f"{self.log_file}: {' | '.join(tail)}" if tail else str(self.log_file)

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop the server and wait for it to exit. Returns False when it was not running."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        self.terminate(pid)
        if not wait_until(lambda: not pid_alive(pid), timeout):
            os.kill(pid, signal.SIGKILL)
            wait_until(lambda: not pid_alive(pid), 5)
        self.pid_file.unlink(missing_ok=True)
        return True

    def terminate(self, pid: int) -> None:
        os.kill(pid, signal.SIGTERM)

    def launch(
        self,
        command: list[str],
        env: dict[str, str] | None = None,
        preexec: Callable[[], None] | None = None,
    ) -> int:
        """Run `command` detached from this process, its output appended to the log."""
        with self.log_file.open("ab") as log:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=env,
                preexec_fn=preexec,
            )
        self.write_pid(process.pid)
        return process.pid
