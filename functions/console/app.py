"""GET /console and GET /console/{asset}: the console, a static page that calls the public API
with the key its user pastes (kept in the browser's session storage, never in the page).

The page holds no data and no key, so it is served without one; it runs on the API's own origin,
so its calls need no CORS, and its Content-Security-Policy lets it load nothing but its own
script and styles and talk to nothing but this origin. Plain Lambda proxy answers: the shared
layer's FastAPI app is not needed to hand out three files."""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path
from typing import Any

from recsys.observability import api_request_id, observed

STATIC = Path(__file__).with_name("static")
TYPES = {
    "index.html": "text/html; charset=utf-8",
    "console.js": "text/javascript; charset=utf-8",
    "console.css": "text/css; charset=utf-8",
}
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' https: data:;"
        " connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",  # revalidated (ETag) on every load: a deploy shows at once
}


@cache
def _file(name: str) -> tuple[str, str]:
    """The file's text and its ETag, read once per execution environment."""
    text = (STATIC / name).read_text(encoding="utf-8")
    return text, '"' + hashlib.sha256(text.encode()).hexdigest()[:32] + '"'


def _request_id(event: dict[str, Any]) -> str:
    return str((event.get("requestContext") or {}).get("requestId") or "")


@observed(correlation=api_request_id, long_lived=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    asset = (event.get("pathParameters") or {}).get("asset")
    name = "index.html" if asset is None else asset
    if name not in TYPES or (asset is not None and name == "index.html"):
        body = {
            "error": {
                "code": "NOT_FOUND",
                "message": f"The console has no file {name!r}",
                "details": {"asset": name},
                "request_id": _request_id(event),
            }
        }
        return {
            "statusCode": 404,
            "headers": {"Content-Type": "application/json", "X-Request-Id": _request_id(event)},
            "body": json.dumps(body),
            "isBase64Encoded": False,
        }
    text, etag = _file(name)
    headers = {**HEADERS, "Content-Type": TYPES[name], "ETag": etag, "X-Request-Id": _request_id(event)}
    sent = {k.lower(): v for k, v in (event.get("headers") or {}).items()}.get("if-none-match")
    if sent == etag:
        return {"statusCode": 304, "headers": headers, "body": "", "isBase64Encoded": False}
    return {"statusCode": 200, "headers": headers, "body": text, "isBase64Encoded": False}
