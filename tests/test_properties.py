"""Property tests (hypothesis): identities, non-negativity, symmetry and invariances."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from benchmarks.references.cvxpy_broja import solve_cvxpy
from helpers import random_table, terms
from pidjax import decompose

# A few fixed shapes keep compilation bounded; hypothesis varies the tables.
SHAPES = [(2, 2, 2), (3, 2, 3), (3, 4, 2), (4, 4, 3)]


@st.composite
def tables(draw, batch=None):
    shape = draw(st.sampled_from(SHAPES))
    seed = draw(st.integers(0, 2**31 - 1))
    alpha = draw(st.sampled_from([0.1, 0.5, 1.0, 3.0]))
    zeros = draw(st.sampled_from([0.0, 0.0, 0.3, 0.6]))
    return random_table(seed, shape, alpha, zeros)


@given(tables())
def test_identities_hold(P):
    r = decompose(P)
    np.testing.assert_allclose(float(r.redundancy + r.unique_1), float(r.mutual_info_1), atol=1e-12)
    np.testing.assert_allclose(float(r.redundancy + r.unique_2), float(r.mutual_info_2), atol=1e-12)
    np.testing.assert_allclose(float(np.sum(terms(r))), float(r.mutual_info_joint), atol=1e-12)


@given(tables())
def test_terms_are_non_negative_up_to_the_bound(P):
    r = decompose(P)
    assert bool(r.converged)
    assert (terms(r) >= -float(r.bound) - 1e-12).all()


@given(tables())
def test_swapping_modalities_swaps_the_unique_terms(P):
    a = decompose(P)
    b = decompose(np.swapaxes(P, 0, 1))
    slack = float(a.bound + b.bound) + 1e-12
    assert abs(float(a.unique_1 - b.unique_2)) <= slack
    assert abs(float(a.unique_2 - b.unique_1)) <= slack
    assert abs(float(a.redundancy - b.redundancy)) <= slack
    assert abs(float(a.synergy - b.synergy)) <= slack


@given(tables(), st.integers(0, 2**31 - 1))
def test_relabeling_states_and_labels_changes_nothing(P, seed):
    rng = np.random.default_rng(seed)
    perm = P[rng.permutation(P.shape[0])][:, rng.permutation(P.shape[1])][:, :, rng.permutation(P.shape[2])]
    a, b = decompose(P), decompose(perm)
    np.testing.assert_allclose(terms(a), terms(b), atol=float(a.bound + b.bound) + 1e-12)


@given(st.lists(tables(), min_size=2, max_size=4))
def test_batched_equals_one_at_a_time(tabs):
    shape = tabs[0].shape
    tabs = [t for t in tabs if t.shape == shape]
    batched = decompose(np.stack(tabs))
    for i, t in enumerate(tabs):
        alone = decompose(t)
        # Batched linear algebra may round differently, so iterates can differ slightly;
        # both answers are certified, so they agree within the two bounds.
        slack = float(batched.bound[i] + alone.bound) + 1e-12
        np.testing.assert_allclose(terms(batched)[i], terms(alone), atol=slack)


@given(tables(), st.sampled_from([1e-2, 1e-3, 1e-4]))
def test_certified_bound_is_at_least_the_true_error(P, tol):
    ref = solve_cvxpy(P)
    r = decompose(P, tol=tol)
    truth = np.array([ref["redundancy"], ref["unique_1"], ref["unique_2"], ref["synergy"]])
    err = np.abs(terms(r) - truth).max()
    assert err <= float(r.bound) + 1e-8  # 1e-8: the reference's own accuracy
