"""Cell-barrier primal-dual interior-point solver for BROJA.

The primal is ``min f(Q) = sum Q log Q(y | x1, x2)`` over plans ``Q >= 0`` on the support with
both pairwise marginals of ``P`` (../PID_MATH.md). This solver keeps a log barrier on every
cell, so an optimum on the boundary (cells the optimal plan leaves empty: AND-like gates,
sparse clustered tables) is approached along the central path in the same few steps as an
interior one; a method whose only barrier is on pair masses has to send the dual coordinates
of such cells to minus infinity and crawls there.

Optimality with the barrier relaxed by ``mu``: ``log Q(y | x1, x2) - a(x1, y) - b(x2, y) = z``,
``Q z = mu`` cell by cell, marginals met. Eliminating ``dz`` leaves a per-pair Hessian
``diag((1 + z) / Q) - 1 1' / Q(x1, x2)`` whose inverse is diagonal plus rank one (Sherman and
Morrison), so the reduced system in ``(da, db)`` has exactly the block structure that
:func:`pidjax.newton.schur_factor` factors by a Schur complement. Each step is Mehrotra's
predictor-corrector on that one factorisation. ``a + b <= log Q(y | x1, x2)``
(``z >= 0``) keeps every iterate's dual point close to feasible; the certificate of
:mod:`pidjax.solver` shifts it onto the feasible set and bounds the error of each PID term.

Degenerate tables (masses spread over hundreds of orders of magnitude, near-deterministic or
very sparse ones) can stall the central path or send dual coordinates off to huge values.
A member whose gap stops falling, or that runs out of steps, is handed to the pair-barrier
Newton solver of :mod:`pidjax.newton` (with its IPFP finish); :func:`solve_ipm_batch` runs
that second solver only when some member of the batch needs it.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from pidjax import newton
from pidjax.narrowing import blockwise, first, levels, narrowed_while, put, select, take
from pidjax.newton import RIDGE, fewer_states_second, max_step, schur_apply, schur_factor
from pidjax.placement import cache_block
from pidjax.solver import Solution, Support, certify, one_table, support_of

_SHRINK = 0.8  # largest fraction of a cell's mass one step may remove (0.7: ~25% more steps; 0.93 stalls)
_RETRY_SHRINK = (0.5, 0.3)  # the same in the second and third runs of a float32 member whose run stalled (_restart)
_BOUNDARY = 0.99  # fraction of the way to z = 0 a step may go
_SIGMA = 0.1  # target complementarity as a fraction of the current average (largest)
_SIGMA_MIN = 1e-2  # smallest centring the predictor may choose
_PATIENCE = 10  # steps without a 1% gap decrease before a float32 restart or the Newton hand-over
_BARRIER_FLOOR = 0.25  # the centring target never asks for sum(Q z) below this times tol (see _step)
_CERTIFY_BELOW = 4.0  # certify once sum(Q z) <= this times tol (where a gap first met tol, it was <= 3.2 tol)


class IPMState(NamedTuple):
    q: jnp.ndarray  # (m, n, k) primal plan, > 0 on the support
    a: jnp.ndarray  # (m, k) dual log-scalings of X1 rows
    b: jnp.ndarray  # (n, k)
    z: jnp.ndarray  # (m, n, k) cell slacks, > 0 on the support
    gap: jnp.ndarray  # () certified gap of the iterate (nats)
    iterations: jnp.ndarray
    ridge: jnp.ndarray  # () regularisation of the Newton system, raised after a refused step
    best: jnp.ndarray  # () smallest gap seen
    idle: jnp.ndarray  # () steps without progress (see solve_ipm_batch)
    barrier: jnp.ndarray  # () smallest barrier gap sum(Q z) seen
    shrink: jnp.ndarray  # () largest fraction of a cell's mass a step may remove: _SHRINK, then _RETRY_SHRINK


def _masked_log(x, mask):
    return jnp.where(mask, jnp.log(jnp.where(mask, x, 1.0)), 0.0)


def _log_conditional(sup: Support, q):
    w = q.sum(-1)
    return jnp.where(sup.cell, _masked_log(q, sup.cell) - _masked_log(w, sup.pair)[:, :, None], 0.0)


def _init(sup: Support):
    """Start at the per-label independent coupling, dual point strictly inside, ``z >= 1``."""
    p_y = sup.p1.sum(0)
    q = jnp.where(sup.cell, sup.p1[:, None, :] * sup.p2[None, :, :] / jnp.where(p_y > 0, p_y, 1.0), 0.0)
    log_c = _log_conditional(sup, q)
    a = jnp.min(jnp.where(sup.cell, log_c, jnp.inf), axis=1) - 1.0
    a = jnp.where(sup.log_p1 > -jnp.inf, a, 0.0)
    b = jnp.zeros_like(sup.p2)
    z = jnp.where(sup.cell, log_c - a[:, None, :] - b[None, :, :], 0.0)
    return q, a, b, z


def _factor(sup: Support, q, z, ridge):
    """The factored reduced Newton system at ``(q, z)``; it does not depend on ``mu``.

    Returns ``(e, gamma, factor)``: the per-pair inverse Hessian is ``diag(e) + gamma e e'``.
    """
    e = jnp.where(sup.cell, q / (1.0 + z), 0.0)  # inverse of the diagonal part
    rest = jnp.sum(jnp.where(sup.cell, q * z / (1.0 + z), 0.0), -1)  # Q(x1, x2) - sum(e) > 0
    gamma = jnp.where(sup.pair, 1.0 / jnp.where(sup.pair, rest, 1.0), 0.0)
    return e, gamma, schur_factor(sup, e, gamma, e, ridge)


def _direction(sup: Support, q, z, dual_residual, target, system):
    """Newton direction ``(dQ, da, db, dz)`` towards ``Q z = target`` (scalar or per cell).

    ``dual_residual`` is ``a + b - log Q(y | x1, x2)`` on the support (m, n, k).
    """
    e, gamma, factor = system
    q_safe = jnp.where(sup.cell, q, 1.0)
    g = jnp.where(sup.cell, dual_residual + target / q_safe, 0.0)

    def h_inv(v):
        return e * v + gamma[:, :, None] * e * jnp.sum(e * v, -1, keepdims=True)

    hg = h_inv(g)
    r_a = jnp.where(sup.log_p1 > -jnp.inf, sup.p1 - q.sum(1) - hg.sum(1), 0.0)
    r_b = jnp.where(sup.log_p2 > -jnp.inf, sup.p2 - q.sum(0) - hg.sum(0), 0.0)
    d_a, d_b = schur_apply(factor, r_a, r_b)
    d_q = jnp.where(sup.cell, h_inv(g + d_a[:, None, :] + d_b[None, :, :]), 0.0)
    d_z = jnp.where(sup.cell, (target - q * z - z * d_q) / q_safe, 0.0)
    return d_q, d_a, d_b, d_z


def _room(sup: Support, q, z, d_q, d_z, shrink=_SHRINK):
    """Step length: at most 1, removing at most ``shrink`` of a cell's mass, ``z`` kept > 0."""
    return jnp.minimum(1.0, jnp.minimum(shrink * max_step(sup.cell, q, d_q), _BOUNDARY * max_step(sup.cell, z, d_z)))


