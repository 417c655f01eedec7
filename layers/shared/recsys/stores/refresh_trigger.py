"""Starting a model refresh on demand (POST /v1/model/refresh): the refresh function invoked
asynchronously (Lambda Invoke, InvocationType=Event), and a short hold in Redis so that repeated
requests start one refresh, not a queue of them.

The refresh function runs one at a time (ReservedConcurrentExecutions: 1); an event invocation
that finds it busy is retried by Lambda, so without the hold every click of a button would be a
refresh of its own, run one after another."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import redis

HOLD_SECONDS = 30


class RefreshTrigger(Protocol):
    def start(self, training: str) -> str: ...


class RefreshHold(Protocol):
    def claim(self, request_id: str) -> int | None: ...
    def release(self) -> None: ...


class LambdaRefreshTrigger:
    def __init__(self, lambda_client: Any, function_name: str) -> None:
        self._lambda = lambda_client
        self._function = function_name

    def start(self, training: str = "auto") -> str:
        """Queue one run of the refresh function; returns Lambda's id of the invocation."""
        reply = self._lambda.invoke(
            FunctionName=self._function,
            InvocationType="Event",
            Payload=json.dumps({"training": training}).encode(),
        )
        return str(reply.get("ResponseMetadata", {}).get("RequestId", ""))


class RedisRefreshHold:
    def __init__(self, client: redis.Redis, seconds: int = HOLD_SECONDS) -> None:
        self._redis = client
        self._seconds = seconds

    _KEY = "model_refresh:requested"

    def claim(self, request_id: str) -> int | None:
        """None when this request may start a refresh (and holds the next ones off for the hold's
        seconds); otherwise the seconds until the hold taken by an earlier request ends."""
        if self._redis.set(self._KEY, request_id, nx=True, ex=self._seconds):
            return None
        return max(1, int(self._redis.ttl(self._KEY)))  # type: ignore[arg-type]

    def release(self) -> None:
        """End the hold early (the refresh could not be started)."""
        self._redis.delete(self._KEY)
