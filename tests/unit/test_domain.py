from datetime import UTC, datetime

import pytest

from recsys.domain import Interaction, fallback_event_id

WHEN = datetime(2024, 1, 20, 15, 30, tzinfo=UTC)


def test_fallback_event_id_is_deterministic_and_distinguishes_requests():
    first = fallback_event_id("u1", "i1", "click", WHEN)
    assert first == fallback_event_id("u1", "i1", "click", WHEN)
    assert first != fallback_event_id("u1", "i1", "like", WHEN)
    assert len(first) == 64


def test_interaction_round_trips_through_its_stream_record():
    interaction = Interaction("e1", "u1", "i1", "watch", WHEN, {"source": "homepage"}, "s1")
    assert Interaction.from_record(interaction.to_record()) == interaction
    assert interaction.weight == 3.0


def test_interaction_rejects_unknown_actions_and_naive_times():
    with pytest.raises(ValueError, match="unknown action"):
        Interaction("e1", "u1", "i1", "stare", WHEN)
    with pytest.raises(ValueError, match="timezone"):
        Interaction("e1", "u1", "i1", "click", datetime(2024, 1, 1))
