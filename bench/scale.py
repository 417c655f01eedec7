"""`make bench SCALE=100k`: the synthetic world (bench/synthetic.py) loaded into a stack of its own
(`recsys-scale`) as a product would load it, and trained by the refresh function: the catalog
through the catalog store, the 1,000,000 interactions as one history file through the bulk import
(POST /v1/interactions/imports with the Python client, timed from upload to `completed`), then
IndexRefreshFunction.
"""

from __future__ import annotations

import time

from bench.ingest import import_progress
from bench.synthetic import World
from localcloud.connections import postgres
from localcloud.seed import load_catalog
from localcloud.settings import SCALE_STACK
from localcloud.stack import LocalCloud
from recsys_client import RecsysClient


def load(cloud: LocalCloud, base: str, key: str, world: World) -> dict[str, float]:
    """Catalog and history into the (freshly deployed) scale stack, whose runtime serves `base`."""
    from recsys.stores.catalog import PostgresCatalog

    started = time.perf_counter()
    with postgres(cloud.ports.postgres, SCALE_STACK.database) as conn:
        load_catalog(PostgresCatalog(conn), world.items, chunk=10_000)
    catalog_s = time.perf_counter() - started
    with RecsysClient(base, key, timeout=300) as api:
        created = api.start_interaction_import("csv")
        data = "\n".join(world.rows()).encode()
        bar, on_status = import_progress(len(world.users))
        with bar:
            started = time.perf_counter()
            api.upload_interaction_file(created.upload_url, data)
            status = api.wait_for_interaction_import(
                created.import_id, timeout=1200, interval=0.5, on_status=on_status
            )
            took = time.perf_counter() - started
    if status.status != "completed" or status.accepted != len(world.users):
        raise RuntimeError(f"the history import did not complete: {status}")
    return {
        "catalog_load_s": round(catalog_s, 1),
        "history_rows": float(len(world.users)),
        "history_import_s": round(took, 1),
        "history_import_eps": round(len(world.users) / took),
    }