def _step(sup: Support, n_cells, q, a, b, z, ridge, floor=0.0, shrink=_SHRINK):
    """One damped Newton step; returns the new ``(q, a, b, z)`` and whether it was taken.

    Mehrotra's predictor-corrector: the affine direction (``mu = 0``) and how far it can go
    set the centring ``sigma = (mu_affine / mu)^3`` (clipped to ``[_SIGMA_MIN, _SIGMA]``), and the
    corrector adds the second-order term ``dQ dz`` of the affine direction to the target.
    Both directions use one factorisation, so the corrector costs two triangular solves and
    a few elementwise passes, not a second Schur complement.

    The centring target is at least ``floor / n_cells`` per cell (``floor`` in nats: the
    barrier gap ``sum Q z`` the caller needs, :data:`_BARRIER_FLOOR` times ``tol``). Near the
    end the certified gap is one to three times ``sum Q z``, so a barrier this low already
    meets ``tol``; going further gains nothing and costs accuracy: the rank-one part of each
    pair's block grows as ``1 / sum Q z`` and, in float32, the directions of a system that
    ill-conditioned take the plan off its marginals; the gap then rises again while ``sum Q z`` falls, and the table is
    handed over to Newton and its IPFP finish. Float32 dense 10x10x10 tables, 400 of them: 4
    handed over (up to 1,337 steps) without the floor, none with it (max 15 steps).

    ``shrink`` is the largest fraction of a cell's mass the step may remove (:func:`_room`).
    """
    mu = jnp.sum(jnp.where(sup.cell, q * z, 0.0)) / n_cells
    system = _factor(sup, q, z, ridge)
    dual_residual = jnp.where(sup.cell, a[:, None, :] + b[None, :, :] - _log_conditional(sup, q), 0.0)
    p_q, _, _, p_z = _direction(sup, q, z, dual_residual, 0.0, system)
    t_aff = _room(sup, q, z, p_q, p_z, shrink)
    mu_aff = jnp.sum(jnp.where(sup.cell, (q + t_aff * p_q) * (z + t_aff * p_z), 0.0)) / n_cells
    sigma = jnp.clip((mu_aff / mu) ** 3, _SIGMA_MIN, _SIGMA)
    target = jnp.where(sup.cell, jnp.maximum(sigma * mu, floor / n_cells) - p_q * p_z, 0.0)
    d_q, d_a, d_b, d_z = _direction(sup, q, z, dual_residual, target, system)
    t = _room(sup, q, z, d_q, d_z, shrink)
    q_new = jnp.where(sup.cell, q + t * d_q, 0.0)
    z_new = jnp.where(sup.cell, z + t * d_z, 0.0)
    a_new, b_new = a + t * d_a, b + t * d_b
    # A step spoiled by round-off (a system that lost definiteness near the end) is refused:
    # the iterate stays where it was and the caller retries with a larger ridge.
    sound = (
        jnp.all(jnp.isfinite(a_new)) & jnp.all(jnp.isfinite(b_new))
        & jnp.all(jnp.where(sup.cell, jnp.isfinite(q_new) & (q_new > 0) & (z_new > 0), True))
    )
    keep = lambda new, old: jnp.where(sound, new, old)  # noqa: E731
    return keep(q_new, q), keep(a_new, a), keep(b_new, b), keep(z_new, z), sound


