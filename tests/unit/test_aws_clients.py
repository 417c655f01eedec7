"""The one AWS client factory (recsys.connections.new_aws_client) and the emulator choice around
it: plain boto3 on AWS, endpoints from AWS_ENDPOINT_URL(_<SERVICE>), localstack-client when
LocalStack is the chosen emulator, and the services `make up` runs for each emulator."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import localstack_client.session
import pytest

from localcloud import connections as local_connections
from localcloud.services.aws_emulator import AwsEmulator
from localcloud.services.base import ServiceError, kill_processes_mentioning, pid_alive, wait_until
from localcloud.services.localstack import LocalStack, MotoEmrServerless
from localcloud.services.servers import Servers
from localcloud.settings import (
    ACCOUNT_ID,
    Layout,
    Ports,
    aws_emulator,
    aws_environment,
    tooling_aws_environment,
)
from recsys.connections import EMULATOR_VARIABLE, endpoint_variable, new_aws_client

LOCALSTACK = {
    "AWS_ENDPOINT_URL": "http://127.0.0.1:14566",
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": ACCOUNT_ID,
    "AWS_SECRET_ACCESS_KEY": "testing",
    EMULATOR_VARIABLE: "localstack",
}


@pytest.fixture
def localstack_sessions(monkeypatch):
    """The localstack-client sessions the factory opens: their localstack_host, per client made."""
    made: list[tuple[str, str]] = []
    original = localstack_client.session.Session.client

    def client(self, service_name, **kwargs):
        made.append((service_name, self._service_endpoint_mapping[service_name]))
        return original(self, service_name, **kwargs)

    monkeypatch.setattr(localstack_client.session.Session, "client", client)
    return made


def test_on_aws_the_client_is_plain_boto3_and_never_imports_localstack_client(monkeypatch):
    monkeypatch.delenv(EMULATOR_VARIABLE, raising=False)
    monkeypatch.setitem(sys.modules, "localstack_client.session", None)  # importing it would fail
    monkeypatch.setenv("AWS_SESSION_TOKEN", "a-role-session")  # what Lambda gives a function
    s3 = new_aws_client("s3")
    assert s3.meta.endpoint_url == "https://s3.amazonaws.com"
    assert s3._request_signer._credentials.token == "a-role-session"


def test_boto3_honours_aws_endpoint_url_and_a_services_own_variable(monkeypatch):
    monkeypatch.delenv(EMULATOR_VARIABLE, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:14566")
    monkeypatch.setenv("AWS_ENDPOINT_URL_EMR_SERVERLESS", "http://127.0.0.1:14567")
    assert new_aws_client("sqs").meta.endpoint_url == "http://127.0.0.1:14566"
    assert new_aws_client("emr-serverless").meta.endpoint_url == "http://127.0.0.1:14567"


def test_an_explicit_environment_gives_its_endpoints_region_and_credentials(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://elsewhere:1")
    env = {**LOCALSTACK, EMULATOR_VARIABLE: "moto", "AWS_REGION": "eu-west-1"}
    kinesis = new_aws_client("kinesis", env)
    assert kinesis.meta.endpoint_url == "http://127.0.0.1:14566"
    assert kinesis.meta.region_name == "eu-west-1"
    assert kinesis._request_signer._credentials.access_key == ACCOUNT_ID


def test_localstack_chosen_clients_come_from_localstack_client(monkeypatch, localstack_sessions):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)  # localstack-client would prefer it
    s3 = new_aws_client("s3", LOCALSTACK)
    assert localstack_sessions == [("s3", "http://127.0.0.1:14566")]
    assert s3.meta.endpoint_url == "http://127.0.0.1:14566"
    assert s3._request_signer._credentials.access_key == ACCOUNT_ID  # LocalStack's account


def test_the_process_environment_can_choose_localstack_too(monkeypatch, localstack_sessions):
    for key, value in LOCALSTACK.items():
        monkeypatch.setenv(key, value)
    assert new_aws_client("sqs").meta.endpoint_url == "http://127.0.0.1:14566"
    assert localstack_sessions == [("sqs", "http://127.0.0.1:14566")]


def test_under_localstack_emr_serverless_and_explicit_endpoints_stay_plain_boto3(localstack_sessions):
    env = {**LOCALSTACK, endpoint_variable("emr-serverless"): "http://127.0.0.1:14567"}
    assert endpoint_variable("emr-serverless") == "AWS_ENDPOINT_URL_EMR_SERVERLESS"
    assert new_aws_client("emr-serverless", env).meta.endpoint_url == "http://127.0.0.1:14567"
    invoke = new_aws_client("lambda", env, endpoint_url="http://127.0.0.1:13001")
    assert invoke.meta.endpoint_url == "http://127.0.0.1:13001"
    assert localstack_sessions == []


def test_a_functions_environment_names_no_emulator_the_toolings_does(tmp_path):
    ports = replace(Ports(), aws=14566, emr=14567)
    moto, localstack = aws_environment(ports, "moto"), aws_environment(ports, "localstack")
    assert EMULATOR_VARIABLE not in moto and EMULATOR_VARIABLE not in localstack
    assert endpoint_variable("emr-serverless") not in moto
    assert localstack[endpoint_variable("emr-serverless")] == "http://127.0.0.1:14567"
    assert localstack["AWS_ENDPOINT_URL"] == moto["AWS_ENDPOINT_URL"] == "http://127.0.0.1:14566"
    assert tooling_aws_environment(ports, "localstack")[EMULATOR_VARIABLE] == "localstack"


def test_the_local_clouds_clients_go_through_the_factory(monkeypatch, localstack_sessions):
    monkeypatch.setenv(EMULATOR_VARIABLE, "localstack")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    ports = replace(Ports(), aws=14566, emr=14567)
    local_connections.aws_client.cache_clear()
    try:
        assert local_connections.aws_client(ports, "s3").meta.endpoint_url == "http://127.0.0.1:14566"
        emr = local_connections.aws_client(ports, "emr-serverless")
        assert emr.meta.endpoint_url == "http://127.0.0.1:14567"
    finally:
        local_connections.aws_client.cache_clear()
    assert localstack_sessions == [("s3", "http://127.0.0.1:14566")]


def test_the_emulator_is_the_one_named_or_else_a_running_localstack(monkeypatch, tmp_path):
    layout = Layout(state=tmp_path)
    monkeypatch.delenv(EMULATOR_VARIABLE, raising=False)
    assert aws_emulator(layout) == "moto"
    layout.pid("localstack").parent.mkdir(parents=True)
    layout.pid("localstack").write_text(f"{2**22 + 12345}\n")  # stale: no such process
    assert aws_emulator(layout) == "moto"
    layout.pid("localstack").write_text(f"{os.getpid()}\n")
    assert aws_emulator(layout) == "localstack"
    monkeypatch.setenv(EMULATOR_VARIABLE, "moto")
    assert aws_emulator(layout) == "moto"
    monkeypatch.setenv(EMULATOR_VARIABLE, "docker")
    with pytest.raises(SystemExit, match="moto, localstack"):
        aws_emulator(layout)


def test_servers_run_localstack_with_moto_for_emr_serverless_or_moto_alone(monkeypatch, tmp_path):
    layout = Layout(state=tmp_path)
    monkeypatch.setenv(EMULATOR_VARIABLE, "localstack")
    servers = Servers(layout, Ports())
    assert isinstance(servers.aws, LocalStack)
    assert [type(s) for s in servers.aws_sidecars] == [MotoEmrServerless]
    assert servers.stores[-2:] == [servers.aws, *servers.aws_sidecars]
    assert [type(s) for s in servers.other_emulators()] == [AwsEmulator]
    monkeypatch.setenv(EMULATOR_VARIABLE, "moto")
    servers = Servers(layout, Ports())
    assert isinstance(servers.aws, AwsEmulator) and servers.aws_sidecars == []
    assert {type(s) for s in servers.other_emulators()} == {LocalStack, MotoEmrServerless}


def test_switching_emulators_while_one_runs_says_make_down_first(monkeypatch, tmp_path):
    layout = Layout(state=tmp_path)
    monkeypatch.setenv(EMULATOR_VARIABLE, "moto")
    servers = Servers(layout, Ports())
    LocalStack(layout, Ports()).write_pid(os.getpid())  # "running"
    with pytest.raises(ServiceError, match="make down"):
        servers.start_stores()


def test_localstack_runs_on_its_port_with_none_of_the_callers_aws_settings(monkeypatch, tmp_path):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
    service = LocalStack(Layout(state=tmp_path), replace(Ports(), aws=14566))
    env = service.environment()
    assert "AWS_ENDPOINT_URL" not in env
    assert env["GATEWAY_LISTEN"] == env["LOCALSTACK_HOST"] == "127.0.0.1:14566"
    assert env["FILESYSTEM_ROOT"] == str(service.data_dir)
    assert env["OVERRIDE_IN_DOCKER"] == "0" and env["GATEWAY_SERVER"] == "hypercorn"


DEAF_TO_SIGTERM = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"
SLEEP = ["/bin/sh", "-c", "sleep 60"]


class Stubborn(LocalStack):
    """A LocalStack that ignores SIGTERM, as LocalStack can, with a child left in its folder."""

    stop_grace = 0.5

    def install(self):
        pass

    def prepare(self):
        pass  # no link into the cache

    def spawn(self):
        self.libraries.mkdir(parents=True, exist_ok=True)
        child = [*SLEEP, str(self.libraries / "kinesis-local" / "main.js")]
        self.child = subprocess.Popen(child, start_new_session=True)
        self.launch([sys.executable, "-c", DEAF_TO_SIGTERM])

    def answers(self):
        return True


def test_localstack_is_killed_after_its_grace_period_and_its_children_with_it(tmp_path):
    service = Stubborn(Layout(state=tmp_path), replace(Ports(), aws=1))
    service.start()
    pid = service.pid()
    assert pid is not None
    assert wait_until(lambda: b"SIG_IGN" in Path(f"/proc/{pid}/cmdline").read_bytes(), 5)
    assert service.stop() is True
    assert not pid_alive(pid)
    assert wait_until(lambda: service.child.poll() is not None, 5)
    assert service.child.returncode == -signal.SIGKILL


def test_kill_processes_mentioning_spares_processes_outside_the_folder(tmp_path):
    inside = subprocess.Popen([*SLEEP, str(tmp_path / "a" / "x")])
    outside = subprocess.Popen([*SLEEP, str(tmp_path) + "-other/x"])
    try:
        assert kill_processes_mentioning(str(tmp_path / "b")) == []
        assert kill_processes_mentioning(str(tmp_path / "a")) == [inside.pid]
        assert inside.wait(5) == -signal.SIGKILL
        assert outside.poll() is None
    finally:
        outside.kill()
        outside.wait()
