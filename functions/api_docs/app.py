"""GET /docs and GET /openapi.json: Swagger UI for the local stack only (Condition IsLocal)."""

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from mangum import Mangum

from recsys.api.openapi import document
from recsys.observability import api_request_id, observed

app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)


@app.get("/openapi.json", include_in_schema=False)
def openapi() -> JSONResponse:
    return JSONResponse(document())


@app.get("/docs", include_in_schema=False)
def docs() -> HTMLResponse:
    return get_swagger_ui_html(openapi_url="/openapi.json", title="Recommendation API")


_asgi = Mangum(app, lifespan="off")


@observed(correlation=api_request_id)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return dict(_asgi(event, context))
