"""`pip install .` carries the whole project: the wheel is built, and every module of the source
tree is in it and imports from it alone (not from the checkout an editable install points at)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from localcloud.settings import ROOT

SOURCES = {"recsys": ROOT / "layers" / "shared" / "recsys"} | {
    name: ROOT / name for name in ("localcloud", "evaluation", "chaos", "bench")
}
DATA = ("recsys/schema/postgres/0001_core.sql", "recsys/schema/cassandra/0001_interactions.cql")

_IMPORT_EVERY_MODULE = """
import importlib, sys
site, modules = sys.argv[1], sys.argv[2:]
# the editable install's finder maps these packages to the checkout: without it only the wheel answers
sys.meta_path[:] = [f for f in sys.meta_path if not getattr(f, "__module__", "").startswith("__editable__")]
sys.path.insert(0, site)
for name in modules:
    module = importlib.import_module(name)
    assert module.__file__.startswith(site), (name, module.__file__)
"""


def _module(relative: Path) -> str:
    parts = relative.with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _sources_only(tmp_path: Path) -> Path:
    """The packaging input alone, copied: setuptools builds in the tree's `build/`, and a stale
    one there would put modules that no longer exist into the wheel."""
    tree = tmp_path / "tree"
    tree.mkdir()
    shutil.copy(ROOT / "pyproject.toml", tree / "pyproject.toml")
    for folder in SOURCES.values():
        shutil.copytree(folder, tree / folder.relative_to(ROOT), ignore=shutil.ignore_patterns("__pycache__"))
    return tree


def test_the_wheel_holds_every_module_and_each_imports_from_it(tmp_path):
    tree = _sources_only(tmp_path)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", str(tree), "-w", str(tmp_path)],
        check=True,
        capture_output=True,
        text=True,
    )
    # setuptools still copies a package it was not told of, warning that it soon will not
    assert "absent from the `packages` configuration" not in built.stdout + built.stderr
    site = tmp_path / "site"
    with zipfile.ZipFile(next(tmp_path.glob("*.whl"))) as wheel:
        wheel.extractall(site)
        names = set(wheel.namelist())
    in_wheel = {_module(Path(n)) for n in names if n.endswith(".py")}
    in_tree = {
        _module(Path(package) / path.relative_to(folder))
        for package, folder in SOURCES.items()
        for path in folder.rglob("*.py")
        if "__pycache__" not in path.parts
    }
    assert in_wheel == in_tree
    assert all(name in names for name in DATA)
    assert any(name.startswith("localcloud/cassandra/") for name in names)  # Cassandra's config
    subprocess.run(
        [sys.executable, "-c", _IMPORT_EVERY_MODULE, str(site), *sorted(in_wheel)], cwd=tmp_path, check=True
    )


def test_the_clients_wheel_holds_its_modules_and_types_and_imports_from_it(tmp_path):
    """`pip install ./clients/python`: the client's own package, marked typed (py.typed)."""
    source = ROOT / "clients" / "python"
    tree = tmp_path / "client"
    shutil.copytree(source, tree, ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(tree), "-w", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    site = tmp_path / "site"
    with zipfile.ZipFile(next(tmp_path.glob("recsys_client-*.whl"))) as wheel:
        wheel.extractall(site)
        names = set(wheel.namelist())
    package = source / "src" / "recsys_client"
    expected = {f"recsys_client/{path.relative_to(package)}" for path in package.rglob("*.py")}
    assert {name for name in names if name.endswith(".py")} == expected
    assert "recsys_client/py.typed" in names
    modules = sorted(_module(Path(name)) for name in expected)
    subprocess.run(
        [sys.executable, "-c", _IMPORT_EVERY_MODULE, str(site), *modules], cwd=tmp_path, check=True
    )
