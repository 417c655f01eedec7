"""A local API Gateway (REST API, Lambda proxy integration), routed by the template's Api events.

A request becomes the same version 1.0 proxy event AWS sends; the function's answer becomes the
HTTP response. Requests that match no route get the template's gateway response, as on AWS.
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from localcloud.runtime.environments import FunctionPool, Invocation
from localcloud.runtime.functions import FunctionSpec
from localcloud.template import StackContext

API_TYPES = {"AWS::Serverless::Api"}
TEXT_TYPES = (
    "text/",
    "application/json",
    "application/xml",
    "application/x-www-form-urlencoded",
    "application/javascript",
    "application/problem+json",
)
INTEGRATION_TIMEOUT_S = 29
# Lambda's synchronous invocation payload limit: a larger request could never reach the function.
MAX_REQUEST_BYTES = 6 * 1024 * 1024
DRAIN_LIMIT = 16 * 1024 * 1024  # a refused body up to this size is read and dropped before answering
READ_TIMEOUT_S = 10  # a client that stops sending mid-request loses its connection after this
# What the gateway's own refusals say, in the API's envelope (HTTP status -> error code).
OWN_ERRORS = {
    400: "INVALID_INPUT",
    408: "REQUEST_TIMEOUT",
    413: "PAYLOAD_TOO_LARGE",
    414: "URI_TOO_LONG",
    431: "HEADERS_TOO_LARGE",
    505: "HTTP_VERSION_NOT_SUPPORTED",
}


@dataclass(frozen=True)
class Route:
    path: str  # the resource, e.g. /v1/items/{item_id}/similar
    method: str  # GET, POST, ... or ANY
    function: str  # logical id
    pattern: re.Pattern[str]

    @property
    def rank(self) -> tuple[int, int, int]:
        # API Gateway prefers literal segments over {param} over {proxy+}.
        segments = self.path.strip("/").split("/")
        greedy = sum(s.endswith("+}") for s in segments)
        params = sum(s.startswith("{") for s in segments)
        return (greedy, params, -len(segments))


def compile_path(path: str) -> re.Pattern[str]:
    regex = ""
    for segment in path.strip("/").split("/"):
        if not segment:
            continue
        if segment.startswith("{") and segment.endswith("+}"):
            regex += f"/(?P<{segment[1:-2]}>.+)"
        elif segment.startswith("{") and segment.endswith("}"):
            regex += f"/(?P<{segment[1:-1]}>[^/]+)"
        else:
            regex += "/" + re.escape(segment)
    return re.compile(f"^{regex or '/'}$")


def routes_from(functions: dict[str, FunctionSpec]) -> list[Route]:
    routes = [
        Route(
            props["Path"],
            str(props.get("Method", "ANY")).upper(),
            spec.logical_id,
            compile_path(props["Path"]),
        )
        for spec in functions.values()
        for _, props in spec.events_of("Api")
    ]
    return sorted(routes, key=lambda r: r.rank)


def api_settings(ctx: StackContext) -> dict[str, Any]:
    """Stage, binary media types and gateway responses of the template's (single) REST API."""
    for resource in ctx.template["Resources"].values():
        if resource.get("Type") in API_TYPES:
            return ctx.resolve(resource.get("Properties") or {})
    return {}


