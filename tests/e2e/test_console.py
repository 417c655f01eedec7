"""The console end to end: the endpoints it needs, through the gateway into their functions on the
test stack, and the page itself driven in a real headless Chromium (Debian's /usr/bin/chromium, by
playwright-core: tests/browser/console.test.mjs), against a small world trained by the refresh
function. The browser tests skip only where Chromium is not installed, and never in CI (.ci/run
installs it)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis

from localcloud.settings import ROOT, TEST_STACK
from tests.e2e.conftest import Runtime, wait_for
from tests.e2e.test_api import Api
from tests.e2e.test_engine import taste_catalog

BROWSER_DIR = ROOT / "tests" / "browser"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
USERS_PER_TASTE = 8


@pytest.fixture(scope="module")
def world(cloud, function_env, tmp_path_factory):
    """Two tastes, each a chain of items its users watch in order (through the batch endpoint),
    trained by the refresh function and served."""
    runtime = Runtime(cloud, tmp_path_factory.mktemp("console"))
    api = Api(runtime, cloud)
    tag = uuid.uuid4().hex[:6]
    items = taste_catalog(api, tag)
    watched = [
        (f"{taste.lower()}_fan_{tag}_{u}", item_id)
        for taste, chain in items.items()
        for u in range(USERS_PER_TASTE)
        for item_id in chain[u % 3 : u % 3 + 5]
    ]
    start = datetime.now(UTC) - timedelta(seconds=len(watched) + 60)
    events = [
        {
            "event_id": f"console-{tag}-{n}",
            "user_id": user,
            "item_id": item_id,
            "action": "watch",
            "timestamp": (start + timedelta(seconds=n)).isoformat(),
        }
        for n, (user, item_id) in enumerate(watched)
    ]
    status, _, body = api.call("POST", "/v1/interactions/batch", api.writer, {"events": events})
    assert status == 202 and body["accepted"] == len(events), body
    last = f"romance_fan_{tag}_{USERS_PER_TASTE - 1}"
    assert wait_for(lambda: len(history(api, last)) == 5, 60), "the consumers did not store the events"
    error, payload = runtime.invoke("IndexRefreshFunction", {})
    assert error is None, payload
    version = payload["model_version"]
    assert wait_for(lambda: recommendations(api, f"scifi_fan_{tag}_0")["model_version"] == version, 20)
    yield api, tag, items, version, len(events)
    runtime.stop()


def history(api: Api, user: str) -> list[dict]:
    status, _, body = api.call("GET", f"/v1/users/{user}/history", api.reader)
    assert status == 200, body
    return body["events"]


def recommendations(api: Api, user: str) -> dict:
    status, _, body = api.call("GET", f"/v1/recommendations?user_id={user}&limit=10", api.reader)
    assert status == 200, body
    return body


def model(api: Api) -> dict:
    status, _, body = api.call("GET", "/v1/model?versions=50", api.reader)
    assert status == 200, body
    return body


def release_refresh_hold(api: Api) -> None:
    """Another refresh may start now (the endpoint holds a second one off for 30 s)."""
    redis.Redis.from_url(f"redis://127.0.0.1:{api.cloud.ports.redis}/{TEST_STACK.redis_db}").delete(
        "model_refresh:requested"
    )


# -- the page, without a browser ----------------------------------------------------------------
def test_the_console_is_served_without_a_key_under_a_strict_policy(world):
    api = world[0]
    status, headers, page = api.runtime.request("GET", "/console")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert b'src="console/console.js"' in page and b"Bearer rk_" not in page
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    for asset, kind in (("console.js", "text/javascript"), ("console.css", "text/css")):
        status, headers, _ = api.runtime.request("GET", f"/console/{asset}")
        assert status == 200 and headers["Content-Type"].startswith(kind)
        status, _, _ = api.runtime.request(
            "GET", f"/console/{asset}", headers={"If-None-Match": headers["ETag"]}
        )
        assert status == 304
    status, _, body = api.runtime.request("GET", "/console/secrets.txt")
    assert status == 404 and json.loads(body)["error"]["code"] == "NOT_FOUND"


# -- the endpoints it needs -----------------------------------------------------------------------
def test_history_lists_a_users_events_newest_first_with_titles_and_categories(world):
    api, tag, items, _, _ = world
    user = f"scifi_fan_{tag}_1"
    events = history(api, user)
    assert [e["item_id"] for e in events] == list(reversed(items["SciFi"][1:6]))  # sent in chain order
    assert all(e["action"] == "watch" and e["category"] == "SciFi" for e in events)
    assert events[0]["title"] == f"SciFi 5 {tag}"
    assert history(api, f"nobody_{tag}") == []
    status, _, body = api.call("GET", f"/v1/users/{user}/history?limit=0", api.reader)
    assert status == 400 and body["error"]["details"]["field"] == "limit"


def test_preferences_read_back_as_last_written(world):
    api, tag, _, _, _ = world
    user = f"romance_fan_{tag}_1"
    status, _, body = api.call("GET", f"/v1/users/{user}/preferences", api.reader)
    assert status == 404 and body["error"]["code"] == "NOT_FOUND"
    written = {"favorite_categories": ["Romance"], "excluded_items": [f"scifi_{tag}_0"], "language": "fr"}
    assert api.call("PUT", f"/v1/users/{user}/preferences", api.writer, written)[0] == 200
    status, _, body = api.call("GET", f"/v1/users/{user}/preferences", api.reader)
    assert status == 200 and body["version"] == 1
    assert {k: body[k] for k in written} == written


def test_the_model_is_the_published_version_with_its_metadata_and_the_versions_in_s3(world):
    api, _, _, version, _ = world
    body = model(api)
    assert body["model_version"] == version and body["algorithm"] == "ease-sequential"
    assert body["index"]["recall_at_50"] == 1.0 and body["counts"]["items_with_interactions"] >= 14
    assert body["parameters"]["ease_lambda"] > 0 and "total_seconds_before_publish" in body["timings"]
    assert body["versions"][0] == {
        "model_version": version,
        "trained_at": body["versions"][0]["trained_at"],
        "current": True,
    }
    assert body["eval"] is None  # `make eval` publishes figures for its own stack's versions


def test_a_refresh_started_through_the_api_publishes_a_new_version(world):
    api, tag, _, version, _ = world
    release_refresh_hold(api)
    status, _, body = api.call("POST", "/v1/model/refresh", api.writer)
    assert status == 403 and body["error"]["details"] == {"required_scope": "admin"}
    status, _, body = api.call("POST", "/v1/model/refresh", api.admin, {"training": "lambda"})
    assert status == 202 and body["status"] == "started" and body["invocation_id"], body
    status, headers, body = api.call("POST", "/v1/model/refresh", api.admin)
    assert status == 409 and body["error"]["code"] == "CONFLICT" and int(headers["Retry-After"]) >= 1
    fresh = wait_for(lambda: (m := model(api))["model_version"] != version and m["model_version"], 120)
    assert fresh, "no new version was published"
    listed = [v["model_version"] for v in model(api)["versions"]]
    assert listed.index(fresh) < listed.index(version)  # newest first
    assert wait_for(lambda: recommendations(api, f"scifi_fan_{tag}_0")["model_version"] == fresh, 20)


def test_experiments_are_listed_with_their_split_and_assignments(world):
    api, tag, _, _, _ = world
    experiment = f"console-{tag}"
    variants = [{"name": "control", "weight": 3}, {"name": "treatment", "weight": 1}]
    assert api.call("PUT", f"/v1/experiments/{experiment}", api.admin, {"variants": variants})[0] == 200
    for n in range(6):
        path = f"/v1/experiments/{experiment}/assignments"
        assert api.call("POST", path, api.reader, {"user_id": f"someone_{tag}_{n}"})[0] == 200
    status, _, body = api.call("GET", "/v1/experiments", api.reader)
    assert status == 200
    found = next(e for e in body["experiments"] if e["experiment_id"] == experiment)
    assert found["is_active"] and not found["routes_recommendations"]  # no blend: it routes nothing
    assert [(v["name"], v["share"]) for v in found["variants"]] == [("control", 0.75), ("treatment", 0.25)]
    assert sum(v["assignments"] for v in found["variants"]) == 6


def test_ingest_counts_the_events_applied_per_minute_and_the_failure_queue(world):
    api, _, _, _, sent = world
    status, _, body = api.call("GET", "/v1/ingest", api.reader)
    assert status == 403 and body["error"]["details"] == {"required_scope": "admin"}
    status, _, body = api.call("GET", "/v1/ingest?minutes=10", api.admin)
    assert status == 200 and len(body["per_minute"]) == 10
    assert body["events_applied"] >= sent
    assert sum(m["events"] for m in body["per_minute"]) >= sent  # all applied within these minutes
    assert body["failure_queue"]["waiting"] >= 0 and body["failure_queue"]["in_flight"] >= 0


# -- in the browser -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def browser() -> tuple[str, Path]:
    """node and the test script, once Chromium and playwright-core are there."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing in CI: .ci/run installs Debian's chromium package")
        pytest.skip(
            f"no Chromium at {CHROMIUM}: apt-get install chromium (or set CHROMIUM) to run the browser tests"
        )
    node, npm = shutil.which("node"), shutil.which("npm")
    assert node and npm, "node and npm are needed to drive Chromium (tests/browser)"
    if not (BROWSER_DIR / "node_modules" / "playwright-core").exists():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=BROWSER_DIR, check=True, timeout=300)
    return node, BROWSER_DIR / "console.test.mjs"


