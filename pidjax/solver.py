"""The BROJA optimisation: pure JAX functions on one joint table, and the batch loops over them.

Problem: minimise ``f(Q) = sum Q log Q(y | x1, x2)`` over ``Q >= 0`` with the pairwise
marginals ``Q(x1, y) = P(x1, y)`` and ``Q(x2, y) = P(x2, y)`` (../PID_MATH.md).

Method ("ipfp"): alternating minimisation in the log domain. The iterate is
``Q = A(x1, x2) * exp(alpha(x1, y) + beta(x2, y))`` on the support; one outer step replaces
``A`` by the pair marginal of ``Q`` and does one Sinkhorn sweep per label (warm-started
scalings). Every ``check_every`` steps the iterate is rounded onto the feasible set and a dual
point is built from the scalings; their gap certifies the error of every PID term.

Everything here works in nats; the step functions take one ``(m, n, k)`` table and the
``*_batch`` loops a batch of them. Structural zeros are ``-inf`` in the log domain behind
masks, never an epsilon.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from pidjax.info import xlogx
from pidjax.narrowing import narrowed_while, select


class Support(NamedTuple):
    """Marginals, their logs and the masks of where mass may sit, for one ``(m, n, k)`` table."""

    p1: jnp.ndarray  # (m, k) P(x1, y)
    p2: jnp.ndarray  # (n, k) P(x2, y)
    log_p1: jnp.ndarray  # (m, k), -inf where P(x1, y) = 0
    log_p2: jnp.ndarray  # (n, k)
    cell: jnp.ndarray  # (m, n, k) bool: P(x1, y) > 0 and P(x2, y) > 0
    pair: jnp.ndarray  # (m, n) bool: some label is possible for the pair


class SolverState(NamedTuple):
    """Iterate of the alternating minimisation: ``Q = exp(log_a + alpha + beta)`` on support."""

    log_a: jnp.ndarray  # (m, n)
    alpha: jnp.ndarray  # (m, k)
    beta: jnp.ndarray  # (n, k)
    gap: jnp.ndarray  # () certified gap of the last check, nats
    iterations: jnp.ndarray  # () outer steps taken


class Certificate(NamedTuple):
    """A feasible plan and a dual-feasible point bracketing the optimum (nats)."""

    q: jnp.ndarray  # (m, n, k) feasible up to rounding
    objective: jnp.ndarray  # () f(q) = -H_q(Y | X1, X2) >= f(Q*)
    gap: jnp.ndarray  # () f(q) - g(a, b) >= f(q) - f(Q*) >= 0
    marginal_violation: jnp.ndarray  # () largest |q(xi, y) - P(xi, y)|
    dual_a: jnp.ndarray  # (m, k) zero where P(x1, y) = 0
    dual_b: jnp.ndarray  # (n, k) zero where P(x2, y) = 0


class Solution(NamedTuple):
    """A feasible plan with its certificate, for one table (nats)."""

    q: jnp.ndarray  # (m, n, k) feasible up to rounding
    objective: jnp.ndarray  # () f(q) = -H_q(Y | X1, X2)
    gap: jnp.ndarray  # () f(q) - dual bound >= f(q) - f(Q*) >= 0
    iterations: jnp.ndarray
    marginal_violation: jnp.ndarray
    dual_a: jnp.ndarray  # (m, k) dual point of the certificate: d f(Q*) / d P(x1, x2, y)
    dual_b: jnp.ndarray  # (n, k)   is dual_a(x1, y) + dual_b(x2, y) on the support

    @classmethod
    def of(cls, cert: Certificate, iterations):
        """The solution reported for a final certificate."""
        return cls(cert.q, cert.objective, cert.gap, iterations, cert.marginal_violation, cert.dual_a, cert.dual_b)

    def swapped(self) -> "Solution":
        """The same solution for the table with its two modalities swapped (``P`` transposed
        in ``x1, x2``): the plan's first two axes swapped, and the two dual parts."""
        return self._replace(q=jnp.swapaxes(self.q, -3, -2), dual_a=self.dual_b, dual_b=self.dual_a)


def support_of(P) -> Support:
    """Marginals and support masks of one table ``P`` of shape ``(m, n, k)``."""
    p1 = P.sum(1)
    p2 = P.sum(0)
    m1 = p1 > 0
    m2 = p2 > 0
    log_p1 = jnp.where(m1, jnp.log(jnp.where(m1, p1, 1.0)), -jnp.inf)
    log_p2 = jnp.where(m2, jnp.log(jnp.where(m2, p2, 1.0)), -jnp.inf)
    cell = m1[:, None, :] & m2[None, :, :]
    return Support(p1, p2, log_p1, log_p2, cell, cell.any(-1))


