"""The FastAPI application every endpoint function builds from its own router(s), and the
Mangum handler that adapts it to API Gateway's proxy events.

Authentication and rate limiting are shared middleware here rather than a Lambda authorizer:
the rate-limit headers must be on every response (errors included), which an authorizer cannot
add, and one Redis round trip in-process is cheaper in the rendering path than a second Lambda
invocation; the middleware ships once, in this layer, so no function can skip it.

Routes and their dependencies are `async def` although the stores they call block: an execution
environment serves one invocation at a time, so a blocking call holds up nothing else, whereas
FastAPI runs a plain `def` in a worker thread, and Mangum's new event loop per invocation made
that a new thread per request (GET /v1/items/{id}: 1.1 ms of CPU in the handler, 0.55 without).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from recsys.api import errors
from recsys.api.dependencies import api_keys, overridable, rate_limits
from recsys.api.models import MAX_BODY_BYTES
from recsys.errors import (
    DomainError,
    IdempotencyMismatchError,
    InProgressError,
    NotFoundError,
    NotPublishedError,
    VersionConflictError,
)
from recsys.observability import api_request_id, logger, metrics, observed
from recsys.stores.api_keys import TIER_LIMITS, ApiKey, hash_key
from recsys.stores.failures import is_invalid_value, is_store_failure
from recsys.stores.rate_limits import Budget, unmetered

API_TITLE = "Recommendation API"
API_VERSION = "1.0.0"
_KEY_CACHE_SECONDS = 60
_key_cache: dict[str, tuple[float, ApiKey | None]] = {}


def request_id_of(request: Request) -> str:
    """API Gateway's id of the request (the id the handler's logs are correlated by), else one
    made here (an event without one, or the app run in-process)."""
    event = request.scope.get("aws.event") or {}
    return str((event.get("requestContext") or {}).get("requestId") or f"req_{uuid.uuid4().hex}")


def source_ip_of(request: Request) -> str:
    event = request.scope.get("aws.event") or {}
    ip = ((event.get("requestContext") or {}).get("identity") or {}).get("sourceIp")
    return str(ip or (request.client.host if request.client else "unknown"))


def error_response(
    request: Request, error: errors.ApiError, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = errors.envelope(error.code, error.message, error.details, request.state.request_id)
    return JSONResponse(body, status_code=error.status, headers={**error.headers, **(headers or {})})


def _find_key(request: Request, secret: str) -> ApiKey | None:
    """The key's record, cached briefly per execution environment (revocation takes <= 60 s)."""
    now = time.monotonic()
    digest = hash_key(secret)  # the cache never holds a secret
    cached = _key_cache.get(digest)
    if cached and now - cached[0] < _KEY_CACHE_SECONDS:
        return cached[1]
    found = overridable(request.scope.get("app"), api_keys).find(secret)
    if len(_key_cache) > 1000:
        _key_cache.clear()
    _key_cache[digest] = (now, found)
    return found


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _spend(request: Request, subject: str, limit: int) -> Budget:
    try:
        return overridable(request.scope.get("app"), rate_limits).spend(subject, limit)
    except Exception as exc:
        if not is_store_failure(exc):
            raise
        logger.warning("rate limiter unavailable; request not metered", extra={"subject": subject})
        return unmetered(limit)


# No route reads a GET's body: it is neither read nor checked (reading it cost a read path
# a tenth of its time in the handler).
_WITHOUT_BODY = frozenset({"GET", "HEAD"})


async def _refuse_oversized_bodies(request: Request) -> None:
    """Bodies over MAX_BODY_BYTES are refused before anything reads them into a store."""
    if request.method in _WITHOUT_BODY:
        return
    declared = request.headers.get("content-length", "")
    size = int(declared) if declared.isdigit() else len(await request.body())
    if size > MAX_BODY_BYTES:
        raise errors.PayloadTooLarge(
            f"The request body is {size} bytes; the limit is {MAX_BODY_BYTES}",
            {"field": "body", "reason": "too large", "limit_bytes": MAX_BODY_BYTES},
        )


