"""What every hot handler's environment does after its first invocation."""

import gc

import pytest

from recsys.observability import long_lived_after_first_call


@pytest.fixture
def unfrozen():
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_what_outlives_the_first_call_is_frozen_once(unfrozen):
    kept = []

    @long_lived_after_first_call
    def handler(event, context):
        kept.append(object())  # a client made at the first call, say
        return {"n": len(kept)}

    assert gc.get_freeze_count() == 0
    assert handler({}, None) == {"n": 1}
    frozen = gc.get_freeze_count()
    assert frozen > 0
    gc.unfreeze()
    assert handler({}, None) == {"n": 2}
    assert gc.get_freeze_count() == 0  # later calls leave the collector alone


def test_a_first_call_that_fails_still_freezes_and_raises(unfrozen):
    @long_lived_after_first_call
    def handler(event, context):
        raise RuntimeError("store down")

    with pytest.raises(RuntimeError):
        handler({}, None)
    assert gc.get_freeze_count() > 0
