"""An HTTP/1.1 server on 127.0.0.1 in a thread, answering from a script and recording each
request, for the client's unit tests (real sockets, so keep-alive and reconnects are real)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes
    client_port: int

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class Reply:
    status: int
    body: Any = None  # bytes as they are, anything else as JSON
    headers: dict[str, str] = field(default_factory=dict)
    close: bool = False  # close the connection after answering, without saying so (an idle timeout)
    delay: float = 0.0


def envelope(
    status: int, code: str, message: str = "no", headers: dict[str, str] | None = None, **details: Any
) -> Reply:
    return Reply(
        status,
        {"error": {"code": code, "message": message, "details": details, "request_id": f"req-{code}"}},
        {"X-Request-Id": f"req-{code}", **(headers or {})},
    )


Answer = Callable[[Seen], Reply]


class FakeApi:
    def __init__(self, answer: Answer | list[Reply]) -> None:
        self.requests: list[Seen] = []
        if isinstance(answer, list):
            script = list(answer)
            self.answer: Answer = lambda seen: script.pop(0) if len(script) > 1 else script[0]
        else:
            self.answer = answer
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                url = urlsplit(self.path)
                seen = Seen(
                    self.command,
                    url.path,
                    parse_qs(url.query),
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                    self.client_address[1],
                )
                api.requests.append(seen)
                reply = api.answer(seen)
                if reply.delay:
                    time.sleep(reply.delay)
                data = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
                if reply.body is None:
                    data = b""
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                if "Content-Type" not in reply.headers:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                if reply.close:
                    self.close_connection = True

            do_GET = do_POST = do_PUT = do_DELETE = _serve

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)

    def __enter__(self) -> FakeApi:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def fake_api(answer: Answer | list[Reply]) -> Iterator[FakeApi]:
    with FakeApi(answer) as api:
        yield api