class Gateway:
    def __init__(
        self, ctx: StackContext, functions: dict[str, FunctionSpec], pools: dict[str, FunctionPool]
    ) -> None:
        self.routes = routes_from(functions)
        self.pools = pools
        settings = api_settings(ctx)
        self.stage = str(settings.get("StageName", "local"))
        self.binary_types = [str(t) for t in settings.get("BinaryMediaTypes", [])]
        self.responses: dict[str, dict[str, Any]] = settings.get("GatewayResponses", {})
        self.account_id = ctx.account_id

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        for route in self.routes:
            found = route.pattern.match(path)
            if found and route.method in (method, "ANY"):
                return route, found.groupdict()
        return None

    def is_binary(self, content_type: str) -> bool:
        media = content_type.split(";", 1)[0].strip().lower()
        return any(t == "*/*" or t.lower() == media for t in self.binary_types)

    def build_event(
        self,
        route: Route,
        params: dict[str, str],
        method: str,
        raw_path: str,
        headers: list[tuple[str, str]],
        body: bytes,
        source_ip: str,
        request_id: str,
    ) -> dict[str, Any]:
        url = urlsplit(raw_path)
        query = parse_qsl(url.query, keep_blank_values=True)
        multi_headers: dict[str, list[str]] = {}
        for name, value in headers:
            multi_headers.setdefault(name, []).append(value)
        multi_query: dict[str, list[str]] = {}
        for name, value in query:
            multi_query.setdefault(name, []).append(value)
        content_type = next((v for k, v in headers if k.lower() == "content-type"), "")
        encoded = bool(body) and (self.is_binary(content_type) or not _is_utf8(body))
        now = datetime.now(UTC)
        return {
            "resource": route.path,
            "path": url.path,
            "httpMethod": method,
            "headers": {k: v[-1] for k, v in multi_headers.items()} or None,
            "multiValueHeaders": multi_headers or None,
            "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
            "multiValueQueryStringParameters": multi_query or None,
            "pathParameters": params or None,
            "stageVariables": None,
            "requestContext": {
                "resourceId": route.path,
                "resourcePath": route.path,
                "httpMethod": method,
                "path": f"/{self.stage}{url.path}",
                "stage": self.stage,
                "requestId": request_id,
                "extendedRequestId": request_id,
                "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
                "requestTimeEpoch": int(now.timestamp() * 1000),
                "accountId": self.account_id,
                "apiId": "local",
                "protocol": "HTTP/1.1",
                "domainName": next((v for k, v in headers if k.lower() == "host"), "127.0.0.1"),
                "identity": {
                    "sourceIp": source_ip,
                    "userAgent": next((v for k, v in headers if k.lower() == "user-agent"), None),
                },
            },
            "body": (base64.b64encode(body).decode() if encoded else body.decode()) if body else None,
            "isBase64Encoded": encoded,
        }

    def gateway_response(self, kind: str, request_id: str) -> tuple[int, dict[str, str], bytes]:
        """The template's GatewayResponses entry for `kind`, else its DEFAULT_4XX/5XX, else AWS's default."""
        family = "DEFAULT_5XX" if kind.startswith("INTEGRATION") else "DEFAULT_4XX"
        defaults = {
            "MISSING_AUTHENTICATION_TOKEN": (403, '{"message":"Missing Authentication Token"}'),
            "REQUEST_TOO_LARGE": (413, '{"message":"Request Too Long"}'),
            "INTEGRATION_FAILURE": (502, '{"message": "Internal server error"}'),
            "INTEGRATION_TIMEOUT": (504, '{"message": "Endpoint request timed out"}'),
        }
        status, body = defaults[kind]
        message = json.loads(body)["message"]
        configured = self.responses.get(kind) or self.responses.get(family) or {}
        status = int(configured.get("StatusCode", status))
        templates = configured.get("ResponseTemplates") or {}
        body = templates.get("application/json", body)
        body = body.replace("$context.requestId", request_id).replace("$context.error.message", message)
        headers = {"Content-Type": "application/json"}
        for name, value in (configured.get("ResponseParameters") or {}).get("Headers", {}).items():
            headers[name] = str(value).strip("'")
        return status, headers, body.encode()

    def respond(self, invocation: Invocation, request_id: str) -> tuple[int, list[tuple[str, str]], bytes]:
        if invocation.duration_ms > INTEGRATION_TIMEOUT_S * 1000:
            status, headers, body = self.gateway_response("INTEGRATION_TIMEOUT", request_id)
            return status, list(headers.items()), body
        if invocation.error:  # a function error or timeout: Lambda answered, but not a proxy response
            status, headers, body = self.gateway_response("INTEGRATION_FAILURE", request_id)
            return status, list(headers.items()), body
        try:
            result = json.loads(invocation.payload)
            status = int(result.get("statusCode", 200))
            pairs = [(k, str(v)) for k, v in (result.get("headers") or {}).items()]
            for name, values in (result.get("multiValueHeaders") or {}).items():
                pairs = [(k, v) for k, v in pairs if k.lower() != name.lower()]
                pairs.extend((name, str(v)) for v in values)
            raw = result.get("body") or ""
            body = base64.b64decode(raw) if result.get("isBase64Encoded") else str(raw).encode()
        except (ValueError, TypeError, AttributeError):
            # A malformed proxy response is a 502 on AWS too.
            status, headers, body = self.gateway_response("INTEGRATION_FAILURE", request_id)
            return status, list(headers.items()), body
        return status, pairs, body


