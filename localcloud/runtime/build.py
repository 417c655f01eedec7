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
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from localcloud.progress import elapsed

if TYPE_CHECKING:
    from localcloud.runtime.functions import FunctionSpec

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
    with elapsed("go install aws-lambda-rie"):
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
    with elapsed("the python3.12 runtime environment"):
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
    with elapsed(f"pip install -r {requirements.parent.name}/{requirements.name}"):
        _run(
            [str(python), "-m", "pip", "install", "-q", "-r", str(requirements), "--target", str(target)],
            f"installing {requirements}",
        )
    (target / ".built").write_text(digest)
    return target


def function_dependencies(folders: Mapping[str, Path], state: Path, python: Path) -> dict[str, Path]:
    """The requirements of each folder (a function's code or a layer's content, by the logical
    id that owns it) installed, again only those that changed."""
    built = {
        owner: dependencies(folder / "requirements.txt", state / "build" / owner, python)
        for owner, folder in folders.items()
    }
    return {owner: target for owner, target in built.items() if target is not None}


def spec_folders(functions: Mapping[str, FunctionSpec]) -> dict[str, Path]:
    """Each function's code folder and each of its layers' content folder, by logical id."""
    folders: dict[str, Path] = {}
    for spec in functions.values():
        folders.setdefault(spec.logical_id, spec.code_dir)
        for layer in spec.layers:
            folders.setdefault(layer.logical_id, layer.content_dir)
    return folders


def template_folders(template: Mapping[str, Any], root: Path) -> dict[str, Path]:
    """The same folders read from a template as written, before its stack is deployed (`make
    up` builds them ahead of the runtime, so that their progress shows on its terminal)."""
    resources = template["Resources"]
    defaults = (template.get("Globals") or {}).get("Function") or {}
    folders: dict[str, Path] = {}
    for logical_id, resource in resources.items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        props = {**defaults, **(resource.get("Properties") or {})}
        if isinstance(props.get("CodeUri"), str):
            folders.setdefault(logical_id, root / props["CodeUri"])
        for ref in [*(defaults.get("Layers") or []), *(resource["Properties"].get("Layers") or [])]:
            name = ref.get("Ref") if isinstance(ref, dict) else ref
            content = ((resources.get(name) or {}).get("Properties") or {}).get("ContentUri")
            if isinstance(content, str):
                folders.setdefault(name, root / content)
    return folders
