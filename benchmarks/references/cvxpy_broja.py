"""Reference BROJA solver: the convex program solved by a conic solver through CVXPY.

This is the formulation used as the reference by Liang et al. (2023): minimise
``sum_y KL(Q_y || sum_y' Q_y' / k)`` over ``Q >= 0`` with both pairwise marginals of ``P``
fixed. It is independent of the pidjax kernel (plain NumPy for the information terms) and is
never imported by the package. The constraint duals give ``a(x1, y)``, ``b(x2, y)`` and with
them a weak-duality certificate, so each answer carries its own error bound.
"""

from __future__ import annotations

import numpy as np

from benchmarks.references._common import (
    certified_gap_bits,
    dual_lower_bound,
    marginal_violation,
    pid_from_q,
    support_mask,
)

# Clarabel at 1e-12 (or 1e-10 with its default step fraction 0.99) stalls in "almost solved"
# (optimal_inaccurate) on dense 10x10x10 tables; 1e-10 with a shorter step (0.9) reaches
# "optimal" on 10x10x10 and 32x32x10 with a certified gap of ~1e-9 bits. ECOS at 1e-10 is
# faster here and its duals certify ~1e-10 bits.
TIGHT_OPTIONS = {
    "CLARABEL": {
        "tol_gap_abs": 1e-10,
        "tol_gap_rel": 1e-10,
        "tol_feas": 1e-10,
        "tol_ktratio": 1e-8,
        "max_step_fraction": 0.9,
        "max_iter": 300,
    },
    "ECOS": {"abstol": 1e-10, "reltol": 1e-10, "feastol": 1e-10, "max_iters": 300},
    "SCS": {"eps_abs": 1e-9, "eps_rel": 1e-9, "max_iters": 200_000},
}


def build_problem(P: np.ndarray):
    """The CVXPY problem for one table ``(m, n, k)``: returns (problem, q variable, cells, constraints).

    Variables live only on the cells ``P(x1,y) > 0 and P(x2,y) > 0``; the pair marginal is a
    sparse linear map of them, so memory grows with ``m n k^2`` rather than ``(m n k)^2``.
    """
    import cvxpy as cp
    import scipy.sparse as sp

    m, n, k = P.shape
    p1, p2 = P.sum(1), P.sum(0)
    idx = np.argwhere(support_mask(P))
    ncell = len(idx)
    q = cp.Variable(ncell, nonneg=True)
    _, pair_of_cell = np.unique(idx[:, 0] * n + idx[:, 1], return_inverse=True)
    S = sp.csr_matrix((np.ones(ncell), (pair_of_cell, np.arange(ncell))))
    pair_mass = S.T @ S  # cell -> total mass of its pair, sparse (ncell, ncell)
    objective = cp.sum(cp.rel_entr(q, (pair_mass @ q) / k))
    cons = []
    for axis_idx, target in ((0, p1), (1, p2)):
        keys = idx[:, axis_idx] * k + idx[:, 2]
        rows = np.flatnonzero(target.ravel() > 0)
        row_of = -np.ones(target.size, dtype=int)
        row_of[rows] = np.arange(len(rows))
        M = sp.csr_matrix((np.ones(ncell), (row_of[keys], np.arange(ncell))), shape=(len(rows), ncell))
        cons.append((M @ q == target.ravel()[rows], rows))
    prob = cp.Problem(cp.Minimize(objective), [c for c, _ in cons])
    return prob, q, idx, cons


def solve_cvxpy(P, solver: str = "CLARABEL", tight: bool = True, **solver_opts) -> dict:
    """Solve the BROJA program for one ``(m, n, k)`` table with CVXPY.

    Args:
      P: joint distribution, shape ``(m, n, k)``, non-negative, summing to 1.
      solver: a CVXPY solver supporting the exponential cone (``CLARABEL``, ``ECOS``, ``SCS``).
      tight: use :data:`TIGHT_OPTIONS` (reference quality) instead of the solver's defaults;
        explicit ``solver_opts`` override either.

    Returns:
      dict with the PID terms in bits, ``status`` (the solver's), ``q`` (the optimiser,
      clipped at 0), ``marginal_violation`` (largest absolute marginal error of ``q``),
      ``gap_bits`` (the duality gap of ``q`` and the constraint duals, bits) and the dual
      candidate ``a`` (m, k), ``b`` (n, k). A failed solve returns only ``status``.
      ``gap_bits`` is a bound on each term's error only for a feasible plan, and ``q`` is off
      its marginals by ``marginal_violation``: for a certificate, take it of
      ``_common.rebalance(P, q)`` as ``benchmarks.ground_truth`` and ``benchmarks.fuzz`` do.
      (That is not done here because it is not cheap: up to 0.4 s a table on clustered
      16x16x10, as much as the solve, which the benchmarks time.)
    """
    import cvxpy as cp

    P = np.asarray(P, dtype=np.float64)
    m, n, k = P.shape
    prob, q, idx, cons = build_problem(P)
    opts = dict(TIGHT_OPTIONS.get(solver, {})) if tight else {}
    opts.update(solver_opts)
    try:
        prob.solve(solver=solver, **opts)
        status = prob.status
    except cp.error.SolverError as exc:  # reported, not raised: a reference may fail
        return {"status": f"error: {str(exc)[:200]}"}
    if q.value is None:
        return {"status": status}
    Q = np.zeros_like(P)
    Q[tuple(idx.T)] = np.clip(q.value, 0.0, None)
    out = pid_from_q(P, Q)
    out.update(status=status, q=Q, marginal_violation=marginal_violation(P, Q))
    a, b = _duals(cons, m, n, k)
    if a is not None:
        a, b = best_sign_duals(P, a, b)
        out.update(a=a, b=b, gap_bits=certified_gap_bits(P, Q, a, b))
    return out


def _duals(cons, m, n, k):
    """Constraint multipliers as ``a`` (m, k), ``b`` (n, k), with the sign that gives the better bound."""
    duals = []
    for (con, rows), size in zip(cons, (m, n)):
        if con.dual_value is None:
            return None, None
        d = np.zeros(size * k)
        d[rows] = np.asarray(con.dual_value, dtype=np.float64).ravel()
        duals.append(d.reshape(size, k))
    return duals[0], duals[1]


def best_sign_duals(P, a, b):
    """``(a, b)`` or ``(-a, -b)``, whichever gives the larger weak-duality bound (CVXPY's sign
    convention for equality duals is not part of its contract)."""
    return max(((a, b), (-a, -b)), key=lambda ab: dual_lower_bound(P, *ab))