async def _refuse_nul_characters(request: Request) -> None:
    """NUL is valid JSON ("\\u0000") but no text column can hold it: refuse it up front."""
    if b"%00" in request.scope.get("query_string", b"") or "\x00" in request.scope["path"]:
        raise errors.InvalidInput(
            "NUL characters are not allowed", {"field": "query", "reason": "contains NUL"}
        )
    if request.method in _WITHOUT_BODY:
        return
    body = await request.body()
    if b"\x00" in body or b"\\u0000" in body:
        raise errors.InvalidInput(
            "NUL characters are not allowed", {"field": "body", "reason": "contains NUL"}
        )


class Guard:
    """Request id, authentication, rate limit, and the envelope for anything that escapes: pure
    ASGI middleware around the app. (Starlette's BaseHTTPMiddleware, which `app.middleware("http")`
    builds, runs the app in a task of its own with memory streams between them: about a tenth of
    GET /v1/items/{id}'s time in the handler.)"""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        request.state.request_id = request_id_of(request)
        logger.set_correlation_id(request.state.request_id)  # the same id, also when one was made
        added = {"X-Request-Id": request.state.request_id}
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                MutableHeaders(scope=message).update(added)
            await send(message)

        try:
            try:
                budget = _admit(request)
            except _Unadmitted as refused:  # its answer carries the budget all the same
                added.update(refused.budget.headers())
                raise refused.error from None
            added.update(budget.headers())
            await self._admit_body(request)
            await self.app(scope, _replaying(request, receive), send_with_headers)
            return
        except errors.ApiError as exc:
            if started:
                raise
            response = error_response(request, exc)
        except Exception as exc:
            if started:
                raise
            response = error_response(request, _as_api_error(exc))
        response.headers.update(added)
        await response(scope, receive, send)

    @staticmethod
    async def _admit_body(request: Request) -> None:
        await _refuse_oversized_bodies(request)
        await _refuse_nul_characters(request)


class _Unadmitted(Exception):
    """A refused request: the error its caller gets, and the budget its answer reports."""

    def __init__(self, budget: Budget, error: BaseException) -> None:
        super().__init__(str(error))
        self.budget, self.error = budget, error


def _admit(request: Request) -> Budget:
    """The caller's budget once it is spent on this request; raises the error the caller gets
    when the request may not go on (rate limited, no key or an unknown one, the key store down).
    Sets request.state.api_key."""
    token = _bearer(request)
    lookup_failure: BaseException | None = None
    try:
        key = _find_key(request, token) if token else None
    except Exception as exc:
        if not is_store_failure(exc):
            raise
        key, lookup_failure = None, exc
    if key is not None:
        budget = _spend(request, f"key:{key.key_prefix}", key.limit_per_minute)
    else:  # unknown callers (or unknowable, while the key store is down) are metered by address
        budget = _spend(request, f"ip:{source_ip_of(request)}", TIER_LIMITS["free"])
    if lookup_failure is not None:
        raise _Unadmitted(budget, lookup_failure)
    if not budget.allowed:
        metrics.add_metric(name="RateLimited", unit="Count", value=1)
        raise _Unadmitted(
            budget,
            errors.RateLimited(
                "Rate limit exceeded. Please try again later.",
                {
                    "limit": budget.limit,
                    "remaining": 0,
                    "reset_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(budget.reset_at)),
                },
                {"Retry-After": str(max(1, budget.reset_at - int(time.time())))},
            ),
        )
    if key is None:
        raise _Unadmitted(
            budget,
            errors.Unauthorized(
                "Authentication required: send Authorization: Bearer <api key>"
                if token is None
                else "The API key is not valid"
            ),
        )
    request.state.api_key = key
    return budget


