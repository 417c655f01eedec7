import socket
from dataclasses import replace
from typing import ClassVar

import pytest

from localcloud.services.base import Service, ServiceError
from localcloud.settings import Layout, Ports


class Dummy(Service):
    name = "dummy"
    title = "Dummy"

    listens: ClassVar[dict[str, str]] = {"port": "redis"}

    def __init__(self, layout, port):
        super().__init__(layout, replace(Ports(), redis=port))
        self.spawned = False

    def install(self):
        pass

    def spawn(self):
        self.spawned = True

    def answers(self):
        return True


def test_taken_port_gives_one_line_naming_port_and_fix(tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        service = Dummy(Layout(state=tmp_path), port)
        with pytest.raises(ServiceError) as caught:
            service.start()
    message = str(caught.value)
    assert "\n" not in message
    assert str(port) in message and "RECSYS_REDIS_PORT" in message
    assert not service.spawned


def test_stale_pid_file_is_ignored(tmp_path):
    service = Dummy(Layout(state=tmp_path), 1)
    service.write_pid(2**22 + 12345)  # beyond pid_max: no such process
    assert service.pid() is None
    assert service.stop() is False
    assert not service.pid_file.exists()


class ExitsAtOnce(Dummy):
    ready_timeout = 5

    def spawn(self):
        self.launch(["sh", "-c", "echo 'FATAL: bad config line 3' >&2; exit 1"])

    def answers(self):
        return False


def test_server_dying_during_start_up_is_reported_with_its_last_log_line(tmp_path):
    service = ExitsAtOnce(Layout(state=tmp_path), 1)
    assert service.start() is True
    with pytest.raises(ServiceError) as caught:
        service.wait_ready()
    message = str(caught.value)
    assert "exited during start-up" in message and "FATAL: bad config line 3" in message
    assert "\n" not in message


def test_default_server_ports_are_outside_the_ephemeral_range():
    """A server restarting under traffic must not find its port held by some client's socket."""
    from dataclasses import fields
    from pathlib import Path

    from localcloud.settings import Ports

    low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    ports = Ports()  # each port its default
    defaults = {f.name: getattr(ports, f.name) for f in fields(ports)}
    inside = {name: port for name, port in defaults.items() if low <= port <= high}
    assert not inside, f"default ports inside the ephemeral range {low}-{high}: {inside}"


class LoadsSlowly(Dummy):
    """Answers only after three ready_timeouts, saying meanwhile that it is loading its data."""

    ready_timeout = 0.3

    def spawn(self):
        import time

        self.launch(["sleep", "30"])
        self.ready_at = time.monotonic() + 3 * self.ready_timeout

    def answers(self):
        import time

        return time.monotonic() >= self.ready_at

    def loading(self):
        return not self.answers()


def test_a_server_loading_its_data_is_waited_for_past_the_ready_timeout(tmp_path):
    import time

    service = LoadsSlowly(Layout(state=tmp_path), 1)
    assert service.start() is True
    try:
        service.wait_ready()  # a plain Dummy that never answers would raise after ready_timeout
        assert time.monotonic() >= service.ready_at
    finally:
        service.stop()


def test_a_server_that_neither_answers_nor_loads_fails_after_the_ready_timeout(tmp_path):
    class Silent(LoadsSlowly):
        def loading(self):
            return False

    service = Silent(Layout(state=tmp_path), 1)
    assert service.start() is True
    try:
        with pytest.raises(ServiceError, match="did not answer within"):
            service.wait_ready()
    finally:
        service.stop()


def test_redis_reading_its_snapshot_counts_as_loading_until_it_is_ready():
    from localcloud.services.redis import _loading_in

    start = ["# oO0OoO0OoO0Oo Redis is starting oO0OoO0OoO0Oo", "* Server initialized"]
    reading = [
        *start,
        "* Reading RDB base file on AOF loading...",
        "* Loading RDB produced by version 7.0.15",
    ]
    assert _loading_in(reading)
    assert not _loading_in(
        [*reading, "* DB loaded from append only file: 52.757 seconds", "* Ready to accept connections"]
    )
    assert not _loading_in(start)  # no data to load: not answering is a failure
