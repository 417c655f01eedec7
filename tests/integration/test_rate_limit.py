import concurrent.futures
import uuid

from recsys.api.rate_limit import RateLimiter
from recsys.connections import redis_client


def test_exactly_the_limit_is_allowed_across_parallel_spenders(settings):
    # Separate clients stand for separate function instances sharing one Redis.
    limiters = [RateLimiter(redis_client(settings)) for _ in range(4)]
    subject = f"key:{uuid.uuid4().hex[:8]}"
    now = 1_800_000_000.0  # one fixed window for the whole burst

    def spend(n: int) -> bool:
        return limiters[n % 4].spend(subject, 60, now=now).allowed

    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        allowed = list(pool.map(spend, range(200)))
    assert allowed.count(True) == 60


def test_budget_reports_remaining_and_window_end(settings):
    limiter = RateLimiter(redis_client(settings))
    subject = f"key:{uuid.uuid4().hex[:8]}"
    first = limiter.spend(subject, 2, now=1_800_000_010.0)
    assert (first.remaining, first.reset_at, first.allowed) == (1, 1_800_000_060, True)
    limiter.spend(subject, 2, now=1_800_000_020.0)
    third = limiter.spend(subject, 2, now=1_800_000_030.0)
    assert (third.remaining, third.allowed) == (0, False)
    assert limiter.spend(subject, 2, now=1_800_000_061.0).allowed  # a new window
    assert redis_client(settings).ttl(f"ratelimit:{subject}:{1_800_000_061 // 60}") <= 65
