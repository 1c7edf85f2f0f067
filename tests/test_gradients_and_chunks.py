"""Gradients by the envelope theorem, automatic chunking, and sharding over devices."""

import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from helpers import random_table, terms
from pidjax import decompose
from pidjax.placement import auto_batch_size

FIELDS = ["redundancy", "unique_1", "unique_2", "synergy"]


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("seed,zeros", [(3, 0.0), (9, 0.3)])
def test_gradient_of_each_term_matches_central_differences(field, seed, zeros):
    P = jnp.asarray(random_table(seed, (4, 3, 3), zero_fraction=zeros))

    def term(p):
        return getattr(decompose(p, tol=1e-12, max_iters=400), field)

    grad = jax.grad(term)(P)
    assert np.isfinite(np.asarray(grad)).all()
    rng = np.random.default_rng(seed)
    for _ in range(3):
        # Directions that keep the support and the total mass: move mass between used cells.
        used = np.argwhere(np.asarray(P) > 0)
        i, j = used[rng.choice(len(used), 2, replace=False)]
        direction = np.zeros(P.shape)
        direction[tuple(i)], direction[tuple(j)] = 1.0, -1.0
        eps = 1e-7
        fd = (term(P + eps * direction) - term(P - eps * direction)) / (2 * eps)
        np.testing.assert_allclose(float(jnp.sum(grad * direction)), float(fd), rtol=1e-4, atol=1e-6)


def test_gradients_are_batched():
    P = jnp.asarray(np.stack([random_table(s, (3, 3, 2)) for s in range(3)]))
    g = jax.grad(lambda p: decompose(p).synergy.sum())(P)
    g0 = jax.grad(lambda p: decompose(p).synergy)(P[0])
    np.testing.assert_allclose(np.asarray(g[0]), np.asarray(g0), atol=1e-5)


def test_chunked_batches_equal_one_call():
    P = np.stack([random_table(s, (4, 4, 3), zero_fraction=0.2) for s in range(11)])
    whole = decompose(P, batch_size=100)
    chunked = decompose(P, batch_size=4)
    np.testing.assert_array_equal(terms(whole), terms(chunked))
    np.testing.assert_array_equal(np.asarray(whole.iterations), np.asarray(chunked.iterations))


def test_auto_batch_size_shrinks_with_the_table():
    budget = 10**8  # bytes: the memory cap, below the CPU chunk limits
    assert auto_batch_size((10, 10, 10), jnp.float64, budget) > auto_batch_size((32, 32, 10), jnp.float64, budget) >= 1
    with pytest.raises(ValueError, match="batch_size"):
        decompose(random_table(0, (2, 2, 2)), batch_size=0)


def test_sharding_over_four_host_devices_gives_identical_results(tmp_path):
    P = np.stack([random_table(s, (4, 3, 3), zero_fraction=0.2 * (s % 2)) for s in range(10)])
    np.save(tmp_path / "P.npy", P)
    script = textwrap.dedent(
        f"""
        import jax, numpy as np
        jax.config.update("jax_enable_x64", True)
        from pidjax import decompose
        assert len(jax.devices()) == 4, jax.devices()
        r = decompose(np.load({str(tmp_path / "P.npy")!r}), batch_size=8)
        np.save({str(tmp_path / "out.npy")!r}, np.stack([np.asarray(r.redundancy), np.asarray(r.synergy), np.asarray(r.bound)]))
        """
    )
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu")
    subprocess.run([sys.executable, "-c", script], check=True, env=env, timeout=300)
    sharded = np.load(tmp_path / "out.npy")
    single = decompose(P)
    np.testing.assert_allclose(sharded[0], np.asarray(single.redundancy), atol=1e-12)
    np.testing.assert_allclose(sharded[1], np.asarray(single.synergy), atol=1e-12)