def masked_logsumexp(x, mask, axis):
    """``log sum exp`` of ``x`` over ``axis`` where ``mask``; ``-inf`` where nothing is kept."""
    x = jnp.where(mask, x, -jnp.inf)
    top = jnp.max(x, axis=axis, keepdims=True)
    top = jnp.where(jnp.isfinite(top), top, 0.0)
    total = jnp.sum(jnp.where(mask, jnp.exp(x - top), 0.0), axis=axis)
    return jnp.squeeze(top, axis) + jnp.log(total)


def _sinkhorn_sweep(sup: Support, log_a, beta):
    """One scaling of rows then columns of every label slice of ``A * exp(alpha + beta)``."""
    to_rows = log_a[:, :, None] + beta[None, :, :]
    alpha = jnp.where(sup.log_p1 > -jnp.inf, sup.log_p1 - masked_logsumexp(to_rows, sup.cell, 1), -jnp.inf)
    to_cols = log_a[:, :, None] + alpha[:, None, :]
    beta = jnp.where(sup.log_p2 > -jnp.inf, sup.log_p2 - masked_logsumexp(to_cols, sup.cell, 0), -jnp.inf)
    return alpha, beta


def _pair_log_mass(sup: Support, alpha, beta):
    """``s(x1, x2) = log sum_y exp(alpha + beta)`` over possible labels; ``-inf`` off support."""
    return masked_logsumexp(alpha[:, None, :] + beta[None, :, :], sup.cell, 2)


def ipfp_step(sup: Support, log_a, alpha, beta):
    """One outer step: ``A <- Q(x1, x2)``, then one Sinkhorn sweep per label."""
    log_a = jnp.where(sup.pair, log_a + _pair_log_mass(sup, alpha, beta), -jnp.inf)
    alpha, beta = _sinkhorn_sweep(sup, log_a, beta)
    return log_a, alpha, beta


def round_to_feasible(sup: Support, q):
    """Move ``q`` (m, n, k) onto the feasible set, label slice by label slice.

    Rows above their target are scaled down, then columns, then the remaining deficits are
    filled by a rank-one correction (Altschuler, Weed and Rigollet 2017). The result has both
    pairwise marginals of ``P`` up to rounding and lives on the support.
    """
    row = q.sum(1)
    q = q * jnp.where(row > sup.p1, sup.p1 / jnp.where(row > 0, row, 1.0), 1.0)[:, None, :]
    col = q.sum(0)
    q = q * jnp.where(col > sup.p2, sup.p2 / jnp.where(col > 0, col, 1.0), 1.0)[None, :, :]
    err1 = jnp.clip(sup.p1 - q.sum(1), 0.0)
    err2 = jnp.clip(sup.p2 - q.sum(0), 0.0)
    total = err1.sum(0)
    fill = err1[:, None, :] * err2[None, :, :] / jnp.where(total > 0, total, 1.0)[None, None, :]
    return jnp.where(sup.cell, q + fill, 0.0)


def objective(q):
    """``f(q) = sum q log q(y | x1, x2) = -H_q(Y | X1, X2)`` in nats, exact at zeros."""
    return jnp.sum(xlogx(q)) - jnp.sum(xlogx(q.sum(-1)))


def dual_shifts(sup: Support, s, rounds: int = 4):
    """Row and column shifts ``u, v`` with ``u(x1) + v(x2) >= s(x1, x2)`` on every pair.

    Subtracting them from the log-scalings gives a dual-feasible point. Their cost
    ``sum u P(x1) + sum v P(x2)`` is what the bound loses, so it is lowered by alternating
    exact minimisations over ``v`` then ``u`` (c-transforms), each never raising the cost.
    """
    s = jnp.where(sup.pair, s, -jnp.inf)

    def finite(x):
        return jnp.where(jnp.isfinite(x), x, 0.0)

    u = finite(jnp.max(s, axis=1))
    v = jnp.zeros(s.shape[1], s.dtype)
    for _ in range(rounds):
        v = finite(jnp.max(s - u[:, None], axis=0))
        u = finite(jnp.max(s - v[None, :], axis=1))
    return u, v


