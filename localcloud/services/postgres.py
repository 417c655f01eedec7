"""PostgreSQL from the machine's server binaries (15, else another version installed), a cluster
in the state folder (or, when its owner cannot reach that, under /var/lib/recsys-localcloud)."""

from __future__ import annotations

import glob
import hashlib
import os
import pwd
import shutil
import subprocess
import time
from pathlib import Path
from typing import ClassVar

from localcloud.connections import postgres
from localcloud.services.base import Service, ServiceError, apt_install, pid_alive, wait_until
from localcloud.settings import HOST, SUPERUSER

RELOCATED = Path("/var/lib/recsys-localcloud")
# initdb and postgres refuse to run as root; as root we run them as this system user.
SYSTEM_USER = "postgres"


def _bin_dir() -> Path | None:
    candidates = sorted(glob.glob("/usr/lib/postgresql/15/bin")) + sorted(
        glob.glob("/usr/lib/postgresql/*/bin")
    )
    for candidate in candidates:
        if Path(candidate, "pg_ctl").exists():
            return Path(candidate)
    found = shutil.which("pg_ctl")
    return Path(found).parent if found else None


class Postgres(Service):
    name = "postgres"
    title = "PostgreSQL"
    ready_timeout = 30.0

    listens: ClassVar[dict[str, str]] = {"port": "postgres"}
    port: int

    @property
    def bin_dir(self) -> Path:
        found = _bin_dir()
        if found is None:
            raise ServiceError(
                "PostgreSQL server binaries (pg_ctl) are missing: apt-get install -y postgresql-15"
            )
        return found

    def install(self) -> None:
        if _bin_dir() is None:
            apt_install("postgresql-15", "the PostgreSQL 15 server")

    def _as_owner(self, command: list[str]) -> list[str]:
        if os.geteuid() != 0:
            return command
        try:
            pwd.getpwnam(SYSTEM_USER)
        except KeyError:
            raise ServiceError(
                f"running as root needs the '{SYSTEM_USER}' system user for PostgreSQL: "
                "apt-get install -y postgresql-15 creates it"
            ) from None
        return ["runuser", "-u", SYSTEM_USER, "--", *command]

    def _give_to_owner(self, *paths: Path) -> None:
        if os.geteuid() != 0:
            return
        owner = pwd.getpwnam(SYSTEM_USER)
        for path in paths:
            os.chown(path, owner.pw_uid, owner.pw_gid)

    def _run(self, program: str, *arguments: str) -> subprocess.CompletedProcess[str]:
        """A server program (initdb, pg_ctl) on this cluster's data folder, as its owner."""
        command = [str(self.bin_dir / program), "-D", str(self.data_dir.resolve()), *arguments]
        return subprocess.run(self._as_owner(command), capture_output=True, text=True, check=False)

    def _owner_can_write(self, path: Path) -> bool:
        return subprocess.run(self._as_owner(["test", "-w", str(path)]), check=False).returncode == 0

    def _relocate(self) -> None:
        """The server user cannot reach the checkout (say, under /root): keep the cluster in
        /var/lib/recsys-localcloud/<checkout> and link it from the state folder."""
        home = RELOCATED / hashlib.sha256(str(self.layout.state.resolve()).encode()).hexdigest()[:12]
        data, log = home / "postgres", home / "postgres.log"
        data.mkdir(parents=True, exist_ok=True)
        log.touch()
        self._give_to_owner(home, data, log)
        for link, target in ((self.data_dir, data), (self.log_file, log)):
            if link.is_dir() and not link.is_symlink():
                link.rmdir()  # still empty: this is the first start
            elif link.exists() or link.is_symlink():
                link.unlink()
            link.symlink_to(target)
        print(
            f"  PostgreSQL keeps its data in {data} (linked from {self.data_dir}): "
            f"the '{SYSTEM_USER}' user cannot reach {self.layout.state}",
            flush=True,
        )

    def prepare(self) -> None:
        self.log_file.touch()
        self._give_to_owner(self.data_dir, self.log_file)
        if os.geteuid() == 0 and not self._owner_can_write(self.data_dir.resolve()):
            self._relocate()
        if (self.data_dir / "PG_VERSION").exists():
            return
        if not self._owner_can_write(self.data_dir.resolve()):
            raise ServiceError(
                f"the '{SYSTEM_USER}' user cannot write {self.data_dir.resolve()}; set RECSYS_STATE_DIR"
            )
        result = self._run("initdb", "-U", SUPERUSER, "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8")
        if result.returncode != 0:
            raise ServiceError(f"initdb failed: {(result.stderr or result.stdout).strip().splitlines()[-1]}")

    def spawn(self) -> None:
        launched_at = time.time()
        options = (
            f"-c listen_addresses={HOST} -c port={self.port} -c unix_socket_directories='' "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        result = self._run("pg_ctl", "-l", str(self.log_file.resolve()), "-o", options, "-W", "start")
        if result.returncode != 0:
            raise ServiceError(f"pg_ctl start failed ({result.stderr.strip()}); see {self.log_file}")
        # The postmaster writes its own pid file; mirror its first line into ours. After a crash
        # the old file is still there until the new postmaster replaces it: wait for the new one.
        if not wait_until(lambda: self._mirror_pid(written_after=launched_at), 10):
            raise ServiceError(f"PostgreSQL wrote no postmaster.pid; see {self.log_file}")

    def _mirror_pid(self, written_after: float) -> bool:
        postmaster = self.data_dir / "postmaster.pid"
        try:
            if postmaster.stat().st_mtime < written_after - 1:  # coarse file-system clocks
                return False
            pid = int(postmaster.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return False
        if not pid_alive(pid):
            return False
        self.write_pid(pid)
        return True

    def answers(self) -> bool:
        import psycopg

        try:
            with postgres(self.port, "postgres", connect_timeout=2) as conn:
                conn.execute("SELECT 1")
            return True
        except psycopg.OperationalError:
            return False

    def terminate(self, pid: int) -> None:
        self._run("pg_ctl", "-m", "fast", "-W", "stop")

    def ensure_database(self, name: str, *, recreate: bool = False) -> None:
        from psycopg import sql

        with postgres(self.port, "postgres") as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if exists and recreate:
                conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
                exists = None
            if not exists:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
