"""Fixtures shared by the tiers that run against the local cloud (integration, e2e)."""

from __future__ import annotations

import os

import pytest

from localcloud.settings import TEST_STACK
from localcloud.stack import LocalCloud
from recsys.config import Settings


@pytest.fixture(scope="session")
def cloud() -> LocalCloud:
    cloud = LocalCloud()
    down = [service.title for service in cloud.services if service.pid() is None or not service.answers()]
    if down:
        pytest.fail(f"the local cloud is not up ({', '.join(down)}): run `make up` first", pytrace=False)
    return cloud


@pytest.fixture(scope="session")
def function_env(cloud: LocalCloud) -> dict[str, str]:
    """The test stack, wiped and re-created; its environment is set as a function's would be."""
    cloud.deploy(TEST_STACK, fresh=True)
    env = cloud.function_environment(TEST_STACK)
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    yield env
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def settings(function_env: dict[str, str]) -> Settings:
    return Settings.from_environment(function_env)
