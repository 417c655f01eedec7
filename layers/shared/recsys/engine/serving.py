"""The model an execution environment serves: loaded from S3 at cold start (files cached in /tmp),
replaced by a newer `latest.json` version without a restart, checked at most every N seconds.

The swap is one reference assignment, so a request holds either the old bundle or the new one,
never a mix. If S3 cannot be read the environment keeps serving what it has; if it has nothing,
callers fall back (precomputed recommendations, then popularity).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from recsys.observability import logger

if TYPE_CHECKING:
    from recsys.engine.bundle import ModelBundle
    from recsys.stores.index_artifacts import IndexArtifacts


class ModelSource:
    def __init__(self, artifacts: IndexArtifacts, cache_dir: Path, check_seconds: float) -> None:
        self._artifacts = artifacts
        self._cache_dir = cache_dir
        self._check_seconds = check_seconds
        self._bundle: ModelBundle | None = None
        self._checked_at = float("-inf")
        self._lock = threading.Lock()

    def current(self) -> ModelBundle | None:
        """The newest published model, or None when none was ever published or can be read."""
        if time.monotonic() - self._checked_at >= self._check_seconds and self._lock.acquire(blocking=False):
            try:
                self._refresh()
            finally:
                self._lock.release()
        return self._bundle

    @property
    def loaded(self) -> ModelBundle | None:
        """The model loaded so far, without checking for a newer one."""
        return self._bundle

    def _refresh(self) -> None:
        self._checked_at = time.monotonic()
        try:
            latest = self._artifacts.latest_version()
            if latest is None or (self._bundle is not None and self._bundle.version == latest):
                return
            started = time.perf_counter()
            bundle = self._load(latest)
        except Exception:
            logger.exception("could not load the latest model; serving what this environment has")
            return
        previous = self._bundle.version if self._bundle else None
        self._bundle = bundle
        logger.info(
            "model loaded",
            extra={
                "model_version": bundle.version,
                "previous": previous,
                "seconds": time.perf_counter() - started,
            },
        )

    def _load(self, version: str) -> ModelBundle:
        from recsys.engine.bundle import FILES, ModelBundle

        folder = self._cache_dir / version
        files: dict[str, bytes] = {}
        for name in FILES:
            cached = folder / name
            if cached.exists():
                files[name] = cached.read_bytes()
                continue
            files[name] = self._artifacts.get(version, name)
            folder.mkdir(parents=True, exist_ok=True)
            partial = cached.with_suffix(f".{os.getpid()}.part")
            partial.write_bytes(files[name])
            partial.replace(cached)  # never a half-written file under the real name
        return ModelBundle.from_files(files)
