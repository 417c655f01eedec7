"""The local cloud's command line, as a newcomer runs it (`make up` / `make status` call these)."""

import subprocess
import sys

from localcloud.settings import ROOT


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "localcloud", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_up_again_is_harmless(cloud):
    before = {service.name: service.pid() for service in cloud.services}
    result = run("up")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("already running") == len(cloud.services)
    assert "\r" not in result.stdout + result.stderr  # not a terminal: no progress is drawn
    assert {service.name: service.pid() for service in cloud.services} == before


def test_status_reports_every_service_up(cloud):
    result = run("status")
    assert result.returncode == 0, result.stdout + result.stderr
    for service in cloud.services:
        line = next(line for line in result.stdout.splitlines() if service.title in line)
        assert " up " in line and str(service.log_file) in line


def test_env_resolves_the_template_for_the_served_stack(cloud):
    result = run("env")
    assert result.returncode == 0, result.stderr
    exports = dict(line.removeprefix("export ").split("=", 1) for line in result.stdout.splitlines())
    assert exports["INTERACTION_STREAM_NAME"] == "'recsys-local-interactions'"
    assert exports["CATALOG_IMPORT_QUEUE_URL"].endswith("/recsys-local-catalog-import'")
    assert exports["POSTGRES_PORT"] == f"'{cloud.ports.postgres}'"
