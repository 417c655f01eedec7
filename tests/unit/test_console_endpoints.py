"""The endpoints the console needs beyond the rest of the API (the model, its refresh, a user's
history and preferences, experiments, ingest), in-process with typed fakes of their stores, and
the console function's own answers."""

from __future__ import annotations

import importlib.util
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import redis

from recsys.domain import Interaction, Item
from recsys.logic.experiments import routing_experiment, traffic_shares
from recsys.logic.model_info import describe, trained_at
from recsys.stores.experiments import AssignmentCounts, Experiment, ExperimentDefinitions
from recsys.stores.failure_queue import Depth, QueueDepth
from recsys.stores.feature_store import AppliedEvents
from recsys.stores.index_artifacts import PublishedModels
from recsys.stores.refresh_trigger import RefreshHold, RefreshTrigger
from recsys.stores.versioned import Version
from tests.unit.fakes import FakeCatalog, FakeInteractionLog
from tests.unit.test_api_in_process import app_of, call, envelope_of

OLD, NEW = "ease-sequential-20261130T100000Z-aaaa", "ease-sequential-20261201T090000Z-bbbb"
METADATA = {
    "model_version": NEW,
    "algorithm": "ease-sequential",
    "trained_at": "2026-12-01T09:00:00+00:00",
    "parameters": {"ease_lambda": 300.0},
    "blend": {"recent_weight": 8.0},
    "counts": {"items_with_interactions": 1682, "users": 943},
    "index": {
        "kind": "flat",
        "items": 1682,
        "dimensions": 1682,
        "nlist": None,
        "nprobe": None,
        "recall_at_50": 1.0,
        "sample_queries": 943,
    },
    "timings": {"fit_seconds": 3.2, "total_seconds": 9.8},
    "eval": None,
}


class Models:
    def __init__(self, files: dict[tuple[str, str], bytes], latest: str | None) -> None:
        self.files, self.latest = files, latest

    def latest_version(self) -> str | None:
        return self.latest

    def get(self, version: str, name: str) -> bytes:
        return self.files[(version, name)]

    def has(self, version: str, name: str) -> bool:
        return (version, name) in self.files

    def versions(self) -> list[str]:
        return sorted({version for version, _ in self.files})


class Trigger:
    def __init__(self, fails: bool = False) -> None:
        self.started: list[str] = []
        self.fails = fails

    def start(self, training: str) -> str:
        if self.fails:
            raise redis.ConnectionError("Lambda cannot be reached")  # any store failure: 503
        self.started.append(training)
        return f"inv-{len(self.started)}"


class Hold:
    def __init__(self) -> None:
        self.holder: str | None = None

    def claim(self, request_id: str) -> int | None:
        if self.holder is not None:
            return 17
        self.holder = request_id
        return None

    def release(self) -> None:
        self.holder = None


class Experiments:
    def __init__(self, *experiments: Experiment) -> None:
        self.experiments = list(experiments)

    def all(self) -> list[Experiment]:
        return self.experiments


class Counts:
    def counts(self, experiment_ids: list[str]) -> dict[str, dict[str, int]]:
        return {e: {"control": 3, "treatment": 1} for e in experiment_ids if e == "blend-test"}