def _complementarity(sup: Support, q, z):
    """``sum Q z`` over the support (nats): the barrier's own duality gap, no certificate."""
    return jnp.sum(jnp.where(sup.cell, q * z, 0.0))


def solve_ipm(P, tol, max_iters: int, check_every: int = 1) -> Solution:
    """Interior-point solve of one table ``(m, n, k)`` until the certified gap <= ``tol`` (nats).

    ``check_every`` is accepted for a common signature with IPFP; the gap is checked every
    step once the iterate is close (see :func:`solve_ipm_batch`, which this calls on a batch of
    one).
    """
    return one_table(solve_ipm_batch, P, tol, max_iters, check_every)


def solve_ipm_batch(P, tol, max_iters: int, check_every: int = 1, hand_over: bool = True) -> Solution:
    """Interior-point solve of a batch ``(B, m, n, k)``; fields of the result lead with ``B``.

    The loop runs over the whole batch, each member frozen once it is done (as ``vmap`` of a
    ``while_loop`` would), so that batch-wide decisions can skip work no member needs:

    - a step computes certificates only when some member's barrier gap ``sum Q z`` is within
      :data:`_CERTIFY_BELOW` times ``tol`` (the start is certified before the loop): earlier,
      no member's certificate could meet ``tol``, and a certificate costs about half a step
      on small tables (clustered 8x8x4, float64: 11 against 23 us);
    - once at most an eighth of the members are still running (batches of 64 or more), those
      go on in a batch of that size, and so on (:func:`pidjax.narrowing.narrowed_while`): a
      batch costs about its typical member's steps, not its slowest member's times its size;
    - in float32, a member whose run stalls starts again from the beginning with shorter
      steps, at most twice (:func:`_restart`), in whatever level of the loop it is in;
    - members that failed are handed to :mod:`pidjax.newton` in groups of the smallest size;
      nothing runs when every member converged. With ``hand_over=False`` they are returned as
      the interior point left them, for :func:`hand_over_unconverged` to finish in a separate compiled
      call: the Newton solver in the program is about half of its compile time (4x4x3 and
      5x5x3 tables: 5.5 and 8.8 s with it, 2.8 and 5.0 s without), paid on every new shape
      although few batches need it.

    The last digits of a member's iterates can depend on the batch shape it is computed in
    (as with any change of batch size under XLA); on degenerate tables that can change its
    step count or move its plan along nearly flat directions, so a member agrees with a lone
    solve within the certified bounds, not bit for bit.

    A member's patience counts steps without a 1% fall of its certified gap, or of its barrier
    gap while it is not yet being certified.
    """
    del check_every
    # In the batch's precision: a float64 tol (a NumPy scalar, or any array under x64) would
    # otherwise promote a float32 batch's steps to float64 and break the loop's carry types.
    return fewer_states_second(partial(_solve_batch, hand_over=hand_over), P, jnp.asarray(tol, P.dtype), max_iters)


