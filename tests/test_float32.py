"""float32 against float64 on the benchmark cases: within the stated float32 tolerance.

Stated tolerance: every term of a float32 decomposition is within ``bound32 + 2e-4`` bits of
the certified float64 ground truth (benchmarks/data/ground_truth_v1.json), and within
``bound32 + bound64 + 2e-4`` bits of a float64 decomposition of the same table. Tables up to
10 x 10 x 16 are padded with unused states and labels (exact zeros, which change nothing) into
two fixed shapes so each precision compiles twice.
"""

import numpy as np
import pytest

from benchmarks.cases import load_cases
from benchmarks.fuzz import F32_TOL
from pidjax import decompose

TERMS = ("redundancy", "unique_1", "unique_2", "synergy")
SHAPES = ((4, 4, 4), (10, 10, 16))


def padded_cases():
    groups = {s: [] for s in SHAPES}
    for case in load_cases():
        P = case["P"]
        for s in SHAPES:
            if all(a <= b for a, b in zip(P.shape, s)):
                big = np.zeros(s)
                big[: P.shape[0], : P.shape[1], : P.shape[2]] = P
                groups[s].append((case["name"], big, case["truth"]))
                break
    return groups


@pytest.fixture(scope="module")
def results():
    out = []
    for shape, cases in padded_cases().items():
        P = np.stack([c[1] for c in cases])
        r32 = decompose(P.astype(np.float32), dtype="float32")
        r64 = decompose(P, dtype="float64")
        out.append((cases, r32, r64))
    return out


def test_float32_is_within_tolerance_of_the_float64_ground_truth(results):
    checked = 0
    for cases, r32, _ in results:
        for i, (name, _, truth) in enumerate(cases):
            assert bool(r32.converged[i]), name
            for t in TERMS:
                err = abs(float(getattr(r32, t)[i]) - truth[t])
                assert err <= float(r32.bound[i]) + F32_TOL, (name, t, err)
            checked += 1
    assert checked >= 60


def test_float32_is_within_both_bounds_of_float64_on_the_same_tables(results):
    for cases, r32, r64 in results:
        for t in TERMS:
            diff = np.abs(np.asarray(getattr(r32, t), np.float64) - np.asarray(getattr(r64, t)))
            allow = np.asarray(r32.bound, np.float64) + np.asarray(r64.bound) + F32_TOL
            assert (diff <= allow).all(), (t, float(diff.max()))


def test_float32_outputs_are_float32_and_finite(results):
    for _, r32, _ in results:
        for t in TERMS + ("bound",):
            arr = np.asarray(getattr(r32, t))
            assert arr.dtype == np.float32 and np.isfinite(arr).all()
