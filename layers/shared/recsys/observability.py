"""The one Logger, Metrics and Tracer of the service (Powertools): JSON logs, EMF metrics, X-Ray
traces; the one decorator stack every handler wears (`observed`); and how a handler's
environment keeps the garbage collector off what lives as long as it does."""

import functools
import gc
from collections.abc import Callable
from typing import Any, cast, overload

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging import correlation_paths

logger = Logger()
metrics = Metrics()
# Nothing is patched at import: patching botocore imports it (about 70 ms of a cold start), and
# most functions never make an AWS client; `trace_aws_calls` patches it when one first does. The
# other modules the X-Ray SDK can patch are left alone: httplib would trace botocore's requests
# a second time, and its psycopg patch wraps `psycopg.connect` only (the stores run
# `Connection.execute`, which it does not see) and needs psycopg_pool. Redis and Cassandra have
# no X-Ray patch. Off where no X-Ray daemon listens: outside Lambda, and POWERTOOLS_TRACE_DISABLED.
tracer = Tracer(auto_patch=False)

# Where each trigger's event carries the id its logs are correlated by.
API_GATEWAY = correlation_paths.API_GATEWAY_REST  # the API's request id (the envelope's request_id)
EVENT_BRIDGE = correlation_paths.EVENT_BRIDGE  # a scheduled or a service event's id

Handler = Callable[[dict[str, Any], Any], Any]


def trace_aws_calls() -> None:
    """Every AWS call a subsegment of the invocation's trace (idempotent; a no-op when tracing is
    off). connections.aws_client calls it before it builds the first client."""
    tracer.patch(["botocore"])


@overload
def observed[H: Handler](handler: H, *, correlation: str | None = ..., long_lived: bool = ...) -> H: ...
@overload
def observed[H: Handler](
    handler: None = None, *, correlation: str | None = ..., long_lived: bool = ...
) -> Callable[[H], H]: ...
def observed[H: Handler](
    handler: H | None = None, *, correlation: str | None = None, long_lived: bool = False
) -> H | Callable[[H], H]:
    """The one decorator stack of a Lambda handler, as in the cookbook's handlers: the logger
    with the invocation's context and, given `correlation` (a JMESPath into the event), its
    correlation id; the metrics flushed when it returns; the tracer's subsegment around it
    (without the response: a page of recommendations is not a trace's business). `long_lived`:
    what outlives the first invocation is then frozen out of the collector's way
    (long_lived_after_first_call; the hot handlers ask for it)."""
    if handler is None:
        return functools.partial(observed, correlation=correlation, long_lived=long_lived)
    stacked: Any = logger.inject_lambda_context(
        metrics.log_metrics(tracer.capture_lambda_handler(handler, capture_response=False)),
        correlation_id_path=correlation,
    )
    if long_lived:
        stacked = long_lived_after_first_call(stacked)
    stacked.observed = {"correlation": correlation, "long_lived": long_lived}  # what tests look for
    return cast(H, stacked)


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