def _cell_exp(cell, z):
    """``exp(z)`` on ``cell``, exactly 0 elsewhere (where ``z`` may be anything, even NaN)."""
    return jnp.exp(jnp.where(cell, z, -jnp.inf))


def _raise_to_constraints(mask_rows, cell, a, b, e=None):
    """Raise each ``a(i, y)``, label by label, as far as every pair constraint allows.

    With the other coordinates fixed, ``logsumexp_y(a + b) <= 0`` on pair ``(i, j)`` caps
    ``a(i, y)`` at ``log(1 - sum_{y' != y} exp(a(i,y') + b(j,y'))) - b(j, y)``; the rows of one
    label share no constraint, so a whole label is updated at once. Coordinates whose optimal
    value is at minus infinity (tiny masses the plan cannot carry) would otherwise cost the
    bound ``|a| * P(x1, y)``. ``cell`` is (m, n, k); ``a`` is (m, k), ``b`` is (n, k).

    The input is dual-feasible (``a + b <= 0`` up to rounding on every cell), so the sums are
    taken in the linear domain: the terms ``exp(a + b) <= 1`` cannot overflow, one that
    underflows is below any meaningful ``1 - sum``, and the ``m n k`` exponentials are taken
    once, then kept up to date one label at a time, rather than once per label.

    ``e`` (m, n, k), if given, must be ``exp(a + b)`` on ``cell`` and 0 elsewhere; it is
    returned updated with ``a``, so raising ``b`` next can start from its transpose.

    Returns:
      ``(a, e)`` after the raise.
    """
    k = a.shape[1]
    labels = jnp.arange(k)
    if e is None:
        e = _cell_exp(cell, a[:, None, :] + b[None, :, :])

    def one_label(y, carry):
        a, e = carry
        others = jnp.sum(jnp.where(labels != y, e, 0.0), -1)  # (m, n) sum over the other labels
        room = jnp.log1p(-jnp.minimum(others, 1.0))  # log(1 - others)
        b_y = b[:, y]
        cell_y = cell[:, :, y]
        caps = jnp.where(cell_y, room - b_y[None, :], jnp.inf)
        new = jnp.min(caps, axis=1)
        # Never lower a coordinate: the input is feasible, and a cap below it is rounding noise
        # from a pair whose other labels fill its constraint to within a few ulps.
        keep = mask_rows[:, y] & jnp.isfinite(new)
        a_y = jnp.where(keep, jnp.maximum(new, a[:, y]), a[:, y])
        e_y = _cell_exp(cell_y, a_y[:, None] + b_y[None, :])
        return a.at[:, y].set(a_y), e.at[:, :, y].set(e_y)

    return lax.fori_loop(0, k, one_label, (a, e))


def certificate(sup: Support, log_a, alpha, beta):
    """:func:`certify` the scaling-form plan ``exp(log_a + alpha + beta)`` against ``(alpha, beta)``."""
    q = jnp.where(sup.cell, jnp.exp(log_a[:, :, None] + alpha[:, None, :] + beta[None, :, :]), 0.0)
    return certify(sup, q, alpha, beta)


