"""Published index artifacts (S3): `<version>/<name>` objects and a `latest.json` pointer."""

from __future__ import annotations

import json
from typing import Any, Protocol

_LATEST = "latest.json"


class IndexArtifacts(Protocol):
    def put(self, version: str, name: str, data: bytes) -> None: ...
    def get(self, version: str, name: str) -> bytes: ...
    def has(self, version: str, name: str) -> bool: ...
    def mark_latest(self, version: str) -> None: ...
    def latest_version(self) -> str | None: ...
    def uri(self, version: str, name: str) -> str: ...


class PublishedModels(Protocol):
    """What the model's description reads: the pointer, a version's files, every version."""

    def latest_version(self) -> str | None: ...
    def get(self, version: str, name: str) -> bytes: ...
    def has(self, version: str, name: str) -> bool: ...
    def versions(self) -> list[str]: ...


class S3IndexArtifacts:
    def __init__(self, s3: Any, bucket: str) -> None:
        self._s3 = s3
        self._bucket = bucket

    def put(self, version: str, name: str, data: bytes) -> None:
        self._s3.put_object(Bucket=self._bucket, Key=f"{version}/{name}", Body=data)

    def get(self, version: str, name: str) -> bytes:
        response = self._s3.get_object(Bucket=self._bucket, Key=f"{version}/{name}")
        return bytes(response["Body"].read())

    def has(self, version: str, name: str) -> bool:
        try:
            self._s3.head_object(Bucket=self._bucket, Key=f"{version}/{name}")
        except self._s3.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def uri(self, version: str, name: str) -> str:
        """Where another service (the Spark job) reads or writes `<version>/<name>`."""
        return f"s3://{self._bucket}/{version}/{name}"

    def mark_latest(self, version: str) -> None:
        """Point readers at `version`; written last, after every artifact of the version."""
        body = json.dumps({"version": version}).encode()
        self._s3.put_object(Bucket=self._bucket, Key=_LATEST, Body=body, ContentType="application/json")

    def latest_version(self) -> str | None:
        try:
            response = self._s3.get_object(Bucket=self._bucket, Key=_LATEST)
        except self._s3.exceptions.NoSuchKey:
            return None
        return str(json.loads(response["Body"].read())["version"])

    def versions(self) -> list[str]:
        """Every version with files in the bucket (its `<version>/` prefix), in S3's order."""
        pages = self._s3.get_paginator("list_objects_v2").paginate(Bucket=self._bucket, Delimiter="/")
        return [
            str(prefix["Prefix"]).rstrip("/") for page in pages for prefix in page.get("CommonPrefixes", [])
        ]
