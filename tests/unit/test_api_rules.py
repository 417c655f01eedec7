"""API rules that need no server: variants, accepting interactions."""

from collections import Counter
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest

from recsys.domain import Interaction
from recsys.errors import InProgressError, NotPublishedError
from recsys.logic.experiments import choose_variant
from recsys.logic.interactions import accept


def test_variant_is_consistent_and_follows_the_weights():
    variants = [{"name": "control", "weight": 3}, {"name": "treatment", "weight": 1}]
    assert all(
        choose_variant(f"u{n}", "exp", variants) == choose_variant(f"u{n}", "exp", variants)
        for n in range(100)
    )
    counts = Counter(choose_variant(f"user_{n}", "exp", variants) for n in range(8000))
    assert 0.72 < counts["control"] / 8000 < 0.78
    other = [choose_variant(f"user_{n}", "other-exp", variants) for n in range(200)]
    assert other != [choose_variant(f"user_{n}", "exp", variants) for n in range(200)]


class Claims:  # EventClaims (checked below)
    def __init__(self, answer: str | None) -> None:
        self.answer = answer
        self.released: list[str] = []
        self.settled: list[str] = []

    def claim_many(self, event_ids: list[str]) -> list[str | None]:
        return [self.answer] * len(event_ids)

    def settle_many(self, done: list[str], released: list[str]) -> None:
        self.settled += done
        self.released += released


class Stream:  # InteractionStream
    def __init__(self, fail: bool | str = False) -> None:
        self.fail = fail
        self.published: list[str] = []

    def publish_many(self, interactions: list[Interaction]) -> list[bool]:
        if self.fail == "refused":  # throttled, even when tried again
            return [False] * len(interactions)
        if self.fail:
            raise ConnectionError("stream down")
        self.published += [i.event_id for i in interactions]
        return [True] * len(interactions)

    def read_range(self, shard_id: str, first: str, last: str) -> list[bytes]:
        return []  # accept never reads the stream back

    def republish(self, records: list[bytes]) -> int:
        return 0

    def shard_of(self, partition_key: str) -> int:
        return 0


if TYPE_CHECKING:
    from recsys.stores.event_claims import EventClaims
    from recsys.stores.interaction_stream import InteractionStream

    _claims: EventClaims = Claims(None)
    _stream: InteractionStream = Stream()

EVENT = Interaction("e1", "u1", "i1", "click", datetime(2024, 1, 1, tzinfo=UTC))


def test_a_duplicate_event_is_not_published_again():
    stream = Stream()
    assert accept(EVENT, stream, Claims("seen")) is False and stream.published == []


def test_without_dedup_the_event_is_still_published():
    stream = Stream()
    assert accept(EVENT, stream, Claims(None)) is True and stream.published == ["e1"]


def test_a_published_event_settles_its_claim():
    claims = Claims("new")
    assert accept(EVENT, Stream(), claims) is True and claims.settled == ["e1"] and claims.released == []


def test_a_failed_publish_releases_the_claim_so_the_retry_is_not_lost():
    claims = Claims("new")
    with pytest.raises(ConnectionError):
        accept(EVENT, Stream(fail=True), claims)
    assert claims.released == ["e1"]


def test_an_event_still_being_accepted_by_another_request_is_neither_published_nor_a_duplicate():
    stream = Stream()
    with pytest.raises(InProgressError):
        accept(EVENT, stream, Claims("pending"))
    assert stream.published == []


def test_an_event_the_stream_refused_releases_its_claim_and_is_reported_unpublished():
    claims = Claims("new")
    with pytest.raises(NotPublishedError):
        accept(EVENT, Stream(fail="refused"), claims)
    assert claims.released == ["e1"] and claims.settled == []


def test_the_active_experiment_is_asked_for_once_per_check_interval():
    from recsys.stores.experiments import CachedExperiments

    asked: list[int] = []
    answers = [("exp_a", [{"name": "a"}]), None]

    class Store:  # RankingExperiments
        def active_ranking(self) -> tuple[str, list[dict[str, Any]]] | None:
            asked.append(1)
            return answers[min(len(asked) - 1, 1)]

    now = [0.0]
    cached = CachedExperiments(Store, 5.0, clock=lambda: now[0])
    assert cached.active_ranking() == ("exp_a", [{"name": "a"}])
    now[0] = 4.9
    assert cached.active_ranking() == ("exp_a", [{"name": "a"}]) and len(asked) == 1
    now[0] = 5.0
    assert cached.active_ranking() is None and len(asked) == 2  # stopped: served so from now on