def certify(sup: Support, q, alpha, beta):
    """Feasible plan, its objective, the certified gap to the optimum (nats) and the dual point.

    ``q`` (m, n, k) is any non-negative plan on the support (rounded onto the feasible set
    here); ``alpha`` (m, k) and ``beta`` (n, k) are any log-scalings. The dual point is
    ``a = alpha - u(x1)``, ``b = beta - v(x2)`` with the shifts of
    :func:`dual_shifts`, raised coordinate-wise by :func:`_raise_to_constraints`; it satisfies
    ``logsumexp_y(a + b) <= 0`` on every pair, so ``g(a, b) = sum a P(x1,y) + sum b P(x2,y)``
    is a lower bound on ``f(Q*)``. The gap ``f(q) - g`` is summed cell by cell, which keeps its
    rounding error at the level of the gap rather than of ``f``, and :func:`_rounding_allowance`
    is added to it, so the bound stays a bound in floating point: dual coordinates that have
    run off to huge magnitudes (``|a| ~ 1e30``) make the arithmetic meaningless and the gap
    huge, instead of a clipped zero.
    """
    q = round_to_feasible(sup, jnp.where(sup.cell, q, 0.0))
    u, v = dual_shifts(sup, _pair_log_mass(sup, alpha, beta))
    a = jnp.where(sup.log_p1 > -jnp.inf, alpha - u[:, None], 0.0)
    b = jnp.where(sup.log_p2 > -jnp.inf, beta - v[:, None], 0.0)
    a, e = _raise_to_constraints(sup.log_p1 > -jnp.inf, sup.cell, a, b)
    # exp(b + a) is the transpose of exp(a + b), which the first raise kept up to date.
    b, _ = _raise_to_constraints(sup.log_p2 > -jnp.inf, jnp.swapaxes(sup.cell, 0, 1), b, a, jnp.swapaxes(e, 0, 1))
    q_pair = q.sum(-1)
    log_q = jnp.log(jnp.where(q > 0, q, 1.0))
    log_pair = jnp.log(jnp.where(q_pair > 0, q_pair, 1.0))[:, :, None]
    log_cond = log_q - log_pair
    per_cell = jnp.where(q > 0, q * (log_cond - a[:, None, :] - b[None, :, :]), 0.0)
    q1 = q.sum(1)
    q2 = q.sum(0)
    res1, res2 = a * (q1 - sup.p1), b * (q2 - sup.p2)
    gap = jnp.maximum(jnp.sum(per_cell) + jnp.sum(res1) + jnp.sum(res2), 0.0)
    gap = gap + _rounding_allowance(sup, q, log_q, log_pair, a, b, q1, q2, per_cell, res1, res2)
    violation = jnp.maximum(jnp.max(jnp.abs(q1 - sup.p1)), jnp.max(jnp.abs(q2 - sup.p2)))
    gap = jnp.where(jnp.isnan(gap), jnp.inf, gap)  # never report NaN as a bound
    return Certificate(q, objective(q), gap, violation, a, b)


ROUNDING_OPS = 3.0  # rounding errors per term of the gap, in units of eps times its magnitude


def _rounding_allowance(sup: Support, q, log_q, log_pair, a, b, q1, q2, per_cell, res1, res2):
    """First-order bound (nats) on the floating-point error of the gap computed in :func:`certify`.

    Each term carries about ``ROUNDING_OPS`` roundings relative to the magnitudes it is formed
    from (``q (|log q| + |log q(x1,x2)| + |a| + |b|)`` per cell, ``|a| (q(x1,y) + P(x1,y))``
    per residual); summing ``T`` computed terms adds at most ``T eps`` times their absolute
    sum; and the dual constraint ``logsumexp(a + b) <= 0`` holds only up to ``eps (|a| + |b|)``
    on the worst cell, which shifts the dual bound by at most that much (pair masses sum to 1).
    About 1e-14 nats in float64 and 1e-5 nats in float32 on ordinary tables.
    """
    eps = jnp.finfo(q.dtype).eps
    pos = q > 0
    ab = jnp.abs(a)[:, None, :] + jnp.abs(b)[None, :, :]
    magnitude = (
        jnp.sum(jnp.where(pos, q * (jnp.abs(log_q) + jnp.abs(log_pair) + ab), 0.0))
        + jnp.sum(jnp.abs(a) * (q1 + sup.p1))
        + jnp.sum(jnp.abs(b) * (q2 + sup.p2))
    )
    n_terms = per_cell.size + res1.size + res2.size
    absolute = jnp.sum(jnp.abs(per_cell)) + jnp.sum(jnp.abs(res1)) + jnp.sum(jnp.abs(res2))
    worst_cell = jnp.max(jnp.where(sup.cell, ab, 0.0))
    return eps * (ROUNDING_OPS * magnitude + n_terms * absolute + worst_cell)


def init_state(sup: Support) -> SolverState:
    """Uniform start: ``A = 1`` on possible pairs, scalings fitted by one Sinkhorn sweep."""
    dtype = sup.p1.dtype
    log_a = jnp.where(sup.pair, 0.0, -jnp.inf).astype(dtype)
    beta0 = jnp.where(sup.log_p2 > -jnp.inf, 0.0, -jnp.inf).astype(dtype)
    alpha, beta = _sinkhorn_sweep(sup, log_a, beta0)
    return SolverState(log_a, alpha, beta, jnp.asarray(jnp.inf, dtype), jnp.asarray(0, jnp.int32))


def _ipfp_check(sup: Support, st: SolverState, check_every: int):
    """``check_every`` IPFP steps from ``st``, then its certificate: ``(new iterate, Certificate)``."""

    def step(_, scalings):
        return ipfp_step(sup, *scalings)

    log_a, alpha, beta = lax.fori_loop(0, check_every, step, (st.log_a, st.alpha, st.beta))
    cert = certificate(sup, log_a, alpha, beta)
    return SolverState(log_a, alpha, beta, cert.gap, st.iterations + check_every), cert


