"""Where the local PostgreSQL cluster lives and how it starts again after a crash."""

import os
import shutil
import signal

import pytest

from localcloud.connections import postgres
from localcloud.services.base import wait_until
from localcloud.services.postgres import Postgres
from localcloud.services.runtime import free_port
from localcloud.settings import Layout, Ports


def _answers(port: int) -> bool:
    with postgres(port, "postgres") as conn:
        return conn.execute("SELECT 1").fetchone() == (1,)


@pytest.mark.skipif(os.geteuid() != 0, reason="only root runs the server as another user")
def test_unreachable_state_folder_gets_a_linked_cluster(tmp_path):
    hidden = tmp_path / "private"
    hidden.mkdir(mode=0o700)
    ports = Ports(postgres=free_port())
    server = Postgres(Layout(state=hidden / ".localcloud"), ports)
    try:
        assert server.start() is True
        server.wait_ready()
        assert server.data_dir.is_symlink() and server.log_file.is_symlink()
        assert _answers(ports.postgres)
    finally:
        server.stop()
        relocated = server.data_dir.resolve().parent
        if relocated.is_relative_to("/var/lib/recsys-localcloud"):
            shutil.rmtree(relocated)


def _postgres_processes_in(data_dir) -> bool:
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/environ", "rb") as environ:
                if f"PGDATA={data_dir}".encode() in environ.read():
                    return True
        except OSError:
            continue
    return False


def test_start_after_a_crash_waits_for_the_new_postmaster(tmp_path):
    """A killed server leaves its postmaster.pid behind; the next start must not take that
    file's dead pid for the new server's and report that it exited."""
    ports = Ports(postgres=free_port())
    server = Postgres(Layout(state=tmp_path / ".localcloud"), ports)
    try:
        assert server.start() is True
        server.wait_ready()
        crashed = server.pid()
        os.kill(crashed, signal.SIGKILL)
        # Gone for good (reaped, its backends exited too), as after a machine's restart.
        assert wait_until(lambda: not os.path.exists(f"/proc/{crashed}"), 10)
        assert wait_until(lambda: not _postgres_processes_in(server.data_dir.resolve()), 10)
        assert (server.data_dir / "postmaster.pid").exists()
        assert server.start() is True
        server.wait_ready()
        assert server.pid() not in (None, crashed)
        assert _answers(ports.postgres)
    finally:
        server.stop()
