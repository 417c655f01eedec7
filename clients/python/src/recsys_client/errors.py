"""The one exception the client raises: the API's error envelope, or what stood in for it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

# Codes of failures that have no envelope: the client's own, for what never got an answer.
CONNECTION_ERROR = "CONNECTION_ERROR"  # refused, reset or closed before a response
TIMEOUT = "TIMEOUT"  # no response within the client's timeout
UNEXPECTED_RESPONSE = "UNEXPECTED_RESPONSE"  # an answer without the envelope, or not the documented body


class RecsysError(Exception):
    """An API call that did not succeed.

    `code`, `message`, `details` and `request_id` are the error envelope's (for failures without
    one, `code` is CONNECTION_ERROR, TIMEOUT or UNEXPECTED_RESPONSE and `status` may be None);
    `status` is the HTTP status, `retry_after` the seconds the API asked to wait (Retry-After),
    and `attempts` how many times the client sent the request.
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        status: int | None = None,
        details: Mapping[str, Any] | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
        attempts: int = 1,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.details: dict[str, Any] = dict(details or {})
        self.request_id = request_id
        self.retry_after = retry_after
        self.attempts = attempts
        self.method = method
        self.path = path

    def __str__(self) -> str:
        where = f"{self.method} {self.path}: " if self.method else ""
        status = f"HTTP {self.status} " if self.status is not None else ""
        tail = f" (request {self.request_id})" if self.request_id else ""
        return f"{where}{status}{self.code}: {self.message}{tail}"

    def __repr__(self) -> str:
        return f"RecsysError(code={self.code!r}, status={self.status!r}, message={self.message!r})"

    @classmethod
    def from_response(
        cls,
        status: int,
        body: bytes,
        *,
        request_id: str | None = None,
        retry_after: float | None = None,
        attempts: int = 1,
        method: str | None = None,
        path: str | None = None,
    ) -> RecsysError:
        """The envelope of an error response, or UNEXPECTED_RESPONSE with the start of its body."""
        envelope = _envelope(body)
        if envelope is None:
            text = body[:200].decode("utf-8", "replace").strip() or "(empty body)"
            return cls(
                UNEXPECTED_RESPONSE,
                f"HTTP {status} without the error envelope: {text}",
                status=status,
                request_id=request_id,
                retry_after=retry_after,
                attempts=attempts,
                method=method,
                path=path,
            )
        details = envelope.get("details")
        return cls(
            str(envelope.get("code") or UNEXPECTED_RESPONSE),
            str(envelope.get("message") or ""),
            status=status,
            details=details if isinstance(details, dict) else {},
            request_id=str(envelope.get("request_id") or request_id or "") or None,
            retry_after=retry_after,
            attempts=attempts,
            method=method,
            path=path,
        )


def _envelope(body: bytes) -> dict[str, Any] | None:
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    error = parsed.get("error") if isinstance(parsed, dict) else None
    return error if isinstance(error, dict) and "code" in error else None


def error_code(body: bytes) -> str | None:
    """The envelope's code of a response body, if it has one."""
    envelope = _envelope(body)
    return str(envelope["code"]) if envelope else None