def ipfp_loop_batch(sup: Support, state: SolverState, cert: Certificate, tol, max_iters, check_every: int):
    """Run IPFP on a batch from ``state`` until each gap <= ``tol`` or ``max_iters`` more steps.

    Leaves of ``sup``, ``state`` and ``cert`` lead with ``B``; ``cert`` is the certificate of
    ``state``; ``max_iters`` is a scalar or a per-member budget (B,). Each member ends at the
    iterate with the smallest certified gap it saw (with the steps taken in all): on tables
    with masses near the rounding floor the gap of later iterates can grow again. The loop
    narrows to the members still running
    (:func:`pidjax.narrowing.narrowed_while`), so a few members needing thousands of steps do
    not make the whole batch take them.

    Returns:
      ``(best iterate, its Certificate)``, the certificate as computed in the loop: computing
      it again in a batch of another shape could round differently and, in float32, move a
      gap that met ``tol`` just above it.
    """
    stop = state.iterations + max_iters

    def running(consts, carry):
        st, _, _ = carry
        return (st.gap > tol) & (st.iterations < consts[1])

    def one(sup, carry):
        st, best, best_cert = carry
        st, cert = _ipfp_check(sup, st, check_every)
        return (st, *select(st.gap < best.gap, (st, cert), (best, best_cert)))

    def body(consts, carry, live):
        return jax.vmap(one)(consts[0], carry)

    consts = (sup, jnp.broadcast_to(stop, state.gap.shape))
    last, best, best_cert = narrowed_while(running, body, consts, (state, state, cert))
    return best._replace(iterations=last.iterations), best_cert


def one_table(solve_batch_fn, P, tol, max_iters, check_every: int) -> Solution:
    """``solve_batch_fn`` (a batch solver) applied to the one table ``P`` (m, n, k)."""
    return jax.tree_util.tree_map(lambda x: x[0], solve_batch_fn(P[None], tol, max_iters, check_every))


def solve_ipfp(P, tol, max_iters: int, check_every: int = 10) -> Solution:
    """Plain alternating minimisation (IPFP) for one table until the certified gap <= ``tol``.

    Args:
      P: one joint table, shape ``(m, n, k)``, non-negative, summing to 1.
      tol: target certified gap in nats (traced scalar).
      max_iters: cap on outer steps (static).
      check_every: outer steps between certificate checks (static).

    Returns:
      A :class:`Solution` (nats): :func:`solve_ipfp_batch` on a batch of one.
    """
    return one_table(solve_ipfp_batch, P, tol, max_iters, check_every)


def solve_ipfp_batch(P, tol, max_iters: int, check_every: int = 10) -> Solution:
    """:func:`solve_ipfp` for a batch ``(B, m, n, k)``; fields of the result lead with ``B``.

    The loop narrows to the members still running (:func:`ipfp_loop_batch`).
    """
    sup = jax.vmap(support_of)(P)
    state = jax.vmap(init_state)(sup)
    cert = jax.vmap(certificate)(sup, state.log_a, state.alpha, state.beta)
    state, cert = ipfp_loop_batch(sup, state._replace(gap=cert.gap), cert, tol, max_iters, check_every)
    return Solution.of(cert, state.iterations)


def _solvers():
    from pidjax.ipm import solve_ipm, solve_ipm_batch  # these modules build on this one
    from pidjax.newton import solve_newton, solve_newton_batch

    singles = {"newton": solve_newton, "ipfp": solve_ipfp, "ipm": solve_ipm}
    return singles, {"newton": solve_newton_batch, "ipfp": solve_ipfp_batch, "ipm": solve_ipm_batch}


SOLVERS, _BATCH_SOLVERS = _solvers()


def solve_batch(P, tol, max_iters: int, method: str = "ipfp", check_every: int = 10) -> Solution:
    """Solve a flat batch ``P`` of shape ``(B, m, n, k)``; fields of the result lead with ``B``.

    Every method has a batch-level solver whose loops narrow to their running members
    (:mod:`pidjax.narrowing`); the one-table solvers of :data:`SOLVERS` call it on a batch of one.
    """
    return _BATCH_SOLVERS[method](P, tol, max_iters, check_every)