def hand_over_unconverged(P, tol, max_iters: int, sol: Solution) -> Solution:
    """``sol`` from ``solve_ipm_batch(P, tol, max_iters, hand_over=False)``, finished as with ``hand_over=True``.

    Members whose gap is above ``tol`` (nats) are solved again by :mod:`pidjax.newton` within
    the steps they have left of ``max_iters``, in groups of the loop's smallest level; each
    keeps the better of its two certified answers. ``P`` is ``(B, m, n, k)``, ``sol`` the
    solution of the same batch; the other members are returned unchanged.
    """
    # In the orientation and precision solve_ipm_batch solved the batch in.
    return fewer_states_second(_hand_over, P, jnp.asarray(tol, P.dtype), max_iters, sol)


def _solve_batch(P, tol, max_iters: int, hand_over: bool = True) -> Solution:
    each = jax.vmap
    sup = each(support_of)(P)
    n_cells = jnp.maximum(sup.cell.sum((-3, -2, -1)), 1).astype(P.dtype)
    q, a, b, z = each(_init)(sup)
    block = cache_block(P.shape[-3:], P.dtype)  # steps and certificates run in cache-sized blocks
    step = blockwise(lambda sup, n_cells, q, a, b, z, ridge, shrink: _step(
        sup, n_cells, q, a, b, z, ridge, floor=_BARRIER_FLOOR * tol, shrink=shrink), block)
    gaps = blockwise(_gap, block)
    # Float64 tables that stall are better served by the Newton hand-over (Dirichlet(0.1)
    # 5x5x3: at most 37 steps in all, against 48-57 through restarts); float32 ones are not.
    retries = _RETRY_SHRINK if jnp.finfo(P.dtype).bits < 64 else ()
    last = retries[-1] if retries else jnp.inf

    def running(consts, st: IPMState):
        # A member that stalled runs on if it has a restart left (see body).
        return (st.gap > tol) & (st.iterations < max_iters) & ((st.idle < _PATIENCE) | (st.shrink > last))

    def body(consts, st: IPMState, live):
        sup, n_cells, first_state = consts  # first_state is None without restarts
        if retries:
            # A member whose run stalled starts again from the beginning with shorter steps
            # (see _restart); its steps go on counting.
            st = select(st.idle >= _PATIENCE, _restart(first_state, st, retries), st)
        q, a, b, z, sound = step(sup, n_cells, st.q, st.a, st.b, st.z, st.ridge, st.shrink)
        barrier = each(_complementarity)(sup, q, z)
        near = live & (barrier <= _CERTIFY_BELOW * tol)
        gap = lax.cond(jnp.any(near), lambda: jnp.where(near, gaps(sup, q, a, b), jnp.inf),
                       lambda: jnp.full_like(st.gap, jnp.inf))
        # Near the end the system can lose definiteness to rounding (cells pinned at tiny
        # masses); the step is then retried with a ridge ten times larger. (A thousand times,
        # as before the system was scaled, left float32 Dirichlet(0.1) 10x10x10 tables with
        # so much ridge that their plans drifted: median 64 steps, most handed over; now 12.)
        ridge = jnp.where(sound, jnp.maximum(st.ridge / 10.0, RIDGE), st.ridge * 10.0)
        progress = jnp.where(near, gap < 0.99 * st.best, barrier < 0.99 * st.barrier)
        return IPMState(q, a, b, z, gap, st.iterations + 1, ridge, jnp.minimum(gap, st.best),
                        jnp.where(progress, 0, st.idle + 1), jnp.minimum(barrier, st.barrier), st.shrink)

    gap0 = gaps(sup, q, a, b)
    zero = jnp.zeros(P.shape[:1], jnp.int32)
    start = IPMState(q, a, b, z, gap0, zero, jnp.full_like(gap0, RIDGE), gap0, zero, each(_complementarity)(sup, q, z),
                     jnp.full_like(gap0, _SHRINK))
    sizes = levels(P.shape[0])
    # Only restarts read the first state: without them it is not gathered at each level.
    state = narrowed_while(running, body, (sup, n_cells, start if retries else None), start, sizes)
    sol = blockwise(lambda s, q, a, b, it: Solution.of(certify(s, q, a, b), it), block)(
        sup, state.q, state.a, state.b, state.iterations)
    return _hand_over(P, tol, max_iters, sol) if hand_over else sol


