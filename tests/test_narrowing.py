"""Batch loops that narrow to their running members (pidjax.narrowing)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pidjax import narrowing


def test_levels_shrink_by_eighths_down_to_eight():
    assert narrowing.levels(50) == [50]
    assert narrowing.levels(64) == [64, 8]
    assert narrowing.levels(256) == [256, 32]
    assert narrowing.levels(2048) == [2048, 256, 32]


def _collatz_steps(consts, state, sizes=None):
    """Each member halves or triples-plus-one its number until it reaches 1, counting steps."""

    def running(consts, s):
        return s[0] != 1

    def body(consts, s, live):
        x, n = s
        return jnp.where(x % 2 == 0, x // 2, 3 * x + 1) + 0 * consts, n + 1

    return narrowing.narrowed_while(running, body, consts, state, sizes)


@settings(max_examples=15, deadline=None)
@given(st.lists(st.integers(1, 400), min_size=1, max_size=120))
def test_narrowed_loop_matches_a_vmapped_while_loop(starts):
    # Members need from 0 to over a hundred steps: the narrowed loop must give each member
    # exactly what its own while_loop gives, whatever the batch size and level it ends in.
    x = jnp.asarray(starts, jnp.int32)
    want = jax.vmap(lambda v: jax.lax.while_loop(lambda s: s[0] != 1, lambda s: (
        jnp.where(s[0] % 2 == 0, s[0] // 2, 3 * s[0] + 1), s[1] + 1), (v, 0)))(x)
    got = _collatz_steps(jnp.zeros_like(x), (x, jnp.zeros_like(x)))
    np.testing.assert_array_equal(np.asarray(got[0]), 1)
    np.testing.assert_array_equal(np.asarray(got[1]), np.asarray(want[1]))


def test_narrowed_loop_stops_stepping_members_that_are_done():
    # 64 members, three levels forced: finished members keep their state, even though the
    # body would change it.
    x = jnp.concatenate([jnp.ones(60, jnp.int32), jnp.asarray([27, 97, 871, 6171], jnp.int32)])
    got = _collatz_steps(jnp.zeros_like(x), (x, jnp.zeros_like(x)), sizes=[64, 16, 4])
    np.testing.assert_array_equal(np.asarray(got[1])[:60], 0)
    np.testing.assert_array_equal(np.asarray(got[1])[60:], [111, 118, 178, 261])


@pytest.mark.parametrize("size", [1, 3])
def test_first_puts_flagged_members_first_in_batch_order(size):
    flags = jnp.asarray([False, True, False, True, True])
    np.testing.assert_array_equal(np.asarray(narrowing.first(flags, size)), [1, 3, 4][:size])


def _pair_stats(x, scale):
    """A per-member function with a pytree in and out and members of different shapes' leaves."""
    return {"sum": jnp.sum(x) * scale, "rows": jnp.cumsum(x, 0) - scale}, jnp.max(x)


@settings(max_examples=20, deadline=None)
@given(st.integers(1, 40), st.integers(1, 12))
def test_blockwise_gives_what_vmap_gives_for_any_batch_and_block(batch, size):
    # Batches that are and are not multiples of the block (padding, then cut back), blocks
    # larger than the batch, blocks of one member: every member gets exactly vmap's answer.
    rng = np.random.default_rng(batch * 100 + size)
    x = jnp.asarray(rng.normal(size=(batch, 3, 2)))
    scale = jnp.asarray(rng.normal(size=batch))
    want = jax.vmap(_pair_stats)(x, scale)
    got = jax.jit(narrowing.blockwise(_pair_stats, size))(x, scale)
    jax.tree_util.tree_map(np.testing.assert_array_equal, got, want)


def test_blockwise_without_a_block_size_is_vmap():
    x, scale = jnp.ones((5, 3, 2)), jnp.arange(5.0)
    jax.tree_util.tree_map(np.testing.assert_array_equal, narrowing.blockwise(_pair_stats, None)(x, scale),
                           jax.vmap(_pair_stats)(x, scale))


def test_blockwise_runs_one_block_at_a_time():
    # The point of blocking is that no op sees the whole batch: the jaxpr holds a loop over
    # ceil(10 / 4) = 3 blocks of 4 members (10 padded to 12), and no 10- or 12-member op inside.
    jaxpr = jax.make_jaxpr(narrowing.blockwise(_pair_stats, 4))(jnp.ones((10, 3, 2)), jnp.ones(10))
    loops = [e for e in jaxpr.jaxpr.eqns if e.primitive.name == "scan"]
    assert len(loops) == 1 and loops[0].params["length"] == 3
    inner = loops[0].params["jaxpr"].jaxpr
    assert all(v.aval.shape[:1] == (4,) for e in inner.eqns for v in e.outvars if v.aval.ndim)
