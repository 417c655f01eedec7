"""The request path's one read of what a user told the service: live not_interested feedback and
the newest version of their preferences, from PostgreSQL."""

import uuid

import pytest

from recsys.connections import postgres_connection
from recsys.stores.feedback import PostgresFeedbackStore
from recsys.stores.preferences import PostgresPreferenceStore
from recsys.stores.user_signals import PostgresUserSignals


@pytest.fixture
def stores(settings):
    conn = postgres_connection(settings)
    return PostgresFeedbackStore(conn), PostgresPreferenceStore(conn), PostgresUserSignals(conn), conn


def _item(conn, tag: str, n: int) -> str:
    item_id = f"sig_{tag}_{n}"
    conn.execute(
        "INSERT INTO items (item_id, title) VALUES (%s, %s) ON CONFLICT DO NOTHING", (item_id, item_id)
    )
    return item_id


def test_a_user_nobody_knows_has_no_signals(stores):
    _, _, signals, _ = stores
    found = signals.for_user(f"nobody_{uuid.uuid4().hex[:8]}")
    assert found.excluded == frozenset() and found.favourite_categories == ()


def test_live_not_interested_and_the_newest_preferences_are_read_together(stores):
    feedback, preferences, signals, conn = stores
    tag = uuid.uuid4().hex[:8]
    user = f"sig_{tag}"
    a, b, c, d = (_item(conn, tag, n) for n in range(4))
    conn.execute("INSERT INTO users (user_id) VALUES (%s)", (user,))
    feedback.create(user, a, "not_interested", None, None)
    dropped = feedback.create(user, b, "not_interested", None, None)
    feedback.delete(dropped.id)  # withdrawn: no longer excluded
    feedback.create(user, c, "like", None, None)  # not an exclusion
    for version, (excluded, favourites) in enumerate([([c], ["Drama"]), ([d], ["Sci-Fi", "Comedy"])], 1):
        preferences.put(
            user,
            favourites,
            excluded,
            None,
            expected_version=None,
            idempotency_key=None,
            request_hash=str(version) * 64,
        )
    found = signals.for_user(user)
    assert found.excluded == frozenset({a, d})  # the newest preferences' exclusions only
    assert found.favourite_categories == ("Sci-Fi", "Comedy")
