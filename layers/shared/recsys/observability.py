"""The one Logger, Metrics and Tracer of the service (Powertools): JSON logs, EMF metrics, X-Ray
traces; the one decorator stack every handler wears (`observed`); and how a handler's
environment keeps the garbage collector off what lives as long as it does."""

import functools
import gc
import os
from collections.abc import Callable
from typing import Any, cast, overload

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
metrics = Metrics()
# Nothing is patched at import: patching botocore imports it (about 85 ms of CPU at a cold start),
# and most functions never make an AWS client; `trace_aws_calls` patches it when one first does
# (under 1 ms then). The other modules the X-Ray SDK can patch are left alone: httplib would trace
# botocore's requests a second time, and its psycopg patch wraps `psycopg.connect` only (the
# stores run `Connection.execute`, which it does not see) and needs psycopg_pool. Redis and
# Cassandra have no X-Ray patch. Off outside Lambda and where POWERTOOLS_TRACE_DISABLED is set.
tracer = Tracer(auto_patch=False)

Event = dict[str, Any]
Handler = Callable[[Event, Any], Any]
Correlation = Callable[[Event], object]


def api_request_id(event: Event) -> object:
    """API Gateway's request id: the id of the error envelope and of X-Request-Id (Powertools'
    correlation_paths.API_GATEWAY_REST, read without a JMESPath search: 18 us an invocation)."""
    return (event.get("requestContext") or {}).get("requestId")


def event_id(event: Event) -> object:
    """A scheduled or a service event's id (correlation_paths.EVENT_BRIDGE)."""
    return event.get("id")


def trace_aws_calls() -> None:
    """Every AWS call a subsegment of the invocation's trace (idempotent; a no-op when tracing is
    off). connections.aws_client calls it before it builds the first client."""
    tracer.patch(["botocore"])


def _sampled() -> bool:
    """Whether X-Ray records this invocation: Lambda's decision, in the trace header it sets."""
    return "Sampled=1" in os.environ.get("_X_AMZN_TRACE_ID", "")


def _traced[H: Handler](handler: H) -> H:
    """The tracer's subsegment around the handler (without the response: a page of
    recommendations is not a trace's business), for the invocations X-Ray records (its default
    rule: the first request of each second and 5 % of the rest). For the others the X-Ray SDK only
    builds dummy segments that are never sent, which cost an API request 0.02 to 0.05 ms, so they
    skip it. The first invocation always goes through, for the tracer's cold-start annotation."""
    captured = tracer.capture_lambda_handler(handler, capture_response=False)
    first = True

    @functools.wraps(handler)
    def when_sampled(event: Event, context: Any) -> Any:
        nonlocal first
        if first or _sampled():
            first = False
            return captured(event, context)
        return handler(event, context)

    return cast(H, when_sampled)


@overload
def observed[H: Handler](
    handler: H, *, correlation: Correlation | None = ..., long_lived: bool = ...
) -> H: ...
@overload
def observed[H: Handler](
    handler: None = None, *, correlation: Correlation | None = ..., long_lived: bool = ...
) -> Callable[[H], H]: ...
def observed[H: Handler](
    handler: H | None = None, *, correlation: Correlation | None = None, long_lived: bool = False
) -> H | Callable[[H], H]:
    """The one decorator stack of a Lambda handler, as in the cookbook's handlers: the logger
    with the invocation's context and, given `correlation` (api_request_id, event_id), the id
    its lines carry as correlation_id; the metrics flushed when it returns; the tracer's
    subsegment around it. `long_lived`: what outlives the first invocation is then frozen out of
    the collector's way (long_lived_after_first_call; the hot handlers ask for it)."""
    if handler is None:
        return functools.partial(observed, correlation=correlation, long_lived=long_lived)
    measured = metrics.log_metrics(_traced(handler))
    if correlation is not None:
        measured = _correlated(measured, correlation)
    stacked: Any = logger.inject_lambda_context(measured)
    if long_lived:
        stacked = long_lived_after_first_call(stacked)
    stacked.observed = {"correlation": correlation, "long_lived": long_lived}  # what tests look for
    return cast(H, stacked)


def _correlated[H: Handler](handler: H, correlation: Correlation) -> H:
    @functools.wraps(handler)
    def with_correlation_id(event: Event, context: Any) -> Any:
        found = correlation(event)
        logger.set_correlation_id(None if found is None else str(found))  # none left from before
        return handler(event, context)

    return cast(H, with_correlation_id)


def long_lived_after_first_call[**P, R](handler: Callable[P, R]) -> Callable[P, R]:
    """Once the first invocation has returned, what is still alive (modules, clients, the
    model) lives as long as the execution environment: gc.freeze() moves it out of the
    collector's way, so that later collections walk only each request's own objects. Without it
    the collector walked FastAPI's, pydantic's and boto3's objects again and again: 15 % of the
    batch endpoint's CPU."""
    frozen = False

    @functools.wraps(handler)
    def first_then_frozen(*args: P.args, **kwargs: P.kwargs) -> R:
        nonlocal frozen
        try:
            return handler(*args, **kwargs)
        finally:
            if not frozen:  # O(1): the generations are spliced, not walked
                frozen = True
                gc.freeze()

    return first_then_frozen
