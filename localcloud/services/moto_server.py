"""moto's server with the changes the local cloud depends on: two fixes to its Kinesis shards,
job runs that really run, and less work per request.

- Numbering: moto 5.x gives a new record `max(sequence numbers) + 1` without a lock, so two
  PutRecord(s) calls at once can get the same number and one record silently replaces the other
  (measured here: 158 of 20,000 records lost to 4 concurrent clients, with FailedRecordCount 0).
  AWS never does this; the local cloud must not either, or it reports the emulator's losses.
- Cost: that `max` and moto's GetRecords both walk every record of the shard on every call, so
  a stream slows down as it fills (a batch of 500 puts took ~0.6 s on a shard of 40,000 records).
  Sequence numbers are consecutive integers, so both can go straight to the records they want.
- Per request, werkzeug's server logs a line (a tenth of the emulator's time under ingest): only
  its warnings and errors are logged.
- EMR Serverless: moto records job runs and runs nothing; here they run for real, with pyspark
  (spark_jobs.py). Under `make up AWS=localstack` this server serves that API alone, beside
  LocalStack (which lacks it), and the runs' S3 is LocalStack's.
- Per request, moto's dispatcher lists its own package directory (`os.listdir` and an `isdir`
  for each of some 150 entries) to tell a service name from a host: 13 % of the emulator's time
  under ingest. The list cannot change while the server runs; it is read once.
"""

from __future__ import annotations

import logging
import sys
import threading
from dataclasses import replace

from moto import backends
from moto.emrserverless.models import EMRServerlessBackend
from moto.kinesis import models
from moto.server import main

from localcloud.connections import aws_client
from localcloud.services import spark_jobs
from localcloud.settings import Layout, Ports, aws_emulator

_numbering = threading.Lock()


def _put_record(self: models.Shard, partition_key: str, data: str, explicit_hash_key: str) -> str:
    with _numbering:
        last = self.__dict__.get("_last_sequence")
        if last is None:
            last = self.get_max_sequence_number() if self.records else 0
        sequence_number = last + 1
        self.records[sequence_number] = models.Record(partition_key, data, sequence_number, explicit_hash_key)
        self.__dict__["_last_sequence"] = sequence_number
        return str(sequence_number)


def _get_records(
    self: models.Shard, last_sequence_id: str, limit: int | None
) -> tuple[list[models.Record], int, int]:
    last = int(last_sequence_id)
    if not self.records:
        return [], last, 0
    newest = self.records[next(reversed(self.records))]
    results: list[models.Record] = []
    sequence_number = last + 1
    while sequence_number <= newest.sequence_number and (limit is None or len(results) < limit):
        record = self.records.get(sequence_number)
        if record is not None:
            results.append(record)
            last = sequence_number
        sequence_number += 1
    behind = newest.created_at - results[-1].created_at if results else 0.0
    return results, last, int(behind * 1000)


_modules = tuple(backends.list_of_moto_modules())
backends.list_of_moto_modules = lambda: _modules  # type: ignore[assignment]
models.Shard.put_record = _put_record  # type: ignore[method-assign]
models.Shard.get_records = _get_records  # type: ignore[method-assign]


def _job_runner() -> spark_jobs.LocalJobRunner:
    """Runs the job runs; reads and writes S3 through this emulator's own endpoint (LocalStack's
    when it is the emulator)."""
    port = int(sys.argv[sys.argv.index("-p") + 1]) if "-p" in sys.argv else Ports().aws
    s3 = aws_client(Ports() if aws_emulator() == "localstack" else replace(Ports(), aws=port), "s3")
    return spark_jobs.LocalJobRunner(Layout(), s3, lambda line: print(line, flush=True))


spark_jobs.install(EMRServerlessBackend, _job_runner)

if __name__ == "__main__":
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    sys.exit(main())
