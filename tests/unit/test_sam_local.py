"""What `sam local start-api --config-env localstack` is given (README, "LocalStack"): the
template's AwsEndpointUrl becomes the functions' AWS_ENDPOINT_URL only when set, and
`make sam-env` writes every function's local environment as containers reach this machine."""

from __future__ import annotations

import json
import tomllib
from dataclasses import replace
from types import SimpleNamespace

import boto3
from moto import mock_aws

from localcloud.invocations import sam_env_vars
from localcloud.settings import HOST, ROOT, SERVED_STACK, Layout, Ports, local_context
from localcloud.template import load_template


def _endpoint_variable(parameters: dict[str, str]) -> dict[str, str]:
    template = load_template(ROOT / "template.yaml")
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    context = local_context(template, "recsys-x", {**SERVED_STACK.parameters(Ports()), **parameters})
    return dict(context.resolve({"AWS_ENDPOINT_URL": variables["AWS_ENDPOINT_URL"]}))


def test_aws_endpoint_url_is_set_only_when_the_parameter_is():
    assert _endpoint_variable({}) == {}  # on AWS: boto3 finds AWS's endpoints
    chosen = _endpoint_variable({"AwsEndpointUrl": "http://ls:4566"})
    assert chosen == {"AWS_ENDPOINT_URL": "http://ls:4566"}


@mock_aws
def test_sam_env_vars_reach_the_local_cloud_from_containers(monkeypatch):
    monkeypatch.setenv("RECSYS_AWS_EMULATOR", "localstack")
    ports = replace(Ports(), aws=4566, emr=4567, postgres=25432)
    servers = SimpleNamespace(ports=ports, layout=Layout(), aws_client=lambda name: boto3.client(name))
    files = sam_env_vars(servers, SERVED_STACK, "host.docker.internal")  # type: ignore[arg-type]
    every = files["Parameters"]
    assert every["AWS_ENDPOINT_URL"] == "http://host.docker.internal:4566"
    assert every["AWS_ENDPOINT_URL_EMR_SERVERLESS"] == "http://host.docker.internal:4567"
    assert every["POSTGRES_HOST"] == every["CASSANDRA_CONTACT_POINTS"] == "host.docker.internal"
    assert every["INTERACTION_STREAM_NAME"] == "recsys-local-interactions"
    assert not {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"} & set(every)  # the caller's
    refresh = files["IndexRefreshFunction"]
    assert refresh["OPENBLAS_NUM_THREADS"] == "0" and refresh["SPARK_APPLICATION_ID"]
    assert files["InteractionLogWriterFunction"]["FAILURE_QUEUE_URL"].endswith(
        "recsys-local-interaction-failures"
    )
    assert HOST not in json.dumps(files)


def test_samconfig_has_a_localstack_environment_for_sam_local():
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())["localstack"]
    start_api = config["local_start_api"]["parameters"]
    assert start_api["env_vars"] == ".localcloud/sam-env.json"
    overrides = dict(pair.split("=", 1) for pair in start_api["parameter_overrides"].split())
    assert overrides["Stage"] == "local"
    # the local cloud's default ports (README, "The local cloud")
    assert overrides["AwsEndpointUrl"] == "http://host.docker.internal:4566"
    assert overrides["PostgresHost"] == overrides["CassandraContactPoints"] == "host.docker.internal"
    assert overrides["PostgresPort"] == "25432" and overrides["CassandraPort"] == "29042"
    assert overrides["RedisUrl"] == "redis://host.docker.internal:26379/0"