def in_browser(
    browser: tuple[str, Path], api: Api, key: str, scenario: str, timeout: float = 120, **options
) -> dict:
    node, script = browser
    base = f"http://127.0.0.1:{api.runtime.api_port}"
    done = subprocess.run(
        [node, str(script), scenario, base, key, json.dumps(options)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "CHROMIUM": CHROMIUM},
    )
    lines = done.stdout.strip().splitlines()
    result = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else {}
    assert done.returncode == 0 and result.get("ok"), (
        f"{scenario}: {done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    )
    return result


def test_in_the_browser_a_pasted_key_loads_a_users_recommendations_with_their_factors(world, browser):
    api, tag, items, _, _ = world
    user = f"scifi_fan_{tag}_2"
    seen = in_browser(browser, api, api.writer, "recommendations", user=user)
    served = [r["item_id"] for r in recommendations(api, user)["recommendations"]]
    # what the API answers (its low tail, items of near-equal scores, may trade places)
    assert seen["items"][:3] == served[:3] and seen["items"][0] in items["SciFi"]
    assert len(set(seen["items"]) & set(served)) >= len(served) - 2
    assert all(n >= 1 for n in seen["bars"]) and all(w.endswith("%") for w in seen["widths"])
    assert seen["history"] == [e["item_id"] for e in history(api, user)]


def test_in_the_browser_not_interested_takes_the_item_out_of_the_list(world, browser):
    api, tag, _, _, _ = world
    user = f"romance_fan_{tag}_3"
    seen = in_browser(browser, api, api.writer, "not-interested", user=user)
    assert seen["target"] == seen["before"][0] and seen["target"] not in seen["after"]
    assert seen["target"] not in [r["item_id"] for r in recommendations(api, user)["recommendations"]]
    assert 0 < seen["effect_ms"] < 15000


def test_in_the_browser_an_action_changes_the_list_and_the_time_it_took_is_shown(world, browser):
    api, tag, _, _, _ = world
    user = f"scifi_fan_{tag}_4"
    sent = time.monotonic()
    seen = in_browser(browser, api, api.writer, "action", user=user, action="watch")
    assert seen["target"] not in seen["after"]  # watched: the user has consumed it
    assert "changed" in seen["effect"] and seen["effect_ms"] < (time.monotonic() - sent) * 1000
    assert wait_for(lambda: history(api, user)[0]["item_id"] == seen["target"], 10)  # logged, newest


def test_in_the_browser_the_model_panel_shows_the_current_version_and_refreshes_it(world, browser):
    api = world[0]
    current = model(api)["model_version"]
    seen = in_browser(browser, api, api.reader, "model", version=current)
    assert current in seen["shown"] and seen["versions"][0] == current
    assert {"algorithm", "index recall@50", "offline evaluation"} <= set(seen["facts"])
    release_refresh_hold(api)
    seen = in_browser(browser, api, api.admin, "model", timeout=300, version=current, refresh=True)
    assert seen["published"] != current and seen["published"] == model(api)["model_version"]
    assert seen["shown_after"] == seen["published"]
