"""Batch loops that narrow to their running members, so a batch costs its typical member.

A ``while_loop`` under ``vmap`` steps every member until the slowest one is done: a batch of
``B`` tables costs ``B`` times its slowest member's steps. :func:`narrowed_while` runs the
loop on the whole batch only while more than an eighth of it is running; the members still
running then go on, gathered, in a batch of that size, and so on down (:func:`levels`), and
are scattered back at the end. Shapes stay static: each level is its own compiled loop.

Everything here works on pytrees whose leaves lead with the batch axis.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

NARROW = 8  # each level is this many times smaller than the one before
SMALLEST = 8  # no level below this many members


def levels(batch: int) -> list[int]:
    """Batch sizes a loop over ``batch`` members narrows to: ``batch``, then eighths while the
    next one is at least :data:`SMALLEST` (``[256, 32]`` for 256; ``[50]`` for 50)."""
    sizes = [batch]
    while sizes[-1] // NARROW >= SMALLEST:
        sizes.append(sizes[-1] // NARROW)
    return sizes


def take(tree, idx):
    """Members ``idx`` of every leaf of ``tree``."""
    return jax.tree_util.tree_map(lambda x: x[idx], tree)


def put(tree, idx, part):
    """``tree`` with members ``idx`` replaced by ``part`` (``idx`` without repeats)."""
    return jax.tree_util.tree_map(lambda x, y: x.at[idx].set(y), tree, part)


def first(flags, size: int):
    """Indices of ``size`` members, those where ``flags`` (B,) holds first, in batch order."""
    return jnp.argsort(~flags, stable=True)[:size]


def select(flags, new, old):
    """Per member, ``new`` where ``flags`` (B,) holds, else ``old`` (pytrees of one structure).

    ``flags`` may also be a scalar, for one table's pytrees (inside a ``vmap``-ped function).
    """
    def pick(x, y):
        return jnp.where(flags.reshape(flags.shape + (1,) * (x.ndim - 1)), x, y)

    return jax.tree_util.tree_map(pick, new, old)


def pad_to(x, size: int):
    """``x`` with copies of its first member appended up to ``size`` members (``x`` if it has as many)."""
    pad = size - x.shape[0]
    if pad <= 0:
        return x
    return jnp.concatenate([x, jnp.broadcast_to(x[:1], (pad, *x.shape[1:]))])


def blockwise(fn, size: int | None):
    """``jax.vmap(fn)``, computed over the batch in blocks of at most ``size`` members.

    The blocks run one after another (``lax.map``), each ``vmap``-ped, so the arrays of one
    block stay in the cache where those of the whole batch would not (``size`` from
    :func:`pidjax.placement.cache_block`). Block ``i`` holds members ``i, i + c, i + 2c, ...``
    of ``c`` blocks: a batch sharded over devices along its axis keeps each device's members on
    it. The batch is padded with copies of its first member to a multiple of the block, and
    cut back. With ``size`` ``None`` or at least the batch, this is ``jax.vmap(fn)``.
    """
    each = jax.vmap(fn)
    if size is None:
        return each

    def run(*args):
        batch = jax.tree_util.tree_leaves(args)[0].shape[0]
        if batch <= size:
            return each(*args)
        count = -(-batch // size)
        per_block = -(-batch // count)
        padded = count * per_block

        def split(x):
            return jnp.swapaxes(pad_to(x, padded).reshape(per_block, count, *x.shape[1:]), 0, 1)

        def join(y):
            return jnp.swapaxes(y, 0, 1).reshape(padded, *y.shape[2:])[:batch]

        out = lax.map(lambda block: each(*block), jax.tree_util.tree_map(split, args))
        return jax.tree_util.tree_map(join, out)

    return run


def narrowed_while(running, body, consts, state, sizes=None):
    """``while any(running(consts, state)): state = body(consts, state, live)``, narrowing.

    Args:
      running: ``(consts, state) -> (B,) bool``, the members still to step.
      body: ``(consts, state, live) -> state``, one step of the whole batch; ``live`` is
        ``running`` of the input. Members not ``live`` keep their state whatever ``body``
        returns for them.
      consts: per-member inputs the loop reads but does not change (leaves lead with ``B``).
      state: the loop state (leaves lead with ``B``).
      sizes: the levels (default :func:`levels` of ``B``).

    Returns:
      The final state of every member, as a ``vmap``-ped ``while_loop`` would give it (up to
      the last digits: XLA may round differently at different batch sizes).
    """
    if sizes is None:
        sizes = levels(jax.tree_util.tree_leaves(state)[0].shape[0])
    until = sizes[1] if len(sizes) > 1 else 0

    def step(st):
        live = running(consts, st)
        return select(live, body(consts, st, live), st)

    state = lax.while_loop(lambda st: jnp.sum(running(consts, st)) > until, step, state)
    if len(sizes) == 1:
        return state
    idx = first(running(consts, state), sizes[1])
    return put(state, idx, narrowed_while(running, body, take(consts, idx), take(state, idx), sizes[1:]))
