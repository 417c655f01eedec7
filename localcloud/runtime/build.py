"""What the managed runtime provides and what `sam build` would add, built once and cached.

- the runtime's interpreter: a venv of Python 3.12 holding only awslambdaric and boto3, as the
  managed python3.12 runtime does, so a function cannot import the project's dev packages;
- AWS's Runtime Interface Emulator (Go), built with `go install`;
- each layer's and each function's requirements.txt, installed into a folder of their own.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

RIE_MODULE = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie"
RIE_VERSION = "v0.0.0-20261030222936-bef5c4ba774d"  # the module has no release tags
RUNTIME_PACKAGES = ["awslambdaric>=3,<5", "boto3>=1.35,<2"]


class BuildError(RuntimeError):
    pass


def _run(command: list[str], what: str, env: dict[str, str] | None = None) -> None:
    result = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines() or ["no output"]
        raise BuildError(f"{what} failed: {lines[-1]}")


def _stamp_matches(folder: Path, digest: str) -> bool:
    stamp = folder / ".built"
    return stamp.exists() and stamp.read_text() == digest


def runtime_interface_emulator(cache: Path) -> Path:
    binary = cache / "bin" / f"aws-lambda-rie-{RIE_VERSION}"
    if binary.exists():
        return binary
    go = shutil.which("go") or ("/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").exists() else None)
    if go is None:
        raise BuildError("Go is needed to build AWS's Runtime Interface Emulator: apt-get install -y golang")
    print(f"  building aws-lambda-rie {RIE_VERSION} with go install (first run only)...", flush=True)
    gobin = cache / "gobin"
    _run(
        [go, "install", f"{RIE_MODULE}@{RIE_VERSION}"],
        "go install aws-lambda-rie",
        env={**os.environ, "GOBIN": str(gobin), "CGO_ENABLED": "0"},
    )
    binary.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(gobin / "aws-lambda-rie", binary)
    return binary


def runtime_python(state: Path) -> Path:
    """The interpreter functions run under: base Python 3.12 plus awslambdaric and boto3 only."""
    venv = state / "runtime" / "python3.12"
    python = venv / "bin" / "python"
    digest = hashlib.sha256(" ".join(RUNTIME_PACKAGES).encode()).hexdigest()
    if python.exists() and _stamp_matches(venv, digest):
        return python
    base = Path(sys.base_prefix) / "bin" / "python3.12"
    if not base.exists():
        raise BuildError(f"the runtime needs Python 3.12 at {base}")
    print("  creating the python3.12 runtime environment (awslambdaric, boto3)...", flush=True)
    _run([str(base), "-m", "venv", "--clear", str(venv)], "creating the runtime venv")
    _run([str(python), "-m", "pip", "install", "-q", *RUNTIME_PACKAGES], "installing awslambdaric")
    (venv / ".built").write_text(digest)
    return python


def dependencies(requirements: Path, target: Path, python: Path) -> Path | None:
    """Install `requirements` into `target` (as sam build does), again only when it changes."""
    if not requirements.exists():
        return None
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()
    if _stamp_matches(target, digest):
        return target
    print(f"  installing {requirements} into {target}...", flush=True)
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    _run(
        [str(python), "-m", "pip", "install", "-q", "-r", str(requirements), "--target", str(target)],
        f"installing {requirements}",
    )
    (target / ".built").write_text(digest)
    return target
