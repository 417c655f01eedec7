import boto3
from moto import mock_aws

from recsys.stores.index_artifacts import S3IndexArtifacts


@mock_aws
def test_latest_pointer_is_absent_until_marked():
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="artifacts")
    artifacts = S3IndexArtifacts(s3, "artifacts")
    assert artifacts.latest_version() is None
    artifacts.put("v1", "index.faiss", b"\x00\x01")
    artifacts.mark_latest("v1")
    assert artifacts.latest_version() == "v1"
    assert artifacts.get("v1", "index.faiss") == b"\x00\x01"
