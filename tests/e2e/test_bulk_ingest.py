"""The bulk paths end to end, through the local runtime on the test stack: a history file imported
with a presigned upload (S3 -> its queue -> the import worker -> the stream -> the consumers), a
re-import that doubles nothing, a worker that hands over near its time limit, and the seed loader."""

from __future__ import annotations

import json
import urllib.request
import uuid

import pytest

from localcloud import seed
from localcloud.connections import redis_db
from localcloud.settings import TEST_STACK
from recsys.connections import aws_client, cassandra_session, postgres_connection, redis_client
from recsys.logic.interaction_import import run_import
from recsys.stores.catalog import PostgresCatalog
from recsys.stores.event_claims import RedisEventClaims
from recsys.stores.feature_store import RedisFeatureStore
from recsys.stores.interaction_imports import PostgresImportRegistry, S3ImportFiles
from recsys.stores.interaction_log import CassandraInteractionLog
from recsys.stores.interaction_stream import KinesisInteractionStream
from tests.e2e.conftest import Runtime, wait_for


@pytest.fixture(scope="module")
def runtime(cloud, function_env, tmp_path_factory):
    started = Runtime(cloud, tmp_path_factory.mktemp("bulk"))
    yield started
    started.stop()


@pytest.fixture(scope="module")
def key(cloud, runtime):
    return cloud.create_api_key("pro", ["read", "write"], "bulk", stack=TEST_STACK)


