"""The factored Newton system of pidjax.newton against a dense NumPy assembly of the same matrix."""

import jax.numpy as jnp
import numpy as np
import pytest

from pidjax.decomposition import default_method
from pidjax.newton import schur_apply, schur_factor, spd_inverse
from pidjax.solver import support_of


def _dense_system(q, gamma, c):
    """``H = sum over pairs (i, j) of [diag(q_ij) + gamma_ij c_ij c_ij']`` on ``(a_i, b_j)``, dense."""
    m, n, k = q.shape
    H = np.zeros(((m + n) * k, (m + n) * k))
    for i in range(m):
        for j in range(n):
            block = np.diag(q[i, j]) + gamma[i, j] * np.outer(c[i, j], c[i, j])
            ia, jb = slice(i * k, (i + 1) * k), slice((m + j) * k, (m + j + 1) * k)
            for r in (ia, jb):
                for s in (ia, jb):
                    H[r, s] += block
    return H


@pytest.mark.parametrize("shape", [(4, 3, 3), (5, 5, 2), (3, 2, 6)])
def test_one_factorisation_solves_several_right_hand_sides(shape):
    m, n, k = shape
    rng = np.random.default_rng(sum(shape))
    P = rng.dirichlet(np.ones(m * n * k)).reshape(shape)
    q = rng.uniform(0.05, 1.0, shape)
    gamma = rng.uniform(0.1, 2.0, (m, n))
    c = rng.dirichlet(np.ones(k), size=(m, n))
    H = _dense_system(q, gamma, c)
    factor = schur_factor(support_of(jnp.asarray(P)), jnp.asarray(q), jnp.asarray(gamma), jnp.asarray(c))
    for _ in range(3):
        # right-hand sides in the range of H (H is singular along the label gauge (t, -t))
        g = H @ rng.standard_normal((m + n) * k)
        d_a, d_b = schur_apply(factor, jnp.asarray(g[: m * k].reshape(m, k)), jnp.asarray(g[m * k :].reshape(n, k)))
        d = np.concatenate([np.asarray(d_a).ravel(), np.asarray(d_b).ravel()])
        assert np.abs(H @ d - g).max() <= 1e-10 * np.abs(g).max()


def test_default_method_is_ipm_in_both_precisions():
    assert default_method(jnp.float64) == "ipm"
    assert default_method(jnp.float32) == "ipm"


@pytest.mark.parametrize("k", [1, 2, 4, 10, 13])
def test_spd_inverse_matches_numpy_on_ill_conditioned_batches(k):
    rng = np.random.default_rng(k)
    x = rng.standard_normal((3, 5, k, k))
    scales = np.logspace(0, 8, k)  # condition numbers up to ~1e16
    a = x @ np.swapaxes(x, -1, -2) / k + np.diag(1.0 / scales)
    got = np.asarray(spd_inverse(jnp.asarray(a)))
    want = np.linalg.inv(a)
    # Same residual quality as LAPACK's LU: |a inv - 1| within a small multiple of NumPy's.
    residual = np.abs(a @ got - np.eye(k)).max()
    assert residual <= 10 * max(np.abs(a @ want - np.eye(k)).max(), 1e-15), residual
    np.testing.assert_allclose(got, np.swapaxes(got, -1, -2), rtol=1e-6, atol=1e-6 * np.abs(got).max())
