"""The Python client (clients/python) against an in-process HTTP server: retries and their
backoff, Retry-After, the keys that make retries safe, errors, keep-alive and reconnects, and the
interaction batch helper."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest

from recsys_client import NO_RETRY, RecsysClient, RecsysError, RetryPolicy
from recsys_client.retry import parse_retry_after
from tests.unit.fake_http import Reply, Seen, envelope, fake_api

ACCEPTED = Reply(202, {"status": "accepted", "event_id": "e", "duplicate": False, "request_id": "r"})
FEEDBACK = Reply(
    201,
    {
        "status": "recorded",
        "action_taken": "preference_recorded",
        "feedback_id": str(uuid.uuid4()),
        "user_id": "u1",
        "item_id": "i1",
        "feedback_type": "like",
        "reason": None,
        "version": 1,
        "request_id": "r",
    },
)
ITEM = Reply(
    200,
    {
        "item_id": "i1",
        "title": "One",
        "description": None,
        "category": "Drama",
        "subcategory": None,
        "tags": [],
        "content_features": {},
        "thumbnail_url": None,
        "avg_rating": None,
        "interaction_count": 0,
        "is_active": True,
        "request_id": "r",
    },
)


class FakeClock:
    """Time that passes only when the client sleeps."""

    def __init__(self) -> None:
        self.now, self.slept = 0.0, list[float]()

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def policy(self, **overrides) -> RetryPolicy:
        return RetryPolicy(sleep=self.sleep, clock=lambda: self.now, random=lambda: 0.5, **overrides)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def client_of(api, clock: FakeClock, **options) -> RecsysClient:
    retry = options.pop("retry", None) or clock.policy()
    return RecsysClient(api.url, "rk_test", retry=retry, **options)


# -- retries ---------------------------------------------------------------------------------
def test_a_503_is_retried_with_the_same_event_id_until_accepted(clock):
    with fake_api(
        [envelope(503, "SERVICE_UNAVAILABLE"), envelope(503, "SERVICE_UNAVAILABLE"), ACCEPTED]
    ) as api:
        accepted = client_of(api, clock).record_interaction("u1", "i1", "click")
    ids = [seen.headers["x-event-id"] for seen in api.requests]
    assert accepted.status == "accepted" and len(ids) == 3 and len(set(ids)) == 1
    assert uuid.UUID(ids[0]).version == 4
    assert [seen.json() for seen in api.requests] == [
        {"user_id": "u1", "item_id": "i1", "action": "click"}
    ] * 3
    assert clock.slept == [0.2 * 0.75, 0.4 * 0.75]  # half the step plus half of the other half (random 0.5)


def test_a_409_conflict_waits_its_retry_after_and_keeps_the_idempotency_key(clock):
    busy = envelope(409, "CONFLICT", headers={"Retry-After": "1"})
    with fake_api([busy, busy, FEEDBACK]) as api:
        created = client_of(api, clock).create_feedback("u1", "i1", "like")
    keys = {seen.headers["idempotency-key"] for seen in api.requests}
    assert created.version == 1 and len(api.requests) == 3 and len(keys) == 1
    assert all(1.0 <= waited <= 1.2 for waited in clock.slept) and len(clock.slept) == 2


def test_a_429_waits_at_least_its_retry_after(clock):
    with fake_api([envelope(429, "RATE_LIMITED", headers={"Retry-After": "3"}), ITEM]) as api:
        item = client_of(api, clock).get_item("i1")
    assert item.title == "One" and len(clock.slept) == 1 and 3.0 <= clock.slept[0] <= 3.2


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, "INVALID_INPUT"),
        (401, "UNAUTHORIZED"),
        (403, "FORBIDDEN"),
        (404, "NOT_FOUND"),
        (409, "IDEMPOTENCY_KEY_REUSED"),
        (409, "VERSION_CONFLICT"),
        (413, "PAYLOAD_TOO_LARGE"),
        (500, "INTERNAL_ERROR"),
    ],
)
def test_other_errors_are_raised_at_once_with_the_envelope(clock, status, code):
    with (
        fake_api([envelope(status, code, "it failed", field="user_id", reason="why")]) as api,
        pytest.raises(RecsysError) as raised,
    ):
        client_of(api, clock).create_feedback("u1", "i1", "like", idempotency_key="k-1")
    error = raised.value
    assert len(api.requests) == 1 and clock.slept == []
    assert (error.status, error.code, error.message) == (status, code, "it failed")
    assert error.details == {"field": "user_id", "reason": "why"} and error.request_id == f"req-{code}"
    assert error.attempts == 1 and error.method == "POST" and error.path == "/v1/feedback"
    assert f"HTTP {status} {code}: it failed" in str(error)


def test_attempts_are_bounded_and_the_last_error_is_raised(clock):
    with (
        fake_api([envelope(503, "SERVICE_UNAVAILABLE", headers={"Retry-After": "1"})]) as api,
        pytest.raises(RecsysError) as raised,
    ):
        client_of(api, clock, retry=clock.policy(max_attempts=4)).get_item("i1")
    assert len(api.requests) == 4 and len(clock.slept) == 3
    assert (raised.value.status, raised.value.code, raised.value.attempts) == (503, "SERVICE_UNAVAILABLE", 4)
    assert raised.value.retry_after == 1.0


def test_total_time_is_bounded_a_wait_past_it_is_not_started(clock):
    slow = envelope(429, "RATE_LIMITED", headers={"Retry-After": "20"})
    with fake_api([slow]) as api, pytest.raises(RecsysError) as raised:
        client_of(api, clock, retry=clock.policy(max_elapsed=30)).get_item("i1")
    assert len(api.requests) == 2 and clock.now < 30  # a second 20 s wait would end past 30 s
    assert raised.value.retry_after == 20.0 and raised.value.code == "RATE_LIMITED"


def test_backoff_doubles_up_to_its_cap_with_jitter():
    low = RetryPolicy(random=lambda: 0.0, base_delay=0.5, max_delay=3)
    high = RetryPolicy(random=lambda: 1.0, base_delay=0.5, max_delay=3)
    assert [low.delay(n, None) for n in range(1, 6)] == [0.25, 0.5, 1.0, 1.5, 1.5]
    assert [high.delay(n, None) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert high.delay(1, 5.0) == 5.5 and low.delay(1, 5.0) == 5.0  # Retry-After, plus jitter
    assert high.delay(4, 0.1) == 3.0  # a shorter Retry-After does not cut the backoff


def test_retry_after_in_seconds_or_as_an_http_date():
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_retry_after("7") == 7.0 and parse_retry_after(None) is None
    assert parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now.timestamp()) == 30
    assert parse_retry_after(format_datetime(now - timedelta(seconds=30), usegmt=True), now.timestamp()) == 0
    assert parse_retry_after("soon") is None


# -- keys that make retries safe ---------------------------------------------------------------
def test_each_logical_call_gets_its_own_key_and_a_callers_key_is_kept(clock):
    with fake_api([FEEDBACK]) as api:
        client = client_of(api, clock)
        client.create_feedback("u1", "i1", "like")
        client.create_feedback("u1", "i1", "like")
        client.create_feedback("u1", "i1", "like", idempotency_key="mine-1")
        client.update_feedback(uuid.uuid4(), "dislike", version=1)
        with pytest.raises(RecsysError):  # the answer is a feedback's: only the request matters here
            client.put_preferences("u1", favorite_categories=["Drama"], idempotency_key="prefs-1")
    keys = [seen.headers.get("idempotency-key") for seen in api.requests]
    assert keys[0] != keys[1] and keys[2] == "mine-1" and keys[4] == "prefs-1"
    assert all(uuid.UUID(key) for key in (keys[0], keys[1], keys[3]))
    assert "x-idempotency-key" not in api.requests[0].headers
    with fake_api([ACCEPTED]) as api:
        client = client_of(api, clock)
        client.record_interaction("u1", "i1", "click", event_id="evt-1", session_id="s-1")
        client.record_interaction("u1", "i1", "click")
    assert (
        api.requests[0].headers["x-event-id"] == "evt-1" and api.requests[0].headers["x-session-id"] == "s-1"
    )
    assert uuid.UUID(api.requests[1].headers["x-event-id"])


def test_reads_and_unkeyed_writes_carry_no_key(clock):
    with fake_api([ITEM]) as api:
        client = client_of(api, clock)
        client.get_item("i1")
        client.put_item("i1", "One", category="Drama")
    assert all(
        "idempotency-key" not in seen.headers and "x-event-id" not in seen.headers for seen in api.requests
    )
    assert api.requests[1].json() == {"title": "One", "category": "Drama"}  # only what was given


# -- errors without an envelope ----------------------------------------------------------------
def test_an_answer_without_the_envelope_is_unexpected_response(clock):
    with (
        fake_api([Reply(502, b"<html>Bad Gateway</html>", {"Content-Type": "text/html"})]) as api,
        pytest.raises(RecsysError) as raised,
    ):
        client_of(api, clock).get_item("i1")
    assert (raised.value.status, raised.value.code) == (502, "UNEXPECTED_RESPONSE")
    assert "Bad Gateway" in raised.value.message and len(api.requests) == 1


def test_a_success_that_is_not_the_documented_body_is_unexpected_response(clock):
    with (
        fake_api([Reply(200, {"item_id": "i1"}, {"X-Request-Id": "r-1"})]) as api,
        pytest.raises(RecsysError) as raised,
    ):
        client_of(api, clock).get_item("i1")
    assert (raised.value.code, raised.value.status, raised.value.request_id) == (
        "UNEXPECTED_RESPONSE",
        200,
        "r-1",
    )


def test_a_body_that_cannot_be_valid_is_refused_before_sending(clock):
    with fake_api([ACCEPTED]) as api, pytest.raises(RecsysError) as raised:
        client_of(api, clock).record_interaction("u1", "i1", "stare")  # type: ignore[arg-type]
    assert api.requests == [] and raised.value.status is None
    assert raised.value.code == "INVALID_INPUT" and raised.value.details["field"] == "action"


def test_no_server_is_a_connection_error_after_the_retries(clock):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connections are refused
        client = RecsysClient(f"http://127.0.0.1:{port}", "k", retry=clock.policy(max_attempts=3))
        with pytest.raises(RecsysError) as raised:
            client.get_item("i1")
    assert (raised.value.code, raised.value.status, raised.value.attempts) == ("CONNECTION_ERROR", None, 3)
    assert len(clock.slept) == 2


def test_no_answer_in_time_is_a_timeout(clock):
    with fake_api([Reply(200, {}, delay=1.0)]) as api:
        client = client_of(api, clock, timeout=0.2, retry=clock.policy(max_attempts=2))
        with pytest.raises(RecsysError) as raised:
            client.get_item("i1")
    assert (raised.value.code, raised.value.attempts) == ("TIMEOUT", 2)


# -- the connection ----------------------------------------------------------------------------
def test_one_connection_is_kept_alive_across_calls(clock):
    with fake_api([ITEM]) as api:
        client = client_of(api, clock)
        for _ in range(3):
            client.get_item("i1")
    assert len({seen.client_port for seen in api.requests}) == 1


def test_a_connection_the_server_closed_is_reopened_without_an_error_or_an_attempt(clock):
    closing = Reply(ITEM.status, ITEM.body, close=True)  # as the gateway's idle timeout does
    with fake_api([closing, closing, ITEM]) as api:
        client = client_of(api, clock)
        client.get_item("i1")
        raw = client.send("GET", "/v1/items/i1")
        client.get_item("i1")
    assert len(api.requests) == 3 and len({seen.client_port for seen in api.requests}) == 3
    assert raw.attempts == 1 and clock.slept == []


def test_without_keep_alive_every_call_has_its_own_connection(clock):
    with fake_api([ITEM]) as api:
        client = client_of(api, clock, keep_alive=False)
        for _ in range(3):
            client.get_item("i1")
    assert len({seen.client_port for seen in api.requests}) == 3
    assert all(seen.headers["connection"] == "close" for seen in api.requests)


def test_send_returns_status_headers_body_and_timing_as_they_came(clock):
    limited = envelope(429, "RATE_LIMITED", headers={"Retry-After": "1", "Server-Timing": "handler;dur=1.5"})
    with fake_api([limited]) as api:
        raw = client_of(api, clock).send("GET", "/v1/items/i1", retry=NO_RETRY)
    assert raw.status == 429 and raw.header("retry-after") == "1" and raw.request_id == "req-RATE_LIMITED"
    assert raw.json()["error"]["code"] == "RATE_LIMITED" and raw.elapsed > 0 and raw.attempts == 1
    assert raw.header("SERVER-TIMING") == "handler;dur=1.5"


def test_base_url_prefix_key_query_and_path_encoding(clock):
    answer = Reply(
        200,
        {
            "recommendations": [],
            "request_id": "r",
            "model_version": "v",
            "generated_at": "2026-01-01T00:00:00Z",
        },
    )
    with fake_api([answer]) as api:
        client = RecsysClient(f"{api.url}/Prod/", "rk_secret", retry=clock.policy())
        client.get_recommendations("u1", limit=5, exclude=["a", "b"], device_type="mobile")
        client.send("GET", "/v1/items/a%2Fb")
    seen = api.requests[0]
    assert seen.path == "/Prod/v1/recommendations" and seen.headers["authorization"] == "Bearer rk_secret"
    assert seen.query == {"user_id": ["u1"], "limit": ["5"], "exclude": ["a", "b"]}
    assert seen.headers["x-device-type"] == "mobile" and seen.headers["user-agent"].startswith(
        "recsys-client/"
    )
    assert api.requests[1].path == "/Prod/v1/items/a%2Fb"


def test_path_parameters_are_quoted(clock):
    with fake_api([ITEM]) as api:
        client_of(api, clock).get_item("a/b c")
    assert api.requests[0].path == "/v1/items/a%2Fb%20c"


# -- the batch helper --------------------------------------------------------------------------
def batch_answer(status_of: Callable[[dict[str, Any], Seen], str] = lambda event, seen: "accepted"):
    """The batch endpoint: a result per event, its status decided by `status_of`."""

    def answer(seen: Seen) -> Reply:
        if seen.path != "/v1/interactions/batch":
            return envelope(404, "NOT_FOUND")
        results = []
        for index, event in enumerate(seen.json()["events"]):
            status = status_of(event, seen)
            error = (
                None
                if status in ("accepted", "duplicate")
                else {"code": "X", "message": status, "details": {}}
            )
            results.append(
                {"index": index, "event_id": event.get("event_id"), "status": status, "error": error}
            )
        counts = {
            s: sum(r["status"] == s for r in results) for s in ("accepted", "duplicate", "rejected", "failed")
        }
        return Reply(
            202,
            {
                "accepted": counts["accepted"],
                "duplicates": counts["duplicate"],
                "rejected": counts["rejected"],
                "failed": counts["failed"],
                "results": results,
                "request_id": "r",
            },
        )

    return answer


def events(n: int, with_ids: bool = False):
    for i in range(n):
        event = {"user_id": f"u{i}", "item_id": f"i{i}", "action": "click"}
        yield {**event, "event_id": f"mine-{i}"} if with_ids else event


def test_a_batch_is_sent_in_chunks_of_at_most_500_with_an_event_id_on_each(clock):
    with fake_api(batch_answer()) as api:
        summary = client_of(api, clock).record_interactions(events(1201))
    sizes = [len(seen.json()["events"]) for seen in api.requests]
    assert sizes == [500, 500, 201] and summary.accepted == 1201 and summary.requests == 3
    ids = [event["event_id"] for seen in api.requests for event in seen.json()["events"]]
    assert len(set(ids)) == 1201 and all(uuid.UUID(event_id) for event_id in ids)


def test_a_batch_respects_the_byte_limit(clock):
    with fake_api(batch_answer()) as api:
        summary = client_of(api, clock).record_interactions(events(300, with_ids=True), max_bytes=4096)
    assert summary.accepted == 300 and len(api.requests) > 1
    assert all(len(seen.body) <= 4096 for seen in api.requests)
    assert [e["event_id"] for seen in api.requests for e in seen.json()["events"]] == [
        f"mine-{i}" for i in range(300)
    ]


def test_only_failed_events_are_sent_again_with_their_ids(clock):
    tries: dict[str, int] = {}

    def status_of(event, seen):
        if event["user_id"] == "bad":
            return "rejected"
        tries[event["event_id"]] = tries.get(event["event_id"], 0) + 1
        if event["item_id"] in ("i1", "i3") and tries[event["event_id"]] == 1:
            return "failed"
        if event["item_id"] == "i4":
            return "failed"  # never published
        return "duplicate" if event["item_id"] == "i2" else "accepted"

    sent = [*events(5), {"user_id": "bad", "item_id": "i9", "action": "click", "event_id": "bad-1"}]
    with fake_api(batch_answer(status_of)) as api:
        summary = client_of(api, clock).record_interactions(sent, resends=2)
    first, *again = [seen.json()["events"] for seen in api.requests]
    assert len(first) == 6 and [[e["item_id"] for e in body] for body in again] == [
        ["i1", "i3", "i4"],
        ["i4"],
    ]
    assert again[0][0]["event_id"] == first[1]["event_id"]  # the same id on the resend
    assert (summary.accepted, summary.duplicates, summary.requests) == (3, 1, 3)
    assert [(o.index, o.event_id, o.code) for o in summary.rejected] == [(5, "bad-1", "X")]
    assert [o.index for o in summary.failed] == [4] and summary.failed[0].message == "failed"
    assert summary.total == 6 and len(clock.slept) == 2


def test_a_batch_request_retried_on_503_repeats_the_same_ids(clock):
    calls = []

    def answer(seen):
        calls.append(seen)
        return envelope(503, "SERVICE_UNAVAILABLE") if len(calls) == 1 else batch_answer()(seen)

    with fake_api(answer) as api:
        summary = client_of(api, clock).record_interactions(events(3))
    assert summary.accepted == 3 and len(api.requests) == 2 and api.requests[0].body == api.requests[1].body


def test_an_event_larger_than_any_body_is_rejected_without_sending_it(clock):
    huge = {"user_id": "u", "item_id": "i", "action": "click", "context": {"note": "x" * 5000}}
    with fake_api(batch_answer()) as api:
        summary = client_of(api, clock).record_interactions([*events(2), huge], max_bytes=4096)
    assert summary.accepted == 2 and [(o.index, o.code) for o in summary.rejected] == [
        (2, "PAYLOAD_TOO_LARGE")
    ]
    assert len(api.requests) == 1


def test_a_batch_refused_whole_raises(clock):
    with (
        fake_api([envelope(403, "FORBIDDEN", required_scope="write")]) as api,
        pytest.raises(RecsysError) as raised,
    ):
        client_of(api, clock).record_interactions(events(3))
    assert raised.value.code == "FORBIDDEN" and raised.value.details == {"required_scope": "write"}
    assert len(api.requests) == 1


def test_typed_events_and_timestamps_are_sent_as_json(clock):
    from recsys_client.models import InteractionEvent

    when = datetime(2024, 1, 20, 15, 30, tzinfo=UTC)
    typed = InteractionEvent(
        user_id="u1", item_id="i1", action="watch", timestamp=when, context={"position": 3}
    )
    with fake_api(batch_answer()) as api:
        client_of(api, clock).record_interactions(
            [typed, {"user_id": "u2", "item_id": "i2", "action": "like", "timestamp": when}]
        )
    first, second = api.requests[0].json()["events"]
    assert first["timestamp"] == "2024-01-20T15:30:00Z" and first["context"] == {"position": 3}
    assert second["timestamp"] == "2024-01-20T15:30:00+00:00" and set(first) == {
        "user_id",
        "item_id",
        "action",
        "timestamp",
        "context",
        "event_id",
    }


# -- uploads of history files ------------------------------------------------------------------
def test_a_history_file_upload_is_retried_on_503_and_s3_errors_are_raised(clock):
    with fake_api([Reply(503, b"<Error><Code>SlowDown</Code></Error>"), Reply(200, b"")]) as storage:
        client = RecsysClient("http://127.0.0.1:1", "k", retry=clock.policy())
        client.upload_interaction_file(f"{storage.url}/bucket/key.csv?X-Amz-Signature=abc", b"a,b,click,1\n")
    assert [(s.method, s.path, s.query, s.body) for s in storage.requests] == [
        ("PUT", "/bucket/key.csv", {"X-Amz-Signature": ["abc"]}, b"a,b,click,1\n")
    ] * 2
    assert "authorization" not in storage.requests[0].headers
    denied = b"<Error><Code>AccessDenied</Code><Message>Expired</Message><RequestId>r9</RequestId></Error>"
    with fake_api([Reply(403, denied)]) as storage, pytest.raises(RecsysError) as raised:
        client.upload_interaction_file(f"{storage.url}/bucket/key.csv", b"x")
    assert (raised.value.code, raised.value.message, raised.value.status) == ("AccessDenied", "Expired", 403)
    assert raised.value.request_id == "r9"


def _import_status(status: str, rows_read: int) -> Reply:
    return Reply(
        200,
        {
            "import_id": "iimp_1",
            "status": status,
            "format": "csv",
            "rows_read": rows_read,
            "accepted": rows_read,
            "duplicates": 0,
            "rejected": 0,
            "errors": [],
            "created_at": "2026-12-01T10:00:00Z",
            "read_at": None,
            "completed_at": "2026-12-01T10:00:09Z" if status == "completed" else None,
            "request_id": "r1",
        },
    )


def test_waiting_for_an_import_shows_each_status_read_to_a_callback(clock):
    replies = [
        _import_status("processing", 0),
        _import_status("applying", 5000),
        _import_status("completed", 7000),
    ]
    seen: list[tuple[str, int]] = []
    with fake_api(replies) as api:
        final = client_of(api, clock).wait_for_interaction_import(
            "iimp_1", interval=0.001, on_status=lambda status: seen.append((status.status, status.rows_read))
        )
    assert final.status == "completed" and final.rows_read == 7000
    assert seen == [("processing", 0), ("applying", 5000), ("completed", 7000)]
    assert [s.path for s in api.requests] == ["/v1/interactions/imports/iimp_1"] * 3


def test_the_client_is_a_context_manager_and_reads_its_settings_from_the_environment(monkeypatch, clock):
    with fake_api([ITEM]) as api:
        monkeypatch.setenv("RECSYS_API_URL", api.url)
        monkeypatch.setenv("RECSYS_API_KEY", "rk_env")
        with RecsysClient.from_env(retry=clock.policy()) as client:
            client.get_item("i1")
    assert api.requests[0].headers["authorization"] == "Bearer rk_env"