def _hand_over(P, tol, max_iters: int, sol: Solution) -> Solution:
    """The members of ``sol`` that did not reach ``tol``, given to the Newton solver in groups
    of the smallest level's size, each with the steps it has left of ``max_iters``; nothing
    runs when every member converged."""
    group = levels(P.shape[0])[-1]

    def one_group(carry):
        out, pending = carry
        idx = first(pending, group)
        mine = pending[idx]
        # From ``out``, not ``sol``: the group is filled up with members that are not pending,
        # which may have been handed over by an earlier group.
        before = take(out, idx)
        budget = jnp.where(mine, max_iters - before.iterations, 0)
        fallback = newton._solve(P[idx], tol, budget)
        better = mine & (fallback.gap < before.gap)
        part = select(better, fallback, before)
        part = part._replace(iterations=before.iterations + jnp.where(mine, fallback.iterations, 0))
        return put(out, idx, part), pending.at[idx].set(False)

    out, _ = lax.while_loop(lambda c: jnp.any(c[1]), one_group, (sol, ~(sol.gap <= tol)))
    return out


def _restart(first_state: IPMState, st: IPMState, retries) -> IPMState:
    """The members of ``st`` back at their ``first_state``, to run again with shorter steps.

    A float32 run that stalls near the end does so by the rounding of its directions, which
    depends on the batch it runs in and on the step lengths; the next run removes at most the
    next fraction in ``retries`` (:data:`_RETRY_SHRINK`) of a cell's mass per step. The Newton
    solver, which would get the member otherwise, runs out of float32 resolution itself and
    leaves it to IPFP: float32 Dirichlet(0.1) 10x10x10, 1,024 tables: 176 stalled and took up
    to 854 steps that way; with these restarts none needs more than 159 steps.
    Steps taken so far are kept.
    """
    shrink = jnp.full_like(st.shrink, retries[-1])
    for fraction in reversed(retries[:-1]):
        shrink = jnp.where(st.shrink > fraction, fraction, shrink)
    return first_state._replace(iterations=st.iterations, shrink=shrink)


def _gap(sup: Support, q, a, b):
    """Certified gap of one iterate (nats)."""
    return certify(sup, q, a, b).gap
