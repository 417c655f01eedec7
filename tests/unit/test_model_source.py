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
    assert source.cache_writer is not None
    source.cache_writer.join(5)
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


def test_a_cached_version_is_read_from_the_cache_not_from_s3(artifacts, tmp_path):
    publish(artifacts, "v1")
    first = ModelSource(artifacts, tmp_path, 0)
    assert served(first) == "v1"
    assert first.cache_writer is not None
    first.cache_writer.join(5)
    artifacts._s3.delete_object(Bucket="models", Key="v1/model.npz")  # only the cache has it now
    again = ModelSource(artifacts, tmp_path, 0)
    assert served(again) == "v1"
    assert again.cache_writer is None  # nothing fetched, nothing to write


def test_parts_left_by_an_ended_writer_are_removed_once_stale(artifacts, tmp_path):
    import os
    import time

    publish(artifacts, "v1")
    (tmp_path / "v1").mkdir()
    stale, recent = tmp_path / "v1" / "model.12345.part", tmp_path / "v1" / "index.67890.part"
    for part in (stale, recent):
        part.write_bytes(b"half")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    source = ModelSource(artifacts, tmp_path, 0)
    assert served(source) == "v1"
    assert source.cache_writer is not None
    source.cache_writer.join(5)
    assert not stale.exists() and recent.exists()  # another writer's may still be going
