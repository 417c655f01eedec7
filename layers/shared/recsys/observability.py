"""The one Logger and Metrics of the service (Powertools): JSON logs, EMF metrics; and how a
handler's environment keeps the garbage collector off what lives as long as it does."""

import functools
import gc
from collections.abc import Callable

from aws_lambda_powertools import Logger, Metrics

logger = Logger()
metrics = Metrics()


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
