"""The published model as GET /v1/model describes it: the version `latest.json` points at, the
metadata its refresh wrote beside it (algorithm, parameters, counts, index recall, timings), the
offline evaluation figures if `make eval` published them (`<version>/eval.json`), and the versions
in the bucket, newest first."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from recsys.stores.index_artifacts import PublishedModels

_EPOCH = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class ModelDescription:
    version: str | None
    metadata: dict[str, Any]
    evaluation: dict[str, Any] | None
    versions: list[tuple[str, datetime | None]]  # newest first, each with when it was trained


def trained_at(version: str) -> datetime | None:
    """When a version named `<algorithm>-YYYYmmddTHHMMSSZ-<hex>` (refresh.new_version) was trained."""
    parts = version.rsplit("-", 2)
    try:
        return datetime.strptime(parts[1], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC) if len(parts) == 3 else None
    except ValueError:
        return None


def describe(models: PublishedModels, versions_limit: int) -> ModelDescription:
    current = models.latest_version()
    metadata: dict[str, Any] = json.loads(models.get(current, "metadata.json")) if current else {}
    evaluation = metadata.get("eval")
    if current and models.has(current, "eval.json"):
        evaluation = json.loads(models.get(current, "eval.json"))
    named = [(version, trained_at(version)) for version in models.versions()]
    named.sort(key=lambda entry: (entry[1] or _EPOCH, entry[0]), reverse=True)
    return ModelDescription(current, metadata, evaluation, named[:versions_limit])
