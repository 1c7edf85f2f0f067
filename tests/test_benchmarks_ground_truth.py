"""The stored ground-truth file loads, is self-consistent, and matches fresh CVXPY solves."""

import numpy as np
import pytest

from benchmarks.cases import FAMILIES, decode_table, encode_table, load_cases
from benchmarks.ground_truth import ACCEPT_GAP_BITS, load
from benchmarks.references.cvxpy_broja import solve_cvxpy

TERMS = ("redundancy", "unique_1", "unique_2", "synergy")


@pytest.fixture(scope="module")
def cases():
    return load_cases()


def test_file_is_versioned_and_covers_every_family(cases):
    data = load()
    assert data["version"] == 1 and data["units"] == "bits"
    assert {c["family"] for c in cases} == set(FAMILIES)
    assert len(cases) >= 50


def test_every_table_is_a_distribution_and_accepted_cases_are_certified(cases):
    for c in cases:
        assert c["P"].min() >= 0 and c["P"].sum() == pytest.approx(1.0, abs=1e-12)
        t = c["truth"]
        if t["accepted"]:
            assert t["gap_bits"] <= ACCEPT_GAP_BITS
            assert t["redundancy"] + t["unique_1"] == pytest.approx(t["mi_1"], abs=1e-12)
            assert sum(t[k] for k in TERMS) == pytest.approx(t["mi_joint"], abs=1e-12)
            assert min(t[k] for k in TERMS) > -1e-9
    assert sum(c["truth"]["accepted"] for c in cases) >= 0.9 * len(cases)


def test_table_encoding_is_exact():
    P = np.random.default_rng(1).dirichlet(np.ones(24)).reshape(2, 3, 4)
    assert np.array_equal(decode_table(encode_table(P)), P)


@pytest.mark.parametrize("name", ["dit:w", "dirichlet_sparse_8x8x4_s1", "clustered_8x8x4_N1000"])
def test_stored_truth_matches_a_fresh_tight_cvxpy_solve(cases, name):
    case = next(c for c in cases if c["name"] == name)
    res = solve_cvxpy(case["P"], solver="ECOS")
    for t in TERMS:
        assert res[t] == pytest.approx(case["truth"][t], abs=1e-8)