class Applied:
    def events_applied(self) -> int:
        return 100_042

    def applied_per_minute(self, minutes: int, now: float) -> list[tuple[int, int]]:
        last = int(now // 60)
        return [(m, m - last + minutes) for m in range(last - minutes + 1, last + 1)]


class Queue:
    def depth(self) -> Depth:
        return Depth(waiting=2, in_flight=1)


class Preferences:
    def current(self, user_id: str) -> Version | None:
        if user_id != "u1":
            return None
        values = {"favorite_categories": ["Drama"], "excluded_items": ["movie_9"], "language": "en"}
        return Version("u1", 3, values, datetime(2026, 12, 1, tzinfo=UTC))


# the fakes are the Protocols' (mypy checks these assignments)
_models: PublishedModels = Models({}, None)
_trigger: RefreshTrigger = Trigger()
_hold: RefreshHold = Hold()
_experiments: ExperimentDefinitions = Experiments()
_counts: AssignmentCounts = Counts()
_applied: AppliedEvents = Applied()
_queue: QueueDepth = Queue()


def published() -> Models:
    files = {
        (OLD, "metadata.json"): b"{}",
        (NEW, "metadata.json"): json.dumps(METADATA).encode(),
        (NEW, "eval.json"): json.dumps({"served": {"hr@10": 0.228, "ndcg@10": 0.1254}}).encode(),
        ("spark-leftovers", "x"): b"",
    }
    return Models(files, NEW)


# -- the model ----------------------------------------------------------------------------------
def test_the_model_is_the_latest_version_with_its_metadata_eval_and_versions_newest_first():
    status, _, reply = call(app_of_model(), "GET", "/v1/model", "rk_reader")
    assert status == 200
    assert reply["model_version"] == NEW and reply["algorithm"] == "ease-sequential"
    assert reply["index"]["recall_at_50"] == 1.0 and reply["parameters"] == {"ease_lambda": 300.0}
    assert reply["eval"]["served"]["ndcg@10"] == 0.1254  # eval.json beside the version
    assert [(v["model_version"], v["current"]) for v in reply["versions"]] == [
        (NEW, True),
        (OLD, False),
        ("spark-leftovers", False),  # a name that is no version's sorts last, with no time
    ]
    assert reply["versions"][0]["trained_at"].startswith("2026-12-01T09:00:00")


def app_of_model(models: Models | None = None) -> Any:
    from recsys.api.routes import model

    return app_of(model.read_router, index_artifacts=models or published())


def test_before_the_first_refresh_the_model_is_null_and_no_version_is_listed():
    status, _, reply = call(app_of_model(Models({}, None)), "GET", "/v1/model", "rk_reader")
    assert (
        status == 200
        and reply["model_version"] is None
        and reply["versions"] == []
        and reply["index"] is None
    )


def test_the_versions_listed_are_the_newest_and_each_time_comes_from_its_name():
    assert [v for v, _ in describe(published(), 1).versions] == [NEW]
    assert trained_at(OLD) == datetime(2026, 11, 30, 10, tzinfo=UTC)
    assert trained_at("popularity-v1") is None and trained_at("a-notadate-b") is None


def refresh_app(trigger: Trigger, hold: Hold) -> Any:
    from recsys.api.routes import model

    return app_of(model.refresh_router, refresh_trigger=trigger, refresh_hold=hold)


def test_a_refresh_starts_once_and_a_second_request_meanwhile_is_409_with_retry_after():
    trigger, hold = Trigger(), Hold()
    app = refresh_app(trigger, hold)
    status, _, reply = call(app, "POST", "/v1/model/refresh", "rk_admin", {"training": "lambda"})
    assert status == 202 and reply["status"] == "started" and reply["invocation_id"] == "inv-1"
    status, headers, reply = call(app, "POST", "/v1/model/refresh", "rk_admin")
    assert status == 409 and headers["retry-after"] == "17"
    assert envelope_of(reply, headers, "CONFLICT")["details"]["retry_after_seconds"] == 17
    assert trigger.started == ["lambda"]


def test_only_an_admin_key_refreshes_and_a_refresh_that_cannot_start_holds_nothing_back():
    trigger, hold = Trigger(fails=True), Hold()
    app = refresh_app(trigger, hold)
    status, headers, reply = call(app, "POST", "/v1/model/refresh", "rk_writer")
    assert status == 403 and envelope_of(reply, headers, "FORBIDDEN")["details"] == {
        "required_scope": "admin"
    }
    status, headers, reply = call(app, "POST", "/v1/model/refresh", "rk_admin")
    assert status == 503 and envelope_of(reply, headers, "SERVICE_UNAVAILABLE")
    assert hold.holder is None  # released: the next request may start one


# -- a user's history and preferences -------------------------------------------------------------
def test_history_is_newest_first_with_each_items_title_and_category():
    from recsys.api.routes import users

    now = datetime(2026, 12, 1, 12, tzinfo=UTC)
    log = FakeInteractionLog(
        [
            Interaction("e1", "u1", "movie_1", "watch", now - timedelta(minutes=5)),
            Interaction("e2", "u1", "gone_1", "like", now - timedelta(minutes=1), session_id="s1"),
            Interaction("e3", "u2", "movie_1", "click", now),
        ]
    )
    catalog = FakeCatalog([Item(item_id="movie_1", title="Toy Story", category="Animation")])
    app = app_of(users.history_router, interaction_log=log, catalog=catalog)
    status, _, reply = call(app, "GET", "/v1/users/u1/history", "rk_reader", query={"limit": "10"})
    assert status == 200
    assert [(e["event_id"], e["title"], e["category"], e["action"]) for e in reply["events"]] == [
        ("e2", None, None, "like"),  # an item no longer in the catalog keeps its id, without a title
        ("e1", "Toy Story", "Animation", "watch"),
    ]
    assert reply["events"][0]["session_id"] == "s1"
    status, _, reply = call(app, "GET", "/v1/users/nobody/history", "rk_reader")
    assert status == 200 and reply["events"] == []


def test_preferences_read_back_as_written_and_404_for_a_user_without_any():
    from recsys.api.routes import users

    app = app_of(users.preferences_read_router, preference_store=Preferences())
    status, _, reply = call(app, "GET", "/v1/users/u1/preferences", "rk_reader")
    assert status == 200 and reply["version"] == 3 and reply["favorite_categories"] == ["Drama"]
    assert reply["excluded_items"] == ["movie_9"] and reply["language"] == "en"
    status, headers, reply = call(app, "GET", "/v1/users/u2/preferences", "rk_reader")
    assert status == 404 and envelope_of(reply, headers, "NOT_FOUND")["details"] == {"user_id": "u2"}


# -- experiments ----------------------------------------------------------------------------------
BLEND_TEST = Experiment(
    "blend-test",
    [{"name": "control", "weight": 3}, {"name": "treatment", "weight": 1, "blend": {"recent_weight": 4}}],
    True,
    datetime(2026, 12, 1, tzinfo=UTC),
)
BUTTONS = Experiment(
    "buttons",
    [{"name": "a", "weight": 1}, {"name": "b", "weight": 1}],
    True,
    datetime(2026, 11, 1, tzinfo=UTC),
)


def test_experiments_are_listed_with_their_split_assignments_and_the_one_that_routes():
    from recsys.api.routes import experiments

    app = app_of(
        experiments.list_router, experiment_store=Experiments(BLEND_TEST, BUTTONS), assignments=Counts()
    )
    status, _, reply = call(app, "GET", "/v1/experiments", "rk_reader")
    assert status == 200
    first, second = reply["experiments"]
    assert first["experiment_id"] == "blend-test" and first["routes_recommendations"] is True
    assert [(v["name"], v["share"], v["assignments"]) for v in first["variants"]] == [
        ("control", 0.75, 3),
        ("treatment", 0.25, 1),
    ]
    assert first["variants"][1]["blend"] == {"recent_weight": 4.0}
    assert second["routes_recommendations"] is False and second["variants"][0]["assignments"] == 0


def test_only_an_active_experiment_with_a_blend_routes_and_shares_sum_to_one():
    stopped = Experiment("old", BLEND_TEST.variants, False, datetime(2026, 12, 2, tzinfo=UTC))
    assert routing_experiment([stopped, BUTTONS, BLEND_TEST]) == "blend-test"
    assert routing_experiment([BUTTONS]) is None
    assert traffic_shares([{"weight": 1}, {"weight": 3}]) == [0.25, 0.75]


# -- ingest ---------------------------------------------------------------------------------------
def test_ingest_reports_events_per_minute_and_the_failure_queue_and_needs_an_admin_key():
    from recsys.api.routes import ingest

    app = app_of(ingest.router, feature_store=Applied(), failure_queue=Queue())
    status, _, reply = call(app, "GET", "/v1/ingest", "rk_admin", query={"minutes": "5"})
    assert status == 200 and reply["events_applied"] == 100_042
    assert [m["events"] for m in reply["per_minute"]] == [1, 2, 3, 4, 5]
    assert reply["events_last_minute"] == 4  # the last complete minute, not the one filling
    assert reply["failure_queue"] == {"waiting": 2, "in_flight": 1}
    assert datetime.fromisoformat(reply["per_minute"][-1]["minute"]).second == 0
    status, headers, reply = call(app, "GET", "/v1/ingest", "rk_reader")
    assert status == 403 and envelope_of(reply, headers, "FORBIDDEN")


# -- the console function -------------------------------------------------------------------------
def console_handler() -> Any:
    from localcloud.settings import ROOT

    spec = importlib.util.spec_from_file_location("console_app", ROOT / "functions/console/app.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.handler


def page_event(asset: str | None = None, etag: str | None = None) -> dict[str, Any]:
    return {
        "path": "/console" if asset is None else f"/console/{asset}",
        "pathParameters": None if asset is None else {"asset": asset},
        "headers": {"If-None-Match": etag} if etag else {},
        "requestContext": {"requestId": "req-1"},
    }


def test_the_console_serves_its_page_script_and_styles_under_a_strict_policy_and_nothing_else():
    from tests.unit.test_api_in_process import Context

    serve = console_handler()

    def handler(event: dict[str, Any], _: None) -> dict[str, Any]:
        return serve(event, Context())  # type: ignore[no-any-return]  # as Lambda calls it, with a context

    page = handler(page_event(), None)
    assert page["statusCode"] == 200 and page["headers"]["Content-Type"].startswith("text/html")
    assert 'src="console/console.js"' in page["body"] and "Bearer" not in page["body"]
    policy = page["headers"]["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy and "connect-src 'self'" in policy
    script = handler(page_event("console.js"), None)
    assert script["headers"]["Content-Type"].startswith("text/javascript")
    assert "sessionStorage" in script["body"] and "localStorage" not in script["body"].replace(
        "never in the page, a URL or localStorage", ""
    )
    again = handler(page_event("console.js", script["headers"]["ETag"]), None)
    assert again["statusCode"] == 304 and again["body"] == ""
    for missing in ("app.py", "index.html", "..%2Fapp.py"):
        reply = handler(page_event(missing), None)
        assert reply["statusCode"] == 404
        assert json.loads(reply["body"])["error"]["code"] == "NOT_FOUND"
