"""The local cloud's Redis client for start-up probes asks once. A Redis replaying a large
append-only file answers PING with LOADING, which redis-py's default client retries three times
with backoff of up to 10 s: that kept the probe past `make up`'s deadline."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import redis

from localcloud.connections import redis_db


@pytest.fixture
def loading_server() -> Iterator[tuple[int, list[bytes]]]:
    """A server that accepts the client's handshake and answers PING as a loading Redis: its port,
    and the PINGs it got."""
    listener = socket.create_server(("127.0.0.1", 0))
    pings: list[bytes] = []
    stop = threading.Event()

    def answer(conn: socket.socket) -> None:
        with conn:
            while data := conn.recv(65536):
                if b"PING" in data.upper():
                    pings.append(data)
                    conn.sendall(b"-LOADING Redis is loading the dataset in memory\r\n")
                else:
                    conn.sendall(b"+OK\r\n")

    def serve() -> None:
        listener.settimeout(0.05)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=answer, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1], pings
    stop.set()
    thread.join()
    listener.close()


def test_a_probe_of_a_loading_server_pings_once(loading_server: tuple[int, list[bytes]]) -> None:
    port, pings = loading_server
    started = time.perf_counter()
    with pytest.raises(redis.BusyLoadingError):
        redis_db(port, socket_timeout=1, retries=False).ping()
    assert time.perf_counter() - started < 0.5
    assert len(pings) == 1  # the default client pings four times, backing off between them
