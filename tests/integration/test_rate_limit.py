import concurrent.futures
import uuid

from recsys.connections import redis_client
from recsys.stores.rate_limits import RedisRateLimits
from tests.integration.redis_files import append_only_file

T0 = 1_800_000_000.0


def subject() -> str:
    return f"key:{uuid.uuid4().hex[:8]}"


def test_exactly_the_limit_is_allowed_across_parallel_spenders(settings):
    # Separate clients stand for separate function instances sharing one Redis.
    limiters = [RedisRateLimits(redis_client(settings)) for _ in range(4)]
    who = subject()

    def spend(n: int) -> bool:
        return limiters[n % 4].spend(who, 60, now=T0 + n / 1000).allowed

    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        allowed = list(pool.map(spend, range(200)))
    assert allowed.count(True) == 60


def test_no_window_edge_lets_twice_the_limit_through(settings):
    limiter = RedisRateLimits(redis_client(settings))
    who = subject()
    # the whole budget just before a minute boundary, then a burst just after it
    assert all(limiter.spend(who, 10, now=T0 + 59.9).allowed for _ in range(10))
    assert not any(limiter.spend(who, 10, now=T0 + 60.1 + n / 100).allowed for n in range(10))
    # a minute after the first burst, its slots free again
    assert limiter.spend(who, 10, now=T0 + 119.95).allowed


def test_budget_reports_remaining_and_when_a_slot_frees(settings):
    limiter = RedisRateLimits(redis_client(settings))
    who = subject()
    first = limiter.spend(who, 2, now=T0 + 10)
    assert (first.remaining, first.reset_at, first.allowed) == (1, int(T0) + 70, True)
    limiter.spend(who, 2, now=T0 + 20)
    third = limiter.spend(who, 2, now=T0 + 30)
    assert (third.remaining, third.allowed, third.reset_at) == (0, False, int(T0) + 70)
    later = limiter.spend(who, 2, now=T0 + 71)  # the first request has left the window
    assert later.allowed and later.remaining == 0 and later.reset_at == int(T0) + 80
    assert 0 < redis_client(settings).pttl(f"ratelimit:{who}") <= 61_000


def test_budgets_are_not_written_to_the_append_only_file(settings):
    """Spending a budget must not wait for an fsync: nothing of it reaches the append-only file,
    while any other write does. (What other clients write meanwhile is not looked at.)"""
    client = redis_client(settings)
    limiter = RedisRateLimits(client)
    aof = append_only_file(client)
    offset = aof.stat().st_size
    who, control = subject(), f"probe:{uuid.uuid4().hex}"
    assert all(limiter.spend(who, 10).allowed for _ in range(5))
    client.set(control, "1", ex=60)
    with aof.open("rb") as appended:
        appended.seek(offset)
        written = appended.read()
    assert control.encode() in written
    assert who.encode() not in written
