"""One persistent HTTP/1.1 connection per client (reopened when the server closed it), and what
one exchange on it returned."""

from __future__ import annotations

import http.client
import json
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

# A kept-alive connection the server has closed (its idle timeout) fails like this on the next
# request, before any answer: sent again at once on a new connection, not counted as an attempt.
STALE_CONNECTION_ERRORS = (
    http.client.RemoteDisconnected,
    ConnectionResetError,
    ConnectionAbortedError,
    BrokenPipeError,
)


@dataclass(frozen=True)
class RawResponse:
    """An answer as it came: status, headers (case-insensitive `get`), body bytes, and timing:
    `elapsed` is the last attempt's seconds from sending to the last byte read, `total_elapsed`
    all attempts' and waits' together."""

    status: int
    headers: http.client.HTTPMessage
    body: bytes
    elapsed: float
    attempts: int = 1
    total_elapsed: float = 0.0
    reused_connection: bool = False

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    @property
    def request_id(self) -> str | None:
        return self.headers.get("X-Request-Id")

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class Connection:
    """HTTP to one origin, over one socket kept open across requests (thread-safe: requests
    from several threads take turns; give each thread its own client for parallel calls)."""

    def __init__(self, base_url: str, timeout: float, keep_alive: bool = True) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"base_url must be http(s)://host[:port][/prefix], not {base_url!r}")
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.prefix = parts.path.rstrip("/")  # e.g. an API Gateway stage: https://…/Prod
        self.timeout = timeout
        self.keep_alive = keep_alive
        self._connection: http.client.HTTPConnection | None = None
        self._lock = threading.Lock()

    def _open(self) -> http.client.HTTPConnection:
        if self._connection is None:
            kind = http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection
            self._connection = kind(self.host, self.port, timeout=self.timeout)
        return self._connection

    def close(self) -> None:
        with self._lock:
            self._drop()

    def _drop(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def exchange(self, method: str, target: str, body: bytes | None, headers: dict[str, str]) -> RawResponse:
        """One request and its whole answer; raises OSError or http.client.HTTPException when
        none came (the connection is then closed, the next exchange opens another)."""
        sent = dict(headers)
        if not self.keep_alive:
            sent["Connection"] = "close"
        with self._lock:
            for fresh_retry in (False, True):
                connection = self._open()
                reused = connection.sock is not None
                started = time.perf_counter()
                try:
                    connection.request(method, self.prefix + target, body=body, headers=sent)
                    reply = connection.getresponse()
                    data = reply.read()
                except STALE_CONNECTION_ERRORS:
                    self._drop()
                    if reused and not fresh_retry:
                        continue
                    raise
                except (OSError, http.client.HTTPException):
                    self._drop()
                    raise
                elapsed = time.perf_counter() - started
                if reply.will_close or not self.keep_alive:
                    self._drop()
                return RawResponse(reply.status, reply.headers, data, elapsed, reused_connection=reused)
        raise AssertionError("unreachable")  # pragma: no cover
