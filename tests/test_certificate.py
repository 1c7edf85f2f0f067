"""The certified gap of pidjax.solver.certify stays a bound in floating-point arithmetic."""

import jax.numpy as jnp
import numpy as np
import pytest

from pidjax import newton
from pidjax.canonical import distribution
from pidjax.placement import MEMORY_BUDGET, memory_budget
from pidjax.solver import _raise_to_constraints, certify, dual_shifts, support_of


def _optimum(name):
    P = jnp.asarray(distribution(name))
    sol = newton.solve_newton(P, jnp.asarray(1e-10), 200)
    return support_of(P), sol


@pytest.mark.parametrize("name", ["and", "xor", "sum"])
def test_huge_dual_coordinates_give_a_huge_bound_not_a_clipped_zero(name):
    # (a + t_y, b - t_y) is the same dual point in exact arithmetic; at |t| = 1e20 float64
    # cannot resolve a + b any more, and the certificate must say so.
    sup, sol = _optimum(name)
    exact = certify(sup, sol.q, sol.dual_a, sol.dual_b).gap
    assert float(exact) <= 1e-9
    shift = 1e20 * jnp.arange(1, sol.dual_a.shape[1] + 1)
    shifted = certify(sup, sol.q, sol.dual_a + shift, sol.dual_b - shift).gap
    assert float(shifted) >= 1e3


def test_rounding_allowance_is_negligible_at_ordinary_magnitudes():
    sup, sol = _optimum("and")
    gap = float(certify(sup, sol.q, sol.dual_a, sol.dual_b).gap)
    assert gap <= 1e-10  # the allowance itself is ~1e-15 nats here


def test_memory_budget_is_the_cpu_default_on_cpu():
    assert memory_budget() == MEMORY_BUDGET


def _raise_reference(cell, a, b):
    """Label-by-label raise in the log domain with NumPy (what _raise_to_constraints computes)."""
    a = a.copy()
    for y in range(a.shape[1]):
        z = np.where(cell, a[:, None, :] + b[None, :, :], -np.inf)
        z[:, :, y] = -np.inf
        top = np.max(z, axis=2, initial=-np.inf)
        safe = np.where(np.isfinite(top), top, 0.0)
        others = safe + np.log(np.sum(np.exp(z - safe[:, :, None]), axis=2))
        room = np.log(-np.expm1(np.minimum(others, 0.0)))
        caps = np.where(cell[:, :, y], room - b[None, :, y], np.inf).min(axis=1)
        a[:, y] = np.where(np.isfinite(caps), np.maximum(caps, a[:, y]), a[:, y])
    return a


@pytest.mark.parametrize("seed", range(4))
def test_raise_to_constraints_is_feasible_monotone_and_matches_a_log_domain_reference(seed):
    rng = np.random.default_rng(seed)
    shape = [(4, 4, 4), (6, 3, 5), (2, 2, 2), (8, 8, 4)][seed]
    P = rng.dirichlet(np.full(int(np.prod(shape)), 0.2)).reshape(shape)
    sup = support_of(jnp.asarray(P))
    cell = np.asarray(sup.cell)
    alpha = rng.normal(size=(shape[0], shape[2]))
    beta = rng.normal(size=(shape[1], shape[2]))
    s = np.log(np.sum(np.where(cell, np.exp(alpha[:, None, :] + beta[None, :, :]), 0.0), -1))
    u, v = (np.asarray(t) for t in dual_shifts(sup, jnp.asarray(s)))
    # A feasible dual point, lowered label by label so that there is room to raise.
    a0, b0 = alpha - u[:, None] - rng.uniform(0, 2, alpha.shape), beta - v[:, None]
    rows = np.asarray(sup.log_p1 > -np.inf)
    got = np.asarray(_raise_to_constraints(jnp.asarray(rows), jnp.asarray(cell), jnp.asarray(a0), jnp.asarray(b0))[0])
    want = _raise_reference(np.where(rows[:, None, :], cell, False), a0, b0)
    assert np.all(got >= a0)  # a raise never lowers a coordinate
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)
    z = np.where(cell, got[:, None, :] + b0[None, :, :], -np.inf)
    lse = np.log(np.sum(np.exp(z), -1))
    assert np.max(lse[np.isfinite(lse)]) <= 1e-12  # still dual-feasible
    assert np.any(got > a0 + 1e-6)  # and the raise did something
