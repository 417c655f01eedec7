import uuid
from datetime import UTC, datetime, timedelta

import pytest

from recsys.connections import cassandra_session
from recsys.domain import Interaction
from recsys.stores.interaction_log import CassandraInteractionLog

T0 = datetime(2024, 1, 20, 15, 30, tzinfo=UTC)


@pytest.fixture
def log(settings):
    return CassandraInteractionLog(cassandra_session(settings))


def event(user_id, item_id, action, minutes, **extra):
    return Interaction(uuid.uuid4().hex, user_id, item_id, action, T0 + timedelta(minutes=minutes), **extra)


def test_user_history_comes_back_newest_first(log):
    user = f"user_{uuid.uuid4().hex[:8]}"
    written = [
        event(user, "movie_2", "watch", 2),
        event(user, "movie_1", "click", 0, context={"source": "homepage", "position": "3"}, session_id="s1"),
        event(user, "movie_3", "like", 5),
    ]
    for interaction in written:
        log.append_many([interaction])

    history = log.for_user(user)
    assert [i.item_id for i in history] == ["movie_3", "movie_2", "movie_1"]
    assert history[2] == written[1]  # every field, context and session included
    assert [i.item_id for i in log.for_user(user, limit=2)] == ["movie_3", "movie_2"]


def test_same_millisecond_events_are_both_kept_and_a_replay_is_not_duplicated(log):
    user = f"user_{uuid.uuid4().hex[:8]}"
    first, second = event(user, "movie_9", "impression", 0), event(user, "movie_9", "click", 0)
    log.append_many([first])
    log.append_many([second])
    log.append_many([first])  # a consumer retry
    assert sorted(i.action for i in log.for_user(user)) == ["click", "impression"]


def test_item_history_is_kept_per_item(log):
    item = f"movie_{uuid.uuid4().hex[:8]}"
    log.append_many([event("user_a", item, "click", 1)])
    log.append_many([event("user_b", item, "purchase", 4)])
    history = log.for_item(item)
    assert [(h.user_id, h.action) for h in history] == [("user_b", "purchase"), ("user_a", "click")]
    assert history[0].event_time == T0 + timedelta(minutes=4)


def test_one_event_id_is_one_row_whatever_time_a_retry_carries(log):
    user = f"user_{uuid.uuid4().hex[:8]}"
    first = event(user, "movie_5", "click", 0)
    retry = Interaction(first.event_id, user, "movie_5", "click", T0 + timedelta(minutes=7))  # stamped anew
    log.append_many([first])
    log.append_many([retry])
    log.append_many([retry, first])
    assert [i.event_id for i in log.for_user(user)] == [first.event_id]
    assert [e.event_id for e in log.for_item("movie_5") if e.user_id == user] == [first.event_id]


def test_a_bulk_write_of_the_largest_events_stays_under_cassandras_batch_limit(settings):
    """200 events with the largest context the API accepts (20 entries of 500 characters): the
    writer's batches must stay under Cassandra's batch_size_fail_threshold (50 KiB)."""
    log = CassandraInteractionLog(cassandra_session(settings))
    user = f"user_{uuid.uuid4().hex[:8]}"
    context = {f"key_{n:02d}": "x" * 500 for n in range(20)}
    events = [
        Interaction(uuid.uuid4().hex, user, f"movie_{n}", "watch", datetime.now(UTC), context)
        for n in range(200)
    ]
    log.append_many(events)
    stored = log.for_user(user, limit=1000)
    assert len(stored) == 200 and stored[0].context == context


def test_events_without_context_or_session_leave_no_tombstones(settings):
    """Training reads the whole log: a null written for an absent value is a tombstone it has to
    step over on every read (it warned of 5,000 per page before)."""
    session = cassandra_session(settings)
    log = CassandraInteractionLog(session)
    user = f"user_{uuid.uuid4().hex[:8]}"
    log.append_many([event(user, f"movie_{n}", "watch", n) for n in range(5)])
    result = session.execute("SELECT * FROM user_events WHERE user_id = %s", (user,), trace=True)
    assert len(list(result)) == 5
    trace = [e.description for e in result.get_query_trace(max_wait_sec=5).events]
    reads = [d for d in trace if d.startswith("Read ") and "tombstone cells" in d]
    assert reads == ["Read 5 live rows and 0 tombstone cells"], trace
