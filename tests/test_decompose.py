"""The kernel against canonical values and the independent CVXPY reference."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from benchmarks.references.cvxpy_broja import solve_cvxpy
from helpers import random_table, terms
from pidjax import METHODS, decompose
from pidjax.canonical import KNOWN_VALUES, NAMES, distribution

TOL = 1e-6


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("name", NAMES)
def test_canonical_values_to_1e6_bits_in_float64(name, method):
    r = decompose(distribution(name), method=method)
    assert bool(r.converged) and float(r.bound) <= TOL
    np.testing.assert_allclose(terms(r), KNOWN_VALUES[name], atol=TOL)


@pytest.mark.parametrize("name", ["xor", "and", "copy", "rdn", "unq"])
def test_canonical_values_to_1e4_bits_in_float32(name):
    r = decompose(distribution(name, np.float32), dtype=jnp.float32)
    assert r.redundancy.dtype == jnp.float32
    assert bool(r.converged) and float(r.bound) <= 1e-4
    np.testing.assert_allclose(terms(r), KNOWN_VALUES[name], atol=2e-4)


CASES = [
    ("dense-2x2x2", (2, 2, 2), 1.0, 0.0),
    ("dense-3x4x2", (3, 4, 2), 1.0, 0.0),
    ("dense-5x5x5", (5, 5, 5), 1.0, 0.0),
    ("dense-10x10x10", (10, 10, 10), 1.0, 0.0),
    ("sparse-alpha0.1-6x6x4", (6, 6, 4), 0.1, 0.0),
    ("zeros-40pct-8x7x5", (8, 7, 5), 1.0, 0.4),
    ("zeros-70pct-10x10x10", (10, 10, 10), 0.5, 0.7),
]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("label,shape,alpha,zeros", CASES, ids=[c[0] for c in CASES])
def test_agrees_with_cvxpy_reference_to_1e6_bits(label, shape, alpha, zeros, method):
    P = random_table(sum(shape), shape, alpha, zeros)
    ref = solve_cvxpy(P)
    assert ref["status"] in ("optimal", "optimal_inaccurate")
    r = decompose(P, method=method, max_iters=200_000)  # plain IPFP crawls on boundary optima
    assert bool(r.converged)
    ref_terms = [ref["redundancy"], ref["unique_1"], ref["unique_2"], ref["synergy"]]
    np.testing.assert_allclose(terms(r), ref_terms, atol=TOL)
    np.testing.assert_allclose(float(r.mutual_info_joint), ref["mi_joint"], atol=1e-12)


@pytest.mark.parametrize("method", METHODS)
def test_certified_bound_covers_the_true_error_at_a_loose_tolerance(method):
    P = random_table(11, (10, 10, 10))
    ref = solve_cvxpy(P)
    r = decompose(P, tol=1e-3, method=method)
    err = np.abs(terms(r) - [ref["redundancy"], ref["unique_1"], ref["unique_2"], ref["synergy"]])
    assert 1e-6 < float(r.bound) <= 1e-3  # a real, loose bound
    assert err.max() <= float(r.bound) + 1e-9
    # one-sided: the reported plan is feasible, so redundancy and synergy are never overstated
    assert float(r.redundancy) <= ref["redundancy"] + 1e-9
    assert float(r.synergy) <= ref["synergy"] + 1e-9


def test_identities_hold_exactly_up_to_rounding():
    P = random_table(5, (6, 5, 4), zero_fraction=0.3)
    r = decompose(P)
    np.testing.assert_allclose(float(r.redundancy + r.unique_1), float(r.mutual_info_1), atol=1e-13)
    np.testing.assert_allclose(float(r.redundancy + r.unique_2), float(r.mutual_info_2), atol=1e-13)
    total = float(r.redundancy + r.unique_1 + r.unique_2 + r.synergy)
    np.testing.assert_allclose(total, float(r.mutual_info_joint), atol=1e-13)


def test_returned_plan_is_feasible_and_on_the_support():
    P = random_table(8, (5, 6, 4), zero_fraction=0.5)
    r = decompose(P, return_q=True)
    q = np.asarray(r.q)
    assert q.shape == P.shape and (q >= 0).all()
    np.testing.assert_allclose(q.sum(1), P.sum(1), atol=1e-14)
    np.testing.assert_allclose(q.sum(0), P.sum(0), atol=1e-14)
    support = (P.sum(1)[:, None, :] > 0) & (P.sum(0)[None, :, :] > 0)
    assert (q[~support] == 0).all()
    assert float(r.marginal_violation) < 1e-14


def test_structural_zeros_unused_states_and_labels_change_nothing():
    P = random_table(21, (4, 3, 3))
    padded = np.zeros((6, 5, 5))
    padded[1:5, 0:3, [0, 2, 4]] = P  # unused X1 states 0 and 5, X2 states 3-4, labels 1 and 3
    a, b = decompose(P), decompose(padded)
    np.testing.assert_allclose(terms(a), terms(b), atol=2 * TOL)
    assert np.isfinite(terms(b)).all()


def test_leading_batch_axes_and_batched_equals_one_at_a_time():
    P = np.stack([random_table(s, (4, 3, 3), zero_fraction=0.2 * (s % 2)) for s in range(6)]).reshape(2, 3, 4, 3, 3)
    batched = decompose(P, return_q=True)
    assert batched.redundancy.shape == (2, 3) and batched.q.shape == P.shape
    for i in range(2):
        for j in range(3):
            single = decompose(P[i, j])
            np.testing.assert_allclose(terms(batched)[i, j], terms(single), atol=1e-12)
            assert int(batched.iterations[i, j]) == int(single.iterations)


def test_converged_member_stops_while_others_continue():
    easy, hard = distribution("xor"), np.zeros((2, 2, 2))
    hard = random_table(1, (2, 2, 2))
    both = decompose(np.stack([easy, hard]))
    assert int(both.iterations[0]) == int(decompose(easy).iterations) < int(both.iterations[1])


def test_jit_and_no_jit_give_identical_results():
    P = random_table(4, (5, 4, 3))
    plain = decompose(P)
    jitted = jax.jit(lambda p: decompose(p))(jnp.asarray(P))
    np.testing.assert_array_equal(terms(plain), terms(jitted))
    np.testing.assert_array_equal(np.asarray(plain.bound), np.asarray(jitted.bound))


def test_vmap_over_decompose_matches_the_batch_axis():
    P = np.stack([random_table(s, (3, 3, 2)) for s in range(4)])
    vm = jax.vmap(lambda p: decompose(p))(jnp.asarray(P))
    np.testing.assert_allclose(terms(vm), terms(decompose(P)), atol=1e-12)


def test_nats_are_bits_times_ln2():
    P = random_table(2, (3, 3, 3))
    bits, nats = decompose(P), decompose(P, unit="nats")
    np.testing.assert_allclose(terms(nats), terms(bits) * np.log(2), atol=1e-12)


@pytest.mark.parametrize("method,cap", [("ipfp", 20), ("newton", 3), ("ipm", 3)])
def test_non_convergence_is_flagged_and_warned(method, cap):
    P = random_table(0, (10, 10, 10))
    with pytest.warns(RuntimeWarning, match="did not reach the certified tolerance"):
        r = decompose(P, method=method, max_iters=cap, check_every=10)
    assert not bool(r.converged) and float(r.bound) > TOL and int(r.iterations) == cap


def test_no_warning_when_everything_converges():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        decompose(distribution("and"))


def test_normalize_rescales_unnormalised_counts():
    counts = distribution("and") * 400
    np.testing.assert_allclose(terms(decompose(counts, normalize=True)), KNOWN_VALUES["and"], atol=TOL)
