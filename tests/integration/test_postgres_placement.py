"""A checkout the postgres user cannot reach (under /root, say) still gets a working cluster."""

import os
import shutil
import socket

import psycopg
import pytest

from localcloud.services.postgres import SUPERUSER, Postgres
from localcloud.settings import Layout, Ports


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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
        with psycopg.connect(
            host="127.0.0.1", port=ports.postgres, user=SUPERUSER, dbname="postgres"
        ) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        server.stop()
        relocated = server.data_dir.resolve().parent
        if relocated.is_relative_to("/var/lib/recsys-localcloud"):
            shutil.rmtree(relocated)
