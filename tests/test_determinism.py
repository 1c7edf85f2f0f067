"""Determinism: repeated calls are bit-identical; batch composition moves nothing beyond the bound."""

import numpy as np
import pytest

from benchmarks.fuzz import draw
from pidjax import decompose

FIELDS = ("redundancy", "unique_1", "unique_2", "synergy", "bound", "iterations", "converged")


def tables(count=12, shape=(3, 3, 3), seed=0):
    P, _ = draw(np.random.default_rng(seed), count, shape, "float64")
    return P


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_repeated_calls_are_bit_identical(dtype):
    P = tables()
    first, second = decompose(P, dtype=dtype), decompose(P, dtype=dtype)
    for f in FIELDS:
        assert np.array_equal(np.asarray(getattr(first, f)), np.asarray(getattr(second, f))), f


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_a_table_alone_or_inside_any_batch_agrees_within_the_bound(dtype):
    P = tables(count=12, seed=1)
    others = tables(count=30, seed=2)
    batched = decompose(P, dtype=dtype)
    mixed = decompose(np.concatenate([others[:7], P, others[7:]]), dtype=dtype)
    slack = 1e-12 if dtype == "float64" else 1e-6
    for i in (0, 5, 11):
        alone = decompose(P[i], dtype=dtype)
        for res, j in ((batched, i), (mixed, 7 + i)):
            for t in FIELDS[:4]:
                a, b = float(getattr(alone, t)), float(getattr(res, t)[j])
                allow = float(alone.bound) + float(res.bound[j]) + slack
                assert abs(a - b) <= allow, (dtype, i, t, a, b)


def test_chunked_batch_equals_one_call():
    P = tables(count=10, seed=3)
    whole = decompose(P)
    chunked = decompose(P, batch_size=3)  # three full chunks and a padded tail
    for t in FIELDS[:4]:
        a, b = np.asarray(getattr(whole, t)), np.asarray(getattr(chunked, t))
        assert (np.abs(a - b) <= np.asarray(whole.bound) + np.asarray(chunked.bound) + 1e-12).all(), t
