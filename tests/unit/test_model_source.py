"""Serving picks up published versions from S3 (moto in-process): at cold start, on a newer
latest.json without a restart, never a version whose latest.json was not moved, and it keeps
serving what it has when S3 cannot be read."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from recsys.engine.serving import ModelSource
from recsys.stores.index_artifacts import S3IndexArtifacts
from tests.unit.engine_fixtures import trained


def publish(artifacts: S3IndexArtifacts, version: str, move_latest: bool = True) -> None:
    _, bundle = trained()
    bundle.version = version
    bundle.metadata["model_version"] = version
    for name, data in bundle.to_files().items():
        artifacts.put(version, name, data)
    if move_latest:
        artifacts.mark_latest(version)


def served(source: ModelSource) -> str:
    model = source.current()
    assert model is not None
    return model.version


@pytest.fixture
def artifacts():
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="models")
        yield S3IndexArtifacts(s3, "models")


def test_nothing_published_means_no_model(artifacts, tmp_path):
    assert ModelSource(artifacts, tmp_path, 0).current() is None


def test_the_latest_version_is_served_and_a_newer_one_replaces_it(artifacts, tmp_path):
    publish(artifacts, "v1")
    source = ModelSource(artifacts, tmp_path, 0)
    first = source.current()
    assert first is not None and first.version == "v1"
    assert (tmp_path / "v1" / "index.faiss").exists()  # cached for the next cold start here
    publish(artifacts, "v2", move_latest=False)  # a refresh cut short: never served
    assert served(source) == "v1"
    artifacts.mark_latest("v2")
    assert served(source) == "v2"


def test_checks_are_rate_limited(artifacts, tmp_path):
    publish(artifacts, "v1")
    source = ModelSource(artifacts, tmp_path, 3600)
    assert served(source) == "v1"
    publish(artifacts, "v2")
    assert served(source) == "v1"  # not looked at again within the hour


def test_an_unreadable_store_keeps_the_model_in_hand(artifacts, tmp_path):
    publish(artifacts, "v1")
    source = ModelSource(artifacts, tmp_path, 0)
    assert served(source) == "v1"
    publish(artifacts, "v2")
    broken = S3IndexArtifacts(artifacts._s3, "no-such-bucket")
    source._artifacts = broken
    assert served(source) == "v1"
