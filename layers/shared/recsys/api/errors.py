"""The one error envelope: {"error": {"code", "message", "details", "request_id"}}."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    status = 500
    code = "INTERNAL_ERROR"

    def __init__(
        self, message: str, details: dict[str, Any] | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}
        self.headers = headers or {}


def _error(name: str, status: int, code: str) -> type[ApiError]:
    return type(name, (ApiError,), {"status": status, "code": code})


InvalidInput = _error("InvalidInput", 400, "INVALID_INPUT")
InvalidUserId = _error("InvalidUserId", 400, "INVALID_USER_ID")
Unauthorized = _error("Unauthorized", 401, "UNAUTHORIZED")
Forbidden = _error("Forbidden", 403, "FORBIDDEN")
NotFound = _error("NotFound", 404, "NOT_FOUND")
MethodNotAllowed = _error("MethodNotAllowed", 405, "METHOD_NOT_ALLOWED")
Conflict = _error("Conflict", 409, "CONFLICT")
IdempotencyKeyReused = _error("IdempotencyKeyReused", 409, "IDEMPOTENCY_KEY_REUSED")
VersionConflict = _error("VersionConflict", 409, "VERSION_CONFLICT")
PayloadTooLarge = _error("PayloadTooLarge", 413, "PAYLOAD_TOO_LARGE")
RateLimited = _error("RateLimited", 429, "RATE_LIMITED")
InternalError = _error("InternalError", 500, "INTERNAL_ERROR")
ServiceUnavailable = _error("ServiceUnavailable", 503, "SERVICE_UNAVAILABLE")


def from_validation(problems: list[Any], location_prefix: tuple[str, ...] = ()) -> ApiError:
    """The API's error for a failed validation: its first problem's field and reason
    (INVALID_USER_ID when the field is user_id)."""
    first = problems[0] if problems else {"loc": ("body",), "msg": "invalid request"}
    location = [*location_prefix, *(str(part) for part in first.get("loc", ()))]
    field = ".".join(location[1:]) if len(location) > 1 else (location[0] if location else "body")
    if first.get("type") == "json_invalid":
        field = "body"
    reason = str(first.get("msg", "invalid value"))
    error_class = InvalidUserId if location[-1:] == ["user_id"] else InvalidInput
    message = "User ID is invalid" if error_class is InvalidUserId else "Request validation failed"
    details = {"field": field or "body", "reason": reason, "location": location[0] if location else "body"}
    return error_class(message, details)


def envelope(code: str, message: str, details: dict[str, Any], request_id: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details, "request_id": request_id}}


# What each error response looks like, for the OpenAPI document.
ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details", "request_id"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {"type": "object"},
                "request_id": {"type": "string"},
            },
        }
    },
}