def _is_utf8(body: bytes) -> bool:
    try:
        body.decode()
    except UnicodeDecodeError:
        return False
    return True


class HardenedServer(ThreadingHTTPServer):
    """A threading HTTP server that behaves like a real one under load: a deep listen backlog
    (socketserver's default of 5 resets connections beyond it), daemon handler threads."""

    request_queue_size = 512
    daemon_threads = True


class HardenedHandler(BaseHTTPRequestHandler):
    """Keep-alive without Nagle's delay (headers and body leave in one buffered write), a read
    timeout, and errors that http.server makes itself (400, 414, 431, 505) in the envelope."""

    protocol_version = "HTTP/1.1"
    wbufsize = -1
    disable_nagle_algorithm = True
    timeout = READ_TIMEOUT_S

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        reason = message or self.responses.get(code, ("Error",))[0]
        self.reply_error(
            code, OWN_ERRORS.get(code, "INVALID_INPUT" if code < 500 else "INTERNAL_ERROR"), reason
        )

    def reply_error(
        self, status: int, code: str, message: str, details: dict[str, Any] | None = None
    ) -> None:
        body = json.dumps(
            {
                "error": {
                    "code": code,
                    "message": message,
                    "details": details or {},
                    "request_id": str(uuid.uuid4()),
                }
            }
        ).encode()
        self.close_connection = True
        if self.request_version == "HTTP/0.9":  # unparsable request line: answer in HTTP/1.1 anyway
            self.request_version = "HTTP/1.1"
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if getattr(self, "command", None) != "HEAD":
            self.wfile.write(body)

    def read_body(self, limit: int) -> bytes | None:
        """The request's body, or None after answering a refusal (bad or too large Content-Length)."""
        declared = self.headers.get("Content-Length")
        if declared is None:
            if self.headers.get("Transfer-Encoding"):
                self.reply_error(411, "INVALID_INPUT", "Send Content-Length; chunked bodies are not accepted")
                return None
            return b""
        if not declared.strip().isdigit():
            self.reply_error(400, "INVALID_INPUT", f"Content-Length {declared!r} is not a byte count")
            return None
        length = int(declared)
        if length > limit:
            remaining = length if length <= DRAIN_LIMIT else 0
            while remaining > 0:  # read what the client is sending, so that it reads the answer
                chunk = self.rfile.read(min(65536, remaining))
                if not chunk:
                    break
                remaining -= len(chunk)
            self.reply_error(
                413,
                "PAYLOAD_TOO_LARGE",
                f"The body is {length} bytes; the limit is {limit}",
                {"limit_bytes": limit},
            )
            return None
        body = self.rfile.read(length)
        if len(body) < length:
            self.close_connection = True
            return None
        return body


def serve(gateway: Gateway, host: str, port: int) -> ThreadingHTTPServer:
    class Handler(HardenedHandler):
        server_version = "local-apigateway"

        def handle_any(self) -> None:
            started = time.perf_counter()
            request_id = str(uuid.uuid4())
            body = self.read_body(MAX_REQUEST_BYTES)
            if body is None:
                return
            path = urlsplit(self.path).path
            matched = gateway.match(self.command, path)
            if matched is None:
                status, headers, payload = gateway.gateway_response(
                    "MISSING_AUTHENTICATION_TOKEN", request_id
                )
                pairs = list(headers.items())
            else:
                route, params = matched
                event = gateway.build_event(
                    route,
                    params,
                    self.command,
                    self.path,
                    list(self.headers.items()),
                    body,
                    self.client_address[0],
                    request_id,
                )
                invocation = gateway.pools[route.function].invoke(json.dumps(event).encode())
                status, pairs, payload = gateway.respond(invocation, request_id)
            self.send_response(status)
            for name, value in pairs:
                if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                    self.send_header(name, value)
            self.send_header("x-amzn-RequestId", request_id)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)
            gateway_ms = (time.perf_counter() - started) * 1000
            self.server.log(f"{self.command} {self.path} {status} {gateway_ms:.1f}ms")  # type: ignore[attr-defined]

        def __getattr__(self, name: str) -> Any:
            # Every method reaches routing (TRACE, CONNECT, ...), as on API Gateway, not a 501.
            if name.startswith("do_"):
                return self.handle_any
            raise AttributeError(name)

    return HardenedServer((host, port), Handler)
