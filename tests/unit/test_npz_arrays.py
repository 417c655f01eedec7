"""A model's arrays are read from its model.npz without a copy, exactly as np.load reads them."""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
import pytest

from recsys.engine.bundle import npz_arrays

RNG = np.random.default_rng(0)
ARRAYS = {
    "P": RNG.random((2000, 64), dtype=np.float32),
    "Q": RNG.random((1000, 64), dtype=np.float32),
    "popularity": RNG.random(1000),
    "created": np.arange(1000, dtype=np.int64),
    "warm": RNG.random(1000) > 0.5,
    "scalar": np.float32(3.5),
    "empty": np.zeros((0, 4), np.float32),
}


def saved(save: Callable[..., None]) -> bytes:
    buffer = io.BytesIO()
    save(buffer, **ARRAYS)
    return buffer.getvalue()


@pytest.mark.parametrize("save", [np.savez, np.savez_compressed], ids=["stored", "compressed"])
def test_every_array_comes_back_with_its_dtype_shape_and_values(save: Callable[..., None]) -> None:
    got = npz_arrays(saved(save))
    assert set(got) == set(ARRAYS)
    for name, value in ARRAYS.items():
        expected = np.asarray(value)
        assert got[name].dtype == expected.dtype and got[name].shape == expected.shape, name
        assert np.array_equal(got[name], expected), name


def test_a_stored_archives_arrays_are_views_of_the_downloaded_bytes() -> None:
    data = saved(np.savez)
    got = npz_arrays(data)
    assert all(not array.flags.writeable for array in got.values())  # views of immutable bytes
    assert np.shares_memory(got["P"], np.frombuffer(data, dtype=np.uint8))
