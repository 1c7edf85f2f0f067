"""Reference BROJA solver: the convex program solved by a conic solver through CVXPY.

This is the formulation used as the reference by Liang et al. (2023): minimise
``sum_y KL(Q_y || sum_y' Q_y' / k)`` over ``Q >= 0`` with both pairwise marginals of ``P``
fixed. It is independent of the pidjax kernel (plain NumPy for the information terms) and is
never imported by the package.
"""

from __future__ import annotations

import numpy as np


def _entropy_bits(p: np.ndarray) -> float:
    p = np.asarray(p, dtype=np.float64).ravel()
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum())


def _mi_bits(pxy: np.ndarray) -> float:
    """I(X;Y) in bits of a 2-D joint table."""
    return _entropy_bits(pxy.sum(1)) + _entropy_bits(pxy.sum(0)) - _entropy_bits(pxy)


def pid_from_q(P: np.ndarray, Q: np.ndarray) -> dict:
    """PID terms (bits) of ``P`` given an optimiser ``Q`` of the BROJA program."""
    m, n, k = P.shape
    i1 = _mi_bits(P.sum(1))
    i2 = _mi_bits(P.sum(0))
    i12 = _mi_bits(P.reshape(m * n, k))
    iq = _mi_bits(Q.reshape(m * n, k))
    r = i1 + i2 - iq
    return {
        "redundancy": r,
        "unique_1": i1 - r,
        "unique_2": i2 - r,
        "synergy": i12 - iq,
        "mi_1": i1,
        "mi_2": i2,
        "mi_joint": i12,
    }


def solve_cvxpy(P, solver: str = "CLARABEL", tight: bool = True, **solver_opts) -> dict:
    """Solve the BROJA program for one ``(m, n, k)`` table with CVXPY.

    Args:
      P: joint distribution, shape ``(m, n, k)``, non-negative, summing to 1.
      solver: a CVXPY solver supporting the exponential cone (``CLARABEL``, ``ECOS``, ``SCS``).
      tight: tighten the solver's tolerances (default) for reference-quality answers.

    Returns:
      dict with the PID terms in bits, ``status`` (the solver's), ``q`` (the optimiser,
      clipped at 0) and ``marginal_violation`` (largest absolute marginal error of ``q``).
    """
    import cvxpy as cp

    P = np.asarray(P, dtype=np.float64)
    m, n, k = P.shape
    p1 = P.sum(1)  # (m, k)
    p2 = P.sum(0)  # (n, k)
    # Only cells with P(x1,y) > 0 and P(x2,y) > 0 can carry mass in any feasible Q.
    support = (p1[:, None, :] > 0) & (p2[None, :, :] > 0)
    idx = np.argwhere(support)
    q = cp.Variable(len(idx), nonneg=True)
    pair = idx[:, 0] * n + idx[:, 1]
    pairs, pair_of_cell = np.unique(pair, return_inverse=True)
    # A(x1, x2) = sum_y Q(x1, x2, y), expanded back to cells.
    s_pair = np.zeros((len(pairs), len(idx)))
    s_pair[pair_of_cell, np.arange(len(idx))] = 1.0
    a_cell = s_pair.T @ s_pair  # cell -> sum over the cells of its pair
    objective = cp.sum(cp.rel_entr(q, (a_cell @ q) / k))
    cons = []
    for name, axis_idx, target in (("x1", 0, p1), ("x2", 1, p2)):
        keys = idx[:, axis_idx] * k + idx[:, 2]
        rows = np.flatnonzero(target.ravel() > 0)
        M = (keys[None, :] == rows[:, None]).astype(np.float64)
        cons.append(M @ q == target.ravel()[rows])
    prob = cp.Problem(cp.Minimize(objective), cons)
    opts = dict(solver_opts)
    if tight and solver == "CLARABEL":
        opts.setdefault("tol_gap_abs", 1e-12)
        opts.setdefault("tol_gap_rel", 1e-12)
        opts.setdefault("tol_feas", 1e-12)
        opts.setdefault("max_iter", 500)
    try:
        prob.solve(solver=solver, **opts)
        status = prob.status
    except cp.error.SolverError as exc:  # reported, not raised: a reference may fail
        return {"status": f"error: {exc}"}
    Q = np.zeros_like(P)
    if q.value is None:
        return {"status": status}
    Q[tuple(idx.T)] = np.clip(q.value, 0.0, None)
    out = pid_from_q(P, Q)
    viol = max(np.abs(Q.sum(1) - p1).max(), np.abs(Q.sum(0) - p2).max())
    out.update(status=status, q=Q, marginal_violation=float(viol))
    return out
