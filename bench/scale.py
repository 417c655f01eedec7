"""`make bench SCALE=100k`: the synthetic world (bench/synthetic.py) loaded into a stack of its own
(`recsys-scale`) as a product would load it, and trained by the refresh function: the catalog
through the catalog store, the 1,000,000 interactions as one history file through the bulk import
(POST /v1/interactions/imports, timed from upload to `completed`), then IndexRefreshFunction.
"""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

from bench.ingest import api_request
from bench.synthetic import World
from localcloud.connections import postgres
from localcloud.settings import SCALE_STACK
from localcloud.stack import LocalCloud


def _call(url: str, key: str, method: str = "GET", body: dict[str, Any] | None = None) -> dict[str, Any]:
    _, reply = api_request(url, key, method, json.dumps(body).encode() if body is not None else None)
    return dict(json.loads(reply))


def load(cloud: LocalCloud, base: str, key: str, world: World) -> dict[str, float]:
    """Catalog and history into the (freshly deployed) scale stack, whose runtime serves `base`."""
    from recsys.stores.catalog import PostgresCatalog

    started = time.perf_counter()
    with postgres(cloud.ports.postgres, SCALE_STACK.database) as conn:
        PostgresCatalog(conn).upsert_items(world.items)
    catalog_s = time.perf_counter() - started
    created = _call(f"{base}/v1/interactions/imports", key, "POST", {"format": "csv"})
    data = "\n".join(world.rows()).encode()
    started = time.perf_counter()
    upload = urllib.request.Request(
        created["upload_url"], data=data, method="PUT", headers={"Content-Type": "text/csv"}
    )
    with urllib.request.urlopen(upload, timeout=300):
        pass
    while True:
        status = _call(f"{base}/v1/interactions/imports/{created['import_id']}", key)
        if status["status"] in ("completed", "failed") or time.perf_counter() - started > 1200:
            break
        time.sleep(0.5)
    took = time.perf_counter() - started
    if status["status"] != "completed" or status["accepted"] != len(world.users):
        raise RuntimeError(f"the history import did not complete: {status}")
    return {
        "catalog_load_s": round(catalog_s, 1),
        "history_rows": float(len(world.users)),
        "history_import_s": round(took, 1),
        "history_import_eps": round(len(world.users) / took),
    }