def api(runtime, key, method, path, body=None):
    status, _, raw = runtime.request(
        method,
        path,
        json.dumps(body).encode() if body is not None else None,
        {"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    return status, json.loads(raw)


def upload(url: str, data: bytes) -> int:
    request = urllib.request.Request(url, data=data, method="PUT", headers={"Content-Type": "text/csv"})
    with urllib.request.urlopen(request, timeout=30) as reply:  # the emulator's S3, on loopback
        return reply.status


def import_file(runtime, key, data: bytes, file_format: str = "csv") -> dict:
    status, created = api(runtime, key, "POST", "/v1/interactions/imports", {"format": file_format})
    assert status == 202 and created["status"] == "awaiting_upload", created
    assert upload(created["upload_url"], data) == 200

    def finished():
        _, found = api(runtime, key, "GET", f"/v1/interactions/imports/{created['import_id']}")
        return found if found["status"] in ("completed", "failed") else None

    done = wait_for(finished, timeout=60)
    assert done, api(runtime, key, "GET", f"/v1/interactions/imports/{created['import_id']}")
    return done


def test_a_history_file_is_imported_once_with_its_bad_rows_reported_by_line(cloud, runtime, key, settings):
    user = f"imp_{uuid.uuid4().hex[:8]}"
    lines = [
        "user_id,item_id,action,timestamp,context",
        f"{user},movie_1,watch,881250949,",
        f'{user},movie_2,like,2024-01-20T15:30:00Z,"{{""rating"": ""4""}}"',
        f"{user},movie_3,teleport,881250949",  # line 4: no such action
        f"{user},movie_4,watch",  # line 5: no timestamp
        "",
        f"{user},movie_1,watch,881250949,",  # line 7: line 2 again
        f"{user},movie_5,purchase,2024-01-20T15:30:00",  # line 8: no zone
    ]
    data = "\n".join(lines).encode()

    first = import_file(runtime, key, data)

    assert first["status"] == "completed", first
    assert (first["rows_read"], first["accepted"], first["duplicates"], first["rejected"]) == (6, 2, 1, 3)
    assert [(e["line"], e["code"]) for e in first["errors"]] == [
        (4, "INVALID_INPUT"),
        (5, "INVALID_INPUT"),
        (8, "INVALID_INPUT"),
    ]
    assert first["errors"][0]["details"]["field"] == "action"
    assert first["completed_at"] is not None
    # completed means stored: the log, the real-time features and the counters have both events
    log = CassandraInteractionLog(cassandra_session(settings))
    assert sorted((i.item_id, i.action) for i in log.for_user(user)) == [
        ("movie_1", "watch"),
        ("movie_2", "like"),
    ]
    assert next(i for i in log.for_user(user) if i.item_id == "movie_2").context == {"rating": "4"}
    features = redis_client(settings)
    assert features.hget(f"user_features:{user}", "interactions_total") == b"2"
    assert PostgresCatalog(postgres_connection(settings)).get_user(user).total_interactions == 2

    again = import_file(runtime, key, data)  # the same file: nothing doubles

    assert (again["accepted"], again["duplicates"], again["rejected"]) == (0, 3, 3)
    assert len(log.for_user(user)) == 2
    assert features.hget(f"user_features:{user}", "interactions_total") == b"2"


def test_json_lines_keep_their_event_ids_and_imports_are_private_to_their_key(cloud, runtime, key, settings):
    user = f"imp_{uuid.uuid4().hex[:8]}"
    rows = [
        {
            "event_id": f"{user}-a",
            "user_id": user,
            "item_id": "movie_7",
            "action": "click",
            "timestamp": 881250949,
        },
        {
            "event_id": f"{user}-b",
            "user_id": user,
            "item_id": "movie_8",
            "action": "watch",
            "timestamp": 881250950,
        },
        [1, 2],
    ]
    done = import_file(runtime, key, "\n".join(json.dumps(r) for r in rows).encode(), "jsonl")
    assert (done["accepted"], done["rejected"], done["errors"][0]["line"]) == (2, 1, 3)
    log = CassandraInteractionLog(cassandra_session(settings))
    assert sorted(i.event_id for i in log.for_user(user)) == [f"{user}-a", f"{user}-b"]

    other = cloud.create_api_key("pro", ["read", "write"], "other", stack=TEST_STACK)
    status, body = api(runtime, other, "GET", f"/v1/interactions/imports/{done['import_id']}")
    assert status == 404 and body["error"]["code"] == "NOT_FOUND"
    status, body = api(runtime, key, "POST", "/v1/interactions/imports", {"format": "xml"})
    assert status == 400 and body["error"]["details"]["field"] == "format"
    reader = cloud.create_api_key("pro", ["read"], "reader", stack=TEST_STACK)
    assert api(runtime, reader, "POST", "/v1/interactions/imports", {})[0] == 403


def test_a_worker_near_its_time_limit_hands_the_rest_over_and_nothing_is_counted_twice(settings, monkeypatch):
    """run_import against the real stores, with a chunk of 3 rows and no time left after the first."""
    from recsys.logic import interaction_import

    monkeypatch.setattr(interaction_import, "IMPORT_CHUNK", 3)
    registry = PostgresImportRegistry(postgres_connection(settings))
    s3 = aws_client("s3")
    files = S3ImportFiles(s3, settings.interaction_import_bucket)
    import_id = f"iimp_{uuid.uuid4().hex}"
    where = f"manual/{import_id}"  # outside imports/, so no notification starts the worker meanwhile
    registry.create(import_id, "test", "csv", where)
    user = f"imp_{uuid.uuid4().hex[:8]}"
    body = "\n".join(f"{user},movie_{n},watch,{881250000 + n}" for n in range(1, 8))
    s3.put_object(Bucket=settings.interaction_import_bucket, Key=where, Body=body.encode())
    stream = KinesisInteractionStream(aws_client("kinesis"), settings.interaction_stream_name)
    claims = RedisEventClaims(redis_client(settings))
    from recsys.api.routes.interactions import interaction_from_row

    handed: list[tuple[str, int]] = []

    def step(continuing_from, remaining_ms):
        return run_import(
            import_id,
            continuing_from,
            registry,
            files,
            stream,
            claims,
            interaction_from_row,
            lambda: remaining_ms,
            lambda i, o: handed.append((i, o)),
        )

    steps = [step(None, 0)]  # no time left after the first chunk: it hands the rest over
    assert steps == ["processing"] and handed[0][0] == import_id
    checkpoint = handed[0][1]
    steps.append(step(checkpoint, 10**6))
    steps.append(step(checkpoint, 10**6))  # a second copy of the hand-over (SQS: at least once)
    assert steps == ["processing", "applying", None]
    found = registry.get(import_id)
    assert (found.rows_read, found.accepted, found.duplicates, found.lines_read) == (7, 7, 0, 7)


def write_dataset(folder):
    """A small file set in MovieLens-100k's atomic format (no download)."""
    folder.mkdir()
    (folder / "ml-100k.item").write_text(
        "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
        "9001\tSeed Movie A\t1995\tComedy Drama\n"
        "9002\tSeed Movie B\t1996\tThriller\n"
    )
    (folder / "ml-100k.user").write_text("user_id:token\tage:token\tgender:token\toccupation:token\n")
    (folder / "ml-100k.inter").write_text(
        "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
        "9101\t9001\t5\t881250949\n"
        "9102\t9001\t4\t881250950\n"
        "9102\t9002\t1\t881250951\n"
    )


def test_the_seed_loader_imports_movielens_files_into_every_store(cloud, runtime, tmp_path, settings):
    folder = tmp_path / "ml-100k"
    write_dataset(folder)
    context = cloud.deploy(TEST_STACK)
    with cloud.history_import(TEST_STACK, context) as history:
        seeded = seed.ingest(*seed.read_movielens(folder), history)
    assert seeded == seed.Seeded(items=2, users=2, interactions=3, duplicates=0)

    catalog = PostgresCatalog(postgres_connection(settings))

    movie = catalog.get_item("movie_9001")
    assert (movie.title, movie.category, movie.tags) == ("Seed Movie A", "Comedy", ("Comedy", "Drama"))
    assert float(movie.avg_rating) == 4.5 and movie.interaction_count == 2
    assert catalog.get_user("user_9102") is not None
    log = CassandraInteractionLog(cassandra_session(settings))
    assert [(i.item_id, i.action) for i in log.for_user("user_9102")] == [
        ("movie_9002", "dislike"),
        ("movie_9001", "watch"),
    ]
    features = RedisFeatureStore(redis_db(cloud.ports.redis, TEST_STACK.redis_db))
    ranked = dict(features.popular(100_000))
    assert ranked["movie_9001"] == 6.0 and ranked["movie_9002"] == -3.0
    assert dict(features.popular(100_000, "Comedy"))["movie_9001"] == 6.0
