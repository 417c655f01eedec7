"""Execution environments: one Runtime Interface Emulator + awslambdaric process each, pooled
per function as Lambda does: cold on first use, reused warm, more while invocations overlap."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from localcloud.runtime.functions import FunctionSpec

LogSink = Callable[[str, str], None]
_ERROR_KEYS = {"errorMessage", "errorType", "requestId", "stackTrace"}


@dataclass(frozen=True)
class Invocation:
    payload: bytes
    error: str | None  # "Unhandled" when the function failed, as X-Amz-Function-Error says
    cold: bool
    duration_ms: float


@dataclass(frozen=True)
class RuntimeParts:
    rie: Path
    python: Path
    dependency_dirs: dict[str, Path]  # layer or function logical id -> its built requirements


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:  # held open together, so the ports differ
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


# Environments start one at a time: from choosing free ports until the emulator holds them.
_starting = threading.Lock()


def classify(body: bytes) -> tuple[bytes, str | None]:
    """RIE answers 200 for every outcome; tell a failure apart by its body, and shape timeouts."""
    text = body.strip()
    if text.startswith(b"Task timed out after"):
        return json.dumps(
            {"errorType": "Sandbox.Timedout", "errorMessage": text.decode()}
        ).encode(), "Unhandled"
    try:
        parsed = json.loads(body)
    except ValueError:
        return body, None
    if (
        isinstance(parsed, dict)
        and "errorType" in parsed
        and "errorMessage" in parsed
        and set(parsed) <= _ERROR_KEYS
    ):
        return body, "Unhandled"
    return body, None


class ExecutionEnvironment:
    def __init__(
        self, spec: FunctionSpec, parts: RuntimeParts, base_env: dict[str, str], log: LogSink
    ) -> None:
        self.spec = spec
        self.initialised = False
        paths = [str(spec.code_dir)]
        if spec.logical_id in parts.dependency_dirs:
            paths.append(str(parts.dependency_dirs[spec.logical_id]))
        for layer in spec.layers:  # /opt/python on AWS: the layer's code and its requirements
            paths.append(str(layer.content_dir))
            if layer.logical_id in parts.dependency_dirs:
                paths.append(str(parts.dependency_dirs[layer.logical_id]))
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "TZ": ":UTC",
            **base_env,
            **spec.environment,
            "PYTHONPATH": os.pathsep.join(paths),
            "LAMBDA_TASK_ROOT": str(spec.code_dir),
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_TIMEOUT": str(spec.timeout),
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_size),
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
            "_HANDLER": spec.handler,
        }
        with _starting:
            self.port, self.runtime_api_port = _free_ports(2)
            self._spawn(parts, env, log)

    def _spawn(self, parts: RuntimeParts, env: dict[str, str], log: LogSink) -> None:
        spec = self.spec
        self.process = subprocess.Popen(
            [
                str(parts.rie),
                "--runtime-interface-emulator-address",
                f"127.0.0.1:{self.port}",
                "--runtime-api-address",
                f"127.0.0.1:{self.runtime_api_port}",
                str(parts.python),
                "-m",
                "awslambdaric",
                spec.handler,
            ],
            cwd=spec.code_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        threading.Thread(target=self._forward_logs, args=(log,), daemon=True).start()
        deadline = time.monotonic() + 10
        while not self._listening():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{spec.logical_id}: the Runtime Interface Emulator did not start")
            time.sleep(0.02)

    def _listening(self) -> bool:
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", self.port)) == 0

    def _forward_logs(self, log: LogSink) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            log(self.spec.logical_id, raw.decode(errors="replace").rstrip("\n"))

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def invoke(self, payload: bytes) -> Invocation:
        cold = not self.initialised
        started = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.spec.timeout + 30)
        try:
            conn.request(
                "POST",
                "/2015-03-31/functions/function/invocations",
                body=payload,
                headers={"Content-Type": "application/json"},
            )
            body = conn.getresponse().read()
        finally:
            conn.close()
        result, error = classify(body)
        # After a timeout the emulator kills the runtime; the next invoke initialises anew.
        self.initialised = not (error and b"Sandbox.Timedout" in result)
        return Invocation(result, error, cold, (time.perf_counter() - started) * 1000)

    def stop(self) -> None:
        if self.alive:
            os.killpg(self.process.pid, 15)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)
                self.process.wait()


class FunctionPool:
    """The execution environments of one function, at most `limit` at once (its concurrency)."""

    def __init__(
        self, spec: FunctionSpec, parts: RuntimeParts, base_env: dict[str, str], log: LogSink, limit: int
    ) -> None:
        self.spec, self._parts, self._base_env, self._log, self.limit = spec, parts, base_env, log, limit
        self._idle: list[ExecutionEnvironment] = []
        self._count = 0
        self._lock = threading.Condition()

    def _acquire(self) -> ExecutionEnvironment:
        with self._lock:
            while True:
                while self._idle:
                    env = self._idle.pop()
                    if env.alive:
                        return env
                    self._count -= 1
                if self._count < self.limit:
                    self._count += 1
                    break
                self._lock.wait()
        try:
            return ExecutionEnvironment(self.spec, self._parts, self._base_env, self._log)
        except Exception:
            with self._lock:
                self._count -= 1
                self._lock.notify()
            raise

    def _release(self, env: ExecutionEnvironment, healthy: bool) -> None:
        with self._lock:
            if healthy and env.alive:
                self._idle.append(env)
            else:
                self._count -= 1
                env.stop()
            self._lock.notify()

    def invoke(self, payload: bytes) -> Invocation:
        env = self._acquire()
        healthy = False
        try:
            result = env.invoke(payload)
            healthy = True
            return result
        finally:
            self._release(env, healthy)

    def stop(self) -> None:
        with self._lock:
            for env in self._idle:
                env.stop()
            self._idle.clear()
            self._count = 0
