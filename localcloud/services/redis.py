"""Redis 7 or newer (Debian's redis-server), persisting to the state folder."""

from __future__ import annotations

import shutil
import subprocess
from typing import ClassVar

from localcloud.connections import redis_db
from localcloud.services.base import Service, ServiceError, apt_install
from localcloud.settings import HOST


class Redis(Service):
    name = "redis"
    title = "Redis"
    ready_timeout = 15.0

    listens: ClassVar[dict[str, str]] = {"port": "redis"}
    port: int

    def install(self) -> None:
        if shutil.which("redis-server") is None:
            apt_install("redis-server", "the Redis server")
        version = subprocess.run(
            ["redis-server", "--version"], capture_output=True, text=True, check=False
        ).stdout
        major = version.split("v=", 1)[1].split(".", 1)[0] if "v=" in version else "0"
        if int(major) < 7:
            raise ServiceError(
                f"Redis 7 or newer is needed, found {version.strip()}: apt-get install -y redis-server"
            )

    def spawn(self) -> None:
        self.launch(
            [
                "redis-server",
                "--bind",
                HOST,
                "--port",
                str(self.port),
                "--dir",
                str(self.data_dir),
                # no RDB snapshots: the append-only file is the durable copy, and a snapshot a
                # minute forked and rewrote the whole dataset while ingest ran
                "--save",
                "",
                # Every write reaches the disk before Redis answers: killed at any moment, it comes
                # back with each event's effects and its applied mark together, or with neither.
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                # Rewrite the append-only file only once it passes 1 GB (and twice its last
                # rewrite): at the default 64 MB, bulk imports set off rewrites of the whole dataset
                # (3.4 s of CPU for 800 MB, a fork beside the ingest) again and again.
                "--auto-aof-rewrite-min-size",
                "1gb",
                "--protected-mode",
                "yes",
                "--daemonize",
                "no",
                "--logfile",
                "",
            ]
        )

    def answers(self) -> bool:
        import redis

        try:
            return bool(redis_db(self.port, socket_timeout=1, retries=False).ping())
        except redis.RedisError:
            return False

    def loading(self) -> bool:
        """Replaying its append-only file (minutes for a large one): Redis does not listen while
        it reads the base snapshot, then answers LOADING until it has read the rest."""
        import redis

        try:
            redis_db(self.port, socket_timeout=1, retries=False).ping()
        except redis.BusyLoadingError:
            return True
        except redis.RedisError:
            return self.pid() is not None and _loading_in(self._this_start_log())
        return False

    def _this_start_log(self) -> list[str]:
        try:
            lines = self.log_file.read_text(errors="replace").splitlines()
        except OSError:
            return []
        starts = [n for n, line in enumerate(lines) if "Redis is starting" in line]
        return lines[starts[-1] :] if starts else lines


def _loading_in(log: list[str]) -> bool:
    began = any("Loading RDB" in line or "Reading RDB base file" in line for line in log)
    return began and not any("Ready to accept connections" in line for line in log)
