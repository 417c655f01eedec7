"""EMR Serverless job runs, executed: moto records StartJobRun and runs nothing, so inside the
emulator's process this runs each submitted job for real, with pyspark in `local[2]` mode: the
run's entry point, arguments and Spark parameters, as EMR Serverless would pass them to
spark-submit. The run moves through EMR's states as it goes (SUBMITTED, RUNNING, then SUCCESS or
FAILED with the end of the driver's log as stateDetails), so callers poll GetJobRun as in AWS.

What EMRFS gives a job in AWS, s3:// paths, is a folder here: every s3:// URI among the entry
point and the arguments becomes a file:// path under the run's folder
(`.localcloud/spark/<run id>/s3/<bucket>/<key>`), filled from the emulator's S3 before the run;
what the job wrote there is copied back to S3 after it, and the folder removed (a failed run's
stays, beside the driver's log, to look at).

pyspark (3.5, the Spark Cassandra Connector's newest supported line) is kept out of the project's
environment: it is installed on first use in a virtual environment of its own in the user's
cache (`pyspark-<version>`, about 450 MB), and the connector's jars come from Maven Central
through spark-submit's `spark.jars.packages` into `~/.ivy2`.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from localcloud.settings import Layout

PYSPARK_VERSION = "3.5.9"
MASTER = "local[2]"
# Spark's default of 200 partitions per shuffle is sized for a cluster (EMR keeps it); on two local
# cores each is a task of its own, most of them empty
LOCAL_SHUFFLE_PARTITIONS = 4
_installing = threading.Lock()


def spark_environment(layout: Layout, log: Any = print) -> Path:
    """The Python of the pyspark environment, installed on first use."""
    home = layout.cache / f"pyspark-{PYSPARK_VERSION}"
    python = home / "bin" / "python"
    ready = home / ".installed"
    with _installing:
        if not ready.exists():
            log(f"spark: installing pyspark {PYSPARK_VERSION} into {home} (once, about 450 MB)")
            subprocess.run([sys.executable, "-m", "venv", "--clear", str(home)], check=True)
            subprocess.run(
                [
                    str(python),
                    "-m",
                    "pip",
                    "install",
                    "-q",
                    f"pyspark=={PYSPARK_VERSION}",
                    "numpy",
                    "setuptools",
                ],
                check=True,
            )
            ready.touch()
    return python


def _s3_parts(uri: str) -> tuple[str, str]:
    parsed = urlparse(uri)
    return parsed.netloc, parsed.path.lstrip("/")


class LocalJobRunner:
    """Runs the job runs moto records; one thread per run."""

    def __init__(self, layout: Layout, s3: Any, log: Any = print) -> None:
        self.layout, self.s3, self.log = layout, s3, log
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def submit(self, run: Any) -> None:
        run.state = "SUBMITTED"
        threading.Thread(target=self._run, args=(run,), daemon=True, name=f"spark-{run.id}").start()

    def cancel(self, run_id: str) -> None:
        process = self.processes.get(run_id)
        if process is not None and process.poll() is None:
            process.kill()

    def _local(self, folder: Path, uri: str) -> str:
        if not uri.startswith("s3://"):
            return uri
        bucket, key = _s3_parts(uri)
        return (folder / "s3" / bucket / key).as_uri()

    def _download(self, folder: Path, uri: str) -> None:
        """Every object under the URI's key (the URI as a prefix), into the run's folder."""
        bucket, key = _s3_parts(uri)
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key):
            for entry in page.get("Contents", []):
                target = folder / "s3" / bucket / entry["Key"]
                target.parent.mkdir(parents=True, exist_ok=True)
                self.s3.download_file(bucket, entry["Key"], str(target))

    def _upload(self, folder: Path, uri: str, since: float) -> int:
        """What the job wrote under the URI's path (files newer than the run's start) back to S3."""
        bucket, key = _s3_parts(uri)
        root = folder / "s3" / bucket / key
        files = (
            [root]
            if root.is_file()
            else sorted(p for p in root.rglob("*") if p.is_file())
            if root.exists()
            else []
        )
        uploaded = 0
        for path in files:
            if path.name.endswith(".crc") or path.stat().st_mtime < since:
                continue  # Hadoop's local checksums; inputs downloaded before the run
            self.s3.upload_file(str(path), bucket, str(path.relative_to(folder / "s3" / bucket)))
            uploaded += 1
        return uploaded

    def _run(self, run: Any) -> None:
        folder = self.layout.state / "spark" / run.id
        folder.mkdir(parents=True, exist_ok=True)
        driver_log = folder / "driver.log"
        started = time.time()
        try:
            python = spark_environment(self.layout, self.log)
            submit = run.job_driver["sparkSubmit"]
            arguments = list(submit.get("entryPointArguments") or [])
            uris = [u for u in [submit["entryPoint"], *arguments] if u.startswith("s3://")]
            for uri in uris:
                self._download(folder, uri)
            run.state = "RUNNING"
            submitted = time.time()  # what is newer than this, the job wrote
            spark_home = next((python.parent.parent / "lib").glob("python3*/site-packages/pyspark"))
            command = [
                str(spark_home / "bin" / "spark-submit"),
                # EMR Serverless's default driver has 16 GB; spark-submit's local default is 1 GB
                *("--master", MASTER, "--conf", "spark.ui.enabled=false", "--driver-memory", "4g"),
                *("--conf", f"spark.sql.shuffle.partitions={LOCAL_SHUFFLE_PARTITIONS}"),
                *shlex.split(submit.get("sparkSubmitParameters") or ""),
                urlparse(self._local(folder, submit["entryPoint"])).path,
                *(self._local(folder, a) for a in arguments),
            ]
            env = {
                **os.environ,
                "SPARK_HOME": str(spark_home),
                "PYSPARK_PYTHON": str(python),
                "PYSPARK_DRIVER_PYTHON": str(python),
            }
            self.log(f"spark: run {run.id} ({run.name}) started; driver log {driver_log}")
            with driver_log.open("wb") as out:
                process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=folder)
                self.processes[run.id] = process
                try:
                    code = process.wait(timeout=run.execution_timeout_minutes * 60)
                except subprocess.TimeoutExpired:
                    process.kill()
                    code = -1
            if run.state == "CANCELLED":
                return
            if code != 0:
                raise RuntimeError(f"spark-submit exited with {code}: {_tail(driver_log)}")
            uploaded = sum(self._upload(folder, uri, submitted) for uri in uris)
            shutil.rmtree(folder / "s3", ignore_errors=True)  # in S3 now; the driver's log stays
            run.state, run.state_details = "SUCCESS", ""
            self.log(
                f"spark: run {run.id} succeeded in {time.time() - started:.0f}s ({uploaded} files to S3)"
            )
        except Exception as exc:  # a failed run is a state, as on EMR, never a crash of the emulator
            run.state, run.state_details = "FAILED", str(exc)[-2000:]
            self.log(f"spark: run {run.id} failed: {exc}")
        finally:
            run.total_execution_duration_seconds = int(time.time() - started)
            self.processes.pop(run.id, None)


def _tail(path: Path, lines: int = 15) -> str:
    """The driver log's last lines, without Spark's INFO and WARN chatter."""
    text = path.read_text(errors="replace").splitlines()
    return "\n".join([line for line in text if " WARN " not in line and " INFO " not in line][-lines:])


def install(backend_class: Any, runner_factory: Any) -> None:
    """Make moto's EMR Serverless backend run what it records, honour client tokens, and list an
    application without runs as having none (moto answers ResourceNotFound)."""
    start, cancel, listing = (
        backend_class.start_job_run,
        backend_class.cancel_job_run,
        backend_class.list_job_runs,
    )
    runners: dict[int, LocalJobRunner] = {}

    def runner() -> LocalJobRunner:
        if 0 not in runners:
            runners[0] = runner_factory()
        return runners[0]

    def start_job_run(self: Any, application_id: str, client_token: str, *args: Any, **kwargs: Any) -> Any:
        for existing in self.job_runs.get(application_id, []):
            if client_token and existing.client_token == client_token:
                return existing  # StartJobRun is idempotent per client token
        created = start(self, application_id, client_token, *args, **kwargs)
        runner().submit(created)
        return created

    def cancel_job_run(self: Any, application_id: str, job_run_id: str) -> Any:
        result = cancel(self, application_id, job_run_id)
        runner().cancel(job_run_id)
        return result

    def list_job_runs(self: Any, application_id: str, *args: Any, **kwargs: Any) -> Any:
        if application_id in self.applications and application_id not in self.job_runs:
            return []
        return listing(self, application_id, *args, **kwargs)

    backend_class.list_job_runs = list_job_runs
    backend_class.start_job_run = start_job_run
    backend_class.cancel_job_run = cancel_job_run