def _replaying(request: Request, receive: Receive) -> Receive:
    """The app's receive: the body again if the guard read it (Mangum delivers it once)."""
    body: bytes | None = getattr(request, "_body", None)
    if body is None:
        return receive
    pending = [body]

    async def replay() -> Message:
        if pending:
            return {"type": "http.request", "body": pending.pop(), "more_body": False}
        return await receive()

    return replay


def _as_api_error(exc: Exception) -> errors.ApiError:
    """What a failure inside means for the caller; only an unknown fault is logged as one."""
    if is_invalid_value(exc):  # a value the database cannot hold is the caller's input
        return errors.InvalidInput(
            "A value in the request cannot be stored", {"reason": str(exc).splitlines()[0]}
        )
    if is_store_failure(exc):
        logger.exception("a store is unavailable")
        return errors.ServiceUnavailable(
            "A backing store is temporarily unavailable; retry shortly",
            {"store": type(exc).__module__.split(".")[0]},
        )
    logger.exception("unhandled error")
    return errors.InternalError("Internal server error")


# The exception handlers are coroutines: Starlette runs a plain `def` one in a worker thread, a new
# thread per error response under Mangum (0.19 ms more CPU for a 404 in-process, 0.26 against 0.07).
async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    return error_response(request, errors.from_validation(list(exc.errors())))


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    mapped: type[errors.ApiError] = {404: errors.NotFound, 405: errors.MethodNotAllowed}.get(
        exc.status_code, errors.InvalidInput
    )
    return error_response(request, mapped(str(exc.detail)))


async def _api_error(request: Request, exc: errors.ApiError) -> JSONResponse:
    return error_response(request, exc)


_DOMAIN_ERRORS: dict[type[DomainError], type[errors.ApiError]] = {
    NotFoundError: errors.NotFound,
    VersionConflictError: errors.VersionConflict,
    IdempotencyMismatchError: errors.IdempotencyKeyReused,
    InProgressError: errors.ServiceUnavailable,
    NotPublishedError: errors.ServiceUnavailable,
}


async def _domain_error(request: Request, exc: DomainError) -> JSONResponse:
    mapped = next(
        (api for domain, api in _DOMAIN_ERRORS.items() if isinstance(exc, domain)), errors.InvalidInput
    )
    return error_response(request, mapped(exc.message, {k: v for k, v in exc.details.items()}))


def create_app(*routers: APIRouter) -> FastAPI:
    app = FastAPI(
        title=API_TITLE,
        version=API_VERSION,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        description="Personalised recommendations, similar items, interactions, feedback, preferences and "
        "item features. Every request needs `Authorization: Bearer <api key>`; every response "
        "carries X-RateLimit-* headers; every error uses the one envelope.",
    )
    for router in routers:
        app.include_router(router)
    app.add_middleware(Guard)
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(errors.ApiError, _api_error)  # type: ignore[arg-type]
    app.add_exception_handler(DomainError, _domain_error)  # type: ignore[arg-type]
    return app


def lambda_handler(*routers: APIRouter) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """The Lambda entry point of one endpoint function: its routers behind the shared guarantees."""
    return serve(create_app(*routers))


def serve(app: FastAPI) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """The handler that serves `app` to API Gateway, in the one decorator stack: its logs are
    correlated by API Gateway's request id, the id the guard puts in X-Request-Id and in every
    error envelope."""
    from mangum import Mangum

    asgi = Mangum(app, lifespan="off")

    @observed(correlation=api_request_id, long_lived=True)
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        started = time.perf_counter()
        response = dict(asgi(event, context))
        # the time spent in here, for the caller's tools (browsers show Server-Timing) and benchmarks
        timing = f"handler;dur={(time.perf_counter() - started) * 1000:.3f}"
        response.setdefault("headers", {})["server-timing"] = timing
        if response.get("multiValueHeaders"):
            response["multiValueHeaders"]["server-timing"] = [timing]
        return response

    return handler
