"""The whole API in one document: every endpoint function's router (`make openapi` writes it)."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from fastapi import FastAPI

from recsys.api.app import create_app
from recsys.api.routes import (
    experiments,
    feedback,
    ingest,
    interactions,
    items,
    model,
    recommendations,
    users,
)

ALL_ROUTERS = [
    recommendations.list_router,
    recommendations.explain_router,
    items.similar_router,
    interactions.router,
    interactions.batch_router,
    interactions.imports_router,
    interactions.import_status_router,
    feedback.create_router,
    feedback.update_router,
    feedback.delete_router,
    users.read_router,
    users.write_router,
    users.preferences_router,
    users.preferences_read_router,
    users.history_router,
    items.read_router,
    items.write_router,
    items.import_router,
    items.import_status_router,
    items.features_router,
    experiments.write_router,
    experiments.assign_router,
    experiments.list_router,
    model.read_router,
    model.refresh_router,
    ingest.router,
]


def full_app() -> FastAPI:
    return create_app(*ALL_ROUTERS)


@cache
def document() -> dict[str, Any]:
    """Built once per execution environment (the docs function serves it on every request)."""
    spec = full_app().openapi()
    # Validation failures answer 400 in the envelope, never FastAPI's default 422.
    for operations in spec["paths"].values():
        for operation in operations.values():
            operation["responses"].pop("422", None)
    for schema in ("HTTPValidationError", "ValidationError"):
        spec["components"]["schemas"].pop(schema, None)
    spec["components"]["securitySchemes"] = {"ApiKey": {"type": "http", "scheme": "bearer"}}
    spec["security"] = [{"ApiKey": []}]
    return spec


def rendered() -> str:
    return json.dumps(document(), indent=2, sort_keys=True) + "\n"
