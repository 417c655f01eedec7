"""The model an execution environment serves: loaded from S3 at cold start (its files fetched in
parallel and cached in /tmp behind the answer), replaced by a newer `latest.json` version without
a restart, checked at most every N seconds.

The swap is one reference assignment, so a request holds either the old bundle or the new one,
never a mix. If S3 cannot be read the environment keeps serving what it has; if it has nothing,
callers fall back (precomputed recommendations, then popularity).
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
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
        self.cache_writer: threading.Thread | None = None  # writing the last files fetched
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
        """The version's files from the cache folder, or from S3 all at once (one GET each, in
        parallel); the files fetched are written to the cache after the model is built, in a
        thread of their own, so that no request waits for the disk (at 100,000 items, 118 MiB:
        145 ms of a cold start)."""
        from recsys.engine.bundle import FILES, ModelBundle

        folder = self._cache_dir / version
        files = {name: (folder / name).read_bytes() for name in FILES if (folder / name).exists()}
        missing = [name for name in FILES if name not in files]
        if missing:
            with ThreadPoolExecutor(len(missing)) as pool:
                fetched = pool.map(lambda name: self._artifacts.get(version, name), missing)
                files.update(zip(missing, fetched, strict=True))
        bundle = ModelBundle.from_files(files)
        if missing:
            self.cache_writer = threading.Thread(
                target=_write_cache,
                args=(folder, {name: files[name] for name in missing}),
                daemon=True,
                name="model-cache",
            )
            self.cache_writer.start()
        return bundle


STALE_PART_SECONDS = 600


def _write_cache(folder: Path, files: dict[str, bytes]) -> None:
    """Each file under a temporary name, then renamed. A process that ends mid-write (a local
    environment stopped) leaves its part behind: parts older than STALE_PART_SECONDS go."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.part"):
            if time.time() - stale.stat().st_mtime > STALE_PART_SECONDS:
                stale.unlink(missing_ok=True)
        for name, data in files.items():
            partial = (folder / name).with_suffix(f".{os.getpid()}.part")
            partial.write_bytes(data)
            partial.replace(folder / name)  # never a half-written file under the real name
    except OSError:
        logger.warning("could not cache the model's files", exc_info=True)
