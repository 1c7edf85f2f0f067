"""The certified gap of pidjax.solver.certify stays a bound in floating-point arithmetic."""

import jax.numpy as jnp
import numpy as np
import pytest

from pidjax import newton
from pidjax.canonical import distribution
from pidjax.decomposition import MEMORY_BUDGET, memory_budget
from pidjax.solver import certify, support_of


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
