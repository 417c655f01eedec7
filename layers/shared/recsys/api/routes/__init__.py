"""One APIRouter per endpoint function; the function's handler serves exactly its router."""

from __future__ import annotations

from typing import Any

from recsys.api.errors import ERROR_SCHEMA, NotFound

_STATUS = {
    400: "Invalid input or user id",
    401: "Missing or unknown API key",
    403: "Missing scope",
    404: "Not found",
    409: "Conflict (version or idempotency key)",
    413: "Request body over the limit (1 MiB)",
    429: "Rate limited",
    500: "Internal error",
    503: "A store is unavailable",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the envelope of each status a route can answer with."""
    common = (400, 401, 413, 429, 500, 503)
    return {
        status: {"description": _STATUS[status], "content": {"application/json": {"schema": ERROR_SCHEMA}}}
        for status in sorted(set(common) | set(statuses))
    }


def found[T](value: T | None, what: str, **ids: str) -> T:
    """The value a route looked up, or the 404 its caller gets (the ids in its details)."""
    if value is None:
        raise NotFound(f"{what} does not exist", ids)
    return value
