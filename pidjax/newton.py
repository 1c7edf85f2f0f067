"""Second-order solver: a primal-dual interior-point Newton method for BROJA.

The dual of the BROJA program (../PID_MATH.md) maximises ``G(a, b) = sum a P(x1,y) + sum b
P(x2,y)`` subject to ``s(x1, x2) = logsumexp_y(a + b) <= 0`` on every possible pair; the
primal plan is ``Q = w(x1, x2) * c(y | x1, x2)`` with ``c = softmax_y(a + b)`` and pair masses
``w >= 0``. Optimality is: both marginals of ``Q`` match ``P`` and ``w * (-s) = 0``. This
module applies Newton's method to those conditions with the complementarity relaxed to
``w * (-s) = mu`` and ``mu`` shrunk by a fixed factor of the current average each step, keeping
``w > 0`` and ``s < 0`` (fraction to the boundary, then backtracking on ``s``). Every iterate
is therefore dual-feasible, and the certificate of :mod:`pidjax.solver` (rounded primal vs
dual value) bounds the error of each PID term.

The Newton system has ``(m + n) k`` unknowns once ``dw`` is eliminated. Its ``a``-block is
block-diagonal (one ``k x k`` block per state of X1), so it is eliminated first and the Schur
complement on the ``b``-block (``n k`` square, dense) is solved by Cholesky; the modality with
fewer states is put on the ``b`` side. About 10-20 steps reach 1e-6 bits, interior or boundary
optimum alike. When the gap stops falling (tiny masses whose dual coordinates run off to minus
infinity), the run is finished by IPFP warm-started at the Newton point; the reported
``iterations`` count both kinds of step.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from pidjax.narrowing import blockwise, narrowed_while, select
from pidjax.placement import cache_block
from pidjax.solver import (
    Solution, SolverState, Support, certificate, ipfp_loop_batch, masked_logsumexp, one_table, support_of,
)

_MAX_HALVINGS = 30  # backtracking halvings of a step before giving up on it
_SIGMA = 0.3  # target complementarity as a fraction of the current average
_BOUNDARY = 0.99  # fraction of the way to w = 0 a step may go
_HIGHEST = lax.Precision.HIGHEST  # no reduced-precision (TF32-style) matmuls
_PATIENCE = 10  # Newton steps without a 1% gap decrease before handing over to IPFP
RIDGE = 16.0  # default ridge of the Newton system, in units of eps (its diagonal is scaled to 1)
POLISH_ITERS = 5000  # cap on the IPFP steps that finish a stalled Newton run


class NewtonState(NamedTuple):
    a: jnp.ndarray  # (m, k) dual log-scalings of X1 rows
    b: jnp.ndarray  # (n, k) dual log-scalings of X2 rows
    w: jnp.ndarray  # (m, n) primal pair masses
    gap: jnp.ndarray  # () certified gap of the iterate (nats)
    iterations: jnp.ndarray
    best: jnp.ndarray  # () smallest gap seen
    idle: jnp.ndarray  # () steps since the gap last fell below 0.99 * best
    best_point: tuple  # (a, b, w) of the smallest gap seen: where a stalled run is finished from


def _pair_s(sup: Support, a, b):
    return masked_logsumexp(a[:, None, :] + b[None, :, :], sup.cell, 2)


class SchurFactor(NamedTuple):
    """The factored Newton system of :func:`schur_factor`, reusable for several right-hand sides."""

    inv_a: jnp.ndarray  # (m, k, k) inverses of the a-blocks
    x: jnp.ndarray  # (m, k, n k) inv_a times the coupling rows
    coupling: jnp.ndarray  # (m k, n k)
    chol: jnp.ndarray  # (n k, n k) lower Cholesky factor of the Schur complement
    mask_a: jnp.ndarray  # (m, k) used coordinates of a
    mask_b: jnp.ndarray  # (n, k) used coordinates of b
    scale_a: jnp.ndarray  # (m, k) diagonal scaling of the a coordinates, 1 / sqrt(H_ii)
    scale_b: jnp.ndarray  # (n, k) diagonal scaling of the b coordinates


def schur_factor(sup: Support, q, gamma, c, ridge=RIDGE) -> SchurFactor:
    """Factor ``H = sum_pairs [diag(q) + gamma c c']`` in the (a, b) layout.

    Args:
      q: (m, n, k) cell weights on the diagonal part of every pair's block.
      gamma: (m, n) weight of the rank-one part ``c c'`` of every pair's block.
      c: (m, n, k) per-pair vectors (the conditional ``Q(y | x1, x2)``).
      ridge: diagonal regularisation in units of eps, added after scaling the diagonal to 1
        (may be traced: a caller raises it to retry a step whose system lost definiteness to
        rounding).

    Returns:
      A :class:`SchurFactor`; :func:`schur_apply` solves with it. The ``a``-blocks are inverted
      and the ``n k`` square Schur complement on the ``b``-block is Cholesky-factored, so a
      second right-hand side costs two triangular solves and a few matrix-vector products.
    """
    m, n, k = sup.cell.shape
    dtype = q.dtype
    mask_a = sup.log_p1 > -jnp.inf
    mask_b = sup.log_p2 > -jnp.inf
    eye = jnp.eye(k, dtype=dtype)
    # The pair blocks are laid out (x1, y, x2, y') from the start, the layout of the coupling
    # matrix: transposing (m, n, k, k) blocks into it afterwards was the dearest fusion of a
    # step in a CPU profile (strided writes). Only (m, n, k) arrays are transposed now.
    c_t = jnp.transpose(c, (0, 2, 1))  # (m, k, n)
    outer = _flush(gamma[:, None, :, None] * c_t[:, :, :, None] * c[:, None, :, :])  # (m, k, n, k)
    h_ab = outer + jnp.transpose(q, (0, 2, 1))[:, :, :, None] * eye[None, :, None, :]
    # Unused (state, label) coordinates do not enter the problem: pin them with a unit diagonal.
    h_aa = outer.sum(2) + (q.sum(1) + jnp.where(mask_a, 0.0, 1.0))[:, :, None] * eye
    h_bb = jnp.transpose(outer.sum(0), (1, 0, 2)) + (q.sum(0) + jnp.where(mask_b, 0.0, 1.0))[:, :, None] * eye
    # Symmetric (Jacobi) scaling to a unit diagonal. Coordinates of sparse tables carry masses
    # from 1e-20 to 1: unscaled, the factorisation's rounding and the ridge swamp the small
    # ones, the steps stop meeting the marginals and the gap stalls far above the barrier's.
    s_a = _unit_diagonal_scaling(h_aa)
    s_b = _unit_diagonal_scaling(h_bb)
    h_aa = s_a[:, :, None] * h_aa * s_a[:, None, :]
    h_bb = s_b[:, :, None] * h_bb * s_b[:, None, :]
    ridge_abs = jnp.finfo(dtype).eps * ridge
    # Explicit k x k inverses: on CPU batched inverses and plain matmuls beat per-block
    # triangular solves by a wide margin, and any inaccuracy only slows the solver, never the
    # certificate.
    inv_a = spd_inverse(h_aa + ridge_abs * eye)  # (m, k, k)
    coupling = (s_a[:, :, None, None] * h_ab * s_b[None, None, :, :]).reshape(m, k, n * k)
    x = jnp.matmul(inv_a, coupling, precision=_HIGHEST)  # (m, k, n k)
    flat_c = coupling.reshape(m * k, n * k)
    # The b-blocks on the diagonal as a broadcast product, which XLA fuses into the subtraction;
    # jax.scipy.linalg.block_diag pads and concatenates n blocks into a matrix of its own
    # (a tenth of the memory traffic of a step on a 10x10x10 or 16x16x10 table).
    diag = (jnp.eye(n, dtype=dtype)[:, None, :, None] * h_bb[:, :, None, :]).reshape(n * k, n * k)
    schur = diag - jnp.matmul(flat_c.T, x.reshape(m * k, n * k), precision=_HIGHEST)
    # (a + t_y, b - t_y) changes nothing; a rank-k term along those null directions fixes it.
    # In scaled coordinates they are (a + t_y / s_a, b - t_y / s_b), normalised per label.
    null = jnp.where(mask_b, 1.0 / s_b, 0.0)
    null = null / jnp.sqrt(jnp.maximum(jnp.sum(null * null, 0, keepdims=True), jnp.finfo(dtype).tiny))
    gauge = jnp.einsum("jy,ly,yz->jylz", null, null, eye).reshape(n * k, n * k)
    schur = schur + gauge + ridge_abs * jnp.eye(n * k, dtype=dtype)
    # Symmetric by construction up to rounding, and only its lower triangle is read: skip the
    # (S + S') / 2 pass of jnp.linalg.cholesky, a strided read of the whole matrix.
    chol = lax.linalg.cholesky(schur, symmetrize_input=False)
    return SchurFactor(inv_a, x, flat_c, chol, mask_a, mask_b, s_a, s_b)


def schur_apply(f: SchurFactor, g_a, g_b):
    """Solve the factored system for right-hand sides ``g_a`` (m, k) and ``g_b`` (n, k).

    Returns ``(d_a, d_b)`` with unused coordinates zero; the label gauge is fixed by
    ``sum_x2 H[(x2, y), (x2, y)] d_b(x2, y) = 0`` for every label ``y``.
    """
    m, k = g_a.shape
    g_a, g_b = g_a * f.scale_a, g_b * f.scale_b
    y_a = jnp.matmul(f.inv_a, g_a[:, :, None], precision=_HIGHEST)[:, :, 0]
    rhs_b = g_b.reshape(-1) - jnp.matmul(f.coupling.T, y_a.reshape(m * k), precision=_HIGHEST)
    d_b = jax.scipy.linalg.cho_solve((f.chol, True), rhs_b[:, None])[:, 0]
    d_a = (y_a - jnp.matmul(f.x, d_b, precision=_HIGHEST)) * f.scale_a
    d_b = d_b * f.scale_b.reshape(-1)
    return jnp.where(f.mask_a, d_a, 0.0), jnp.where(f.mask_b, d_b.reshape(g_b.shape), 0.0)


def _unit_diagonal_scaling(blocks):
    """``1 / sqrt(diag)`` of the ``k x k`` blocks (p, k, k), 1 where a diagonal entry is not positive."""
    d = jnp.diagonal(blocks, axis1=1, axis2=2)
    return jnp.where(d > 0, lax.rsqrt(jnp.where(d > 0, d, 1.0)), 1.0)


def spd_inverse(a):
    """Inverses of symmetric positive definite matrices ``a`` (..., k, k), by Gauss-Jordan.

    One sweep per pivot, in elementwise array operations over the whole batch: on CPU this is
    3-9x faster than ``jnp.linalg.inv`` (LAPACK LU and two triangular solves per matrix) for
    the k x k blocks of the Newton system, and as accurate on them. Positive definiteness makes
    pivoting unnecessary: every pivot is a Schur complement of a positive definite matrix.
    """
    k = a.shape[-1]
    index = jnp.arange(k)

    def sweep(j, a):
        pivot = a[..., j, j]
        row = a[..., j, :] / pivot[..., None]
        col = a[..., :, j]
        new = a - col[..., :, None] * row[..., None, :]
        on_row = (index == j)[:, None]
        on_col = (index == j)[None, :]
        new = jnp.where(on_row, row[..., None, :], new)
        new = jnp.where(on_col, -col[..., :, None] / pivot[..., None, None], new)
        return jnp.where(on_row & on_col, 1.0 / pivot[..., None, None], new)

    return lax.fori_loop(0, k, sweep, a)


def _schur_solve(sup: Support, q, gamma, c, g_a, g_b, ridge=RIDGE):
    """Solve ``H d = g`` for ``H`` of :func:`schur_factor` and one right-hand side ``(g_a, g_b)``."""
    return schur_apply(schur_factor(sup, q, gamma, c, ridge), g_a, g_b)


def _flush(x):
    """Zero entries below the square root of the smallest normal number.

    Sparse tables drive some conditionals and pair masses towards zero; their products would
    be subnormal numbers, which CPUs handle tens of times more slowly. Values this small carry
    no weight in the Newton system, and the certificate does not depend on them.
    """
    floor = jnp.sqrt(jnp.finfo(x.dtype).tiny)
    return jnp.where(jnp.abs(x) < floor, 0.0, x)


def _pair_terms(sup: Support, a, b):
    """``s`` (m, n) and the conditionals ``c = exp(a + b - s)`` (m, n, k) on the support."""
    s = _pair_s(sup, a, b)
    s_safe = jnp.where(sup.pair, s, 0.0)
    c = jnp.where(sup.cell, jnp.exp(a[:, None, :] + b[None, :, :] - s_safe[:, :, None]), 0.0)
    return s, _flush(c)


def max_step(mask, x, dx):
    """Largest ``t`` with ``x + t dx >= 0`` on ``mask`` (``inf`` where nothing shrinks)."""
    shrinking = mask & (dx < 0)
    return jnp.min(jnp.where(shrinking, x / jnp.where(shrinking, -dx, 1.0), jnp.inf))


def _as_scalings(sup: Support, a, b, w):
    """The plan ``w * c(a, b)`` in the IPFP form ``exp(log_a + alpha + beta)``."""
    s = _pair_s(sup, a, b)
    log_a = jnp.where(sup.pair, jnp.log(jnp.where(sup.pair, w, 1.0)) - jnp.where(sup.pair, s, 0.0), -jnp.inf)
    alpha = jnp.where(sup.log_p1 > -jnp.inf, a, -jnp.inf)
    beta = jnp.where(sup.log_p2 > -jnp.inf, b, -jnp.inf)
    return log_a, alpha, beta


def _certify(sup: Support, a, b, w):
    """Certificate of the plan ``w * c(a, b)`` against the dual point ``(a, b)``."""
    return certificate(sup, *_as_scalings(sup, a, b, w))


def _init(sup: Support):
    """Strictly feasible start: ``a = log P(y | x1) - 1``, ``b = 0`` (so ``s <= -1``), ``w`` centred."""
    p_x1 = sup.p1.sum(1, keepdims=True)
    a = jnp.where(sup.log_p1 > -jnp.inf, sup.log_p1 - jnp.log(jnp.where(p_x1 > 0, p_x1, 1.0)) - 1.0, 0.0)
    b = jnp.zeros_like(sup.p2)
    mu = 1.0 / jnp.maximum(sup.pair.sum(), 1).astype(a.dtype)
    s = _pair_s(sup, a, b)
    w = jnp.where(sup.pair, mu / jnp.where(sup.pair, -s, 1.0), 0.0)
    return a, b, w


def _step(sup: Support, a, b, w):
    """One damped primal-dual Newton step; returns the new ``(a, b, w)``."""
    s, c = _pair_terms(sup, a, b)
    neg_s = jnp.where(sup.pair, -s, 1.0)
    mu = _SIGMA * jnp.sum(jnp.where(sup.pair, w * neg_s, 0.0)) / jnp.maximum(sup.pair.sum(), 1)
    # Eliminating dw from the linearised w * (-s) = mu leaves a system in (da, db) whose
    # right-hand side is the marginal residual of the plan the target mu implies.
    centred = jnp.where(sup.pair, mu / neg_s, 0.0)
    implied = centred[:, :, None] * c
    g_a = jnp.where(sup.log_p1 > -jnp.inf, sup.p1 - implied.sum(1), 0.0)
    g_b = jnp.where(sup.log_p2 > -jnp.inf, sup.p2 - implied.sum(0), 0.0)
    w_eff = _flush(w)
    d_a, d_b = _schur_solve(sup, _flush(w_eff[:, :, None] * c), _flush(w_eff * (1.0 / neg_s - 1.0)), c, g_a, g_b)
    ds = jnp.sum(c * (d_a[:, None, :] + d_b[None, :, :]), -1)
    d_w = jnp.where(sup.pair, centred - w + w * ds / neg_s, 0.0)
    t_max = jnp.minimum(1.0, _BOUNDARY * max_step(sup.pair, w, d_w))

    def infeasible(t):
        s_new = _pair_s(sup, a + t * d_a, b + t * d_b)
        return jnp.any(jnp.where(sup.pair, s_new >= 0, False))

    # Backtrack only while needed: most steps are feasible at once, and under vmap a loop
    # costs what its slowest member needs, not a fixed number of trials.
    def halve(carry):
        t, tries = carry
        return t * 0.5, tries + 1

    def keep_going(carry):
        t, tries = carry
        return (tries < _MAX_HALVINGS) & infeasible(t)

    t, tries = lax.while_loop(keep_going, halve, (t_max, jnp.asarray(0, jnp.int32)))
    t = jnp.where(infeasible(t), 0.0, t)
    a_new, b_new, w_new = a + t * d_a, b + t * d_b, w + t * d_w
    # A step spoiled by round-off (a singular system near the end of a long run) is refused:
    # the iterate then stalls and the run is finished by IPFP instead of returning NaN.
    sound = (
        jnp.all(jnp.isfinite(a_new)) & jnp.all(jnp.isfinite(b_new))
        & jnp.all(jnp.where(sup.pair, jnp.isfinite(w_new) & (w_new > 0), True))
    )
    return jnp.where(sound, a_new, a), jnp.where(sound, b_new, b), jnp.where(sound, w_new, w)


def _solve(P, tol, max_iters) -> Solution:
    """Solve a batch ``P`` (B, m, n, k); ``max_iters`` is an int or a per-member budget (B,).

    The certificate reported is the one computed in the loop for the best iterate: computing
    it again in a batch of another shape (the loops narrow) could round differently and, in
    float32, move a gap that met ``tol`` just above it.
    """
    each = jax.vmap
    sup = each(support_of)(P)
    a, b, w = each(_init)(sup)
    budget = jnp.broadcast_to(jnp.asarray(max_iters, jnp.int32), P.shape[:1])

    def running(consts, carry):
        st, _ = carry
        return (st.gap > tol) & (st.iterations < consts[1]) & (st.idle < _PATIENCE)

    def one(sup, carry):
        st, best_cert = carry
        a, b, w = _step(sup, st.a, st.b, st.w)
        cert = _certify(sup, a, b, w)
        gap = cert.gap
        progress = gap < 0.99 * st.best
        better = gap < st.best
        best_point, best_cert = select(better, ((a, b, w), cert), (st.best_point, best_cert))
        return NewtonState(
            a, b, w, gap, st.iterations + 1, jnp.minimum(gap, st.best), jnp.where(progress, 0, st.idle + 1),
            best_point,
        ), best_cert

    step = blockwise(one, cache_block(P.shape[-3:], P.dtype))  # cache-sized blocks on CPU
    cert0 = each(_certify)(sup, a, b, w)
    zero = jnp.zeros(P.shape[:1], jnp.int32)
    start = NewtonState(a, b, w, cert0.gap, zero, cert0.gap, zero, (a, b, w))
    state, cert = narrowed_while(running, lambda c, st, live: step(c[0], st), (sup, budget), (start, cert0))
    # A stall comes from coordinates whose optimal dual value is at minus infinity (labels a
    # pair can carry only a vanishing mass of); IPFP warm-started at the best Newton point
    # finishes those (steps taken past it near the rounding floor can be worse). Members that
    # converged get no IPFP steps.
    polish = SolverState(*each(_as_scalings)(sup, *state.best_point), state.best, state.iterations)
    stalled = state.idle >= _PATIENCE  # not merely out of steps: the cap is the user's
    polish, cert = ipfp_loop_batch(sup, polish, cert, tol, jnp.where(stalled, POLISH_ITERS, 0), 10)
    return Solution.of(cert, polish.iterations)


def fewer_states_second(solve, P, tol, max_iters: int, *given: Solution) -> Solution:
    """``solve(P, tol, max_iters, *given)`` with the modality of fewer states on the ``b`` side.

    The dense Schur complement of :func:`_schur_solve` is ``n k`` square, so a table with
    ``n > m`` is solved transposed and its plan and dual point swapped back. ``P`` is one
    table ``(m, n, k)`` or a batch ``(B, m, n, k)``; ``given`` are solutions of ``P`` that
    ``solve`` continues from, swapped into its orientation with it.
    """
    m, n, _ = P.shape[-3:]
    if n > m:
        return solve(jnp.swapaxes(P, -3, -2), tol, max_iters, *(s.swapped() for s in given)).swapped()
    return solve(P, tol, max_iters, *given)


def solve_newton(P, tol, max_iters: int, check_every: int = 1) -> Solution:
    """Primal-dual Newton for one table ``(m, n, k)`` until the certified gap <= ``tol`` (nats).

    ``check_every`` is accepted for a common signature with IPFP; the gap is checked every
    step since a step costs far more than a check. This is :func:`solve_newton_batch` on a
    batch of one.
    """
    return one_table(solve_newton_batch, P, tol, max_iters, check_every)


def solve_newton_batch(P, tol, max_iters: int, check_every: int = 1) -> Solution:
    """Primal-dual Newton for a batch ``(B, m, n, k)``; fields of the result lead with ``B``.

    Both the Newton loop and the IPFP finish narrow to their running members
    (:func:`pidjax.narrowing.narrowed_while`): a batch costs about its typical member's
    steps, not its slowest member's steps times its size.
    """
    del check_every
    return fewer_states_second(_solve, P, tol, max_iters)
