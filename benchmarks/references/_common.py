"""NumPy information terms, PID from a plan, and a weak-duality certificate (bits).

Shared by the reference solvers so that every one of them is scored by the same arithmetic,
independent of the pidjax kernel.
"""

from __future__ import annotations

import numpy as np

LN2 = np.log(2.0)


def entropy_bits(p) -> float:
    """Shannon entropy in bits of any non-negative array (flattened); zeros contribute 0."""
    p = np.asarray(p, dtype=np.float64).ravel()
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum())


def mi_bits(pxy) -> float:
    """I(X;Y) in bits of a 2-D joint table ``(|X|, |Y|)``."""
    pxy = np.asarray(pxy, dtype=np.float64)
    return entropy_bits(pxy.sum(1)) + entropy_bits(pxy.sum(0)) - entropy_bits(pxy)


def support_mask(P) -> np.ndarray:
    """Cells ``(m, n, k)`` that any plan in the feasible set may use: P(x1,y)>0 and P(x2,y)>0."""
    P = np.asarray(P, dtype=np.float64)
    return (P.sum(1)[:, None, :] > 0) & (P.sum(0)[None, :, :] > 0)


def cond_neg_entropy(Q) -> float:
    """f(Q) = sum Q log(Q / Q(x1,x2)) = -H_Q(Y | X1, X2), in nats."""
    Q = np.asarray(Q, dtype=np.float64)
    pair = Q.sum(-1, keepdims=True)
    pos = Q > 0
    ratio = np.where(pos, Q, 1.0) / np.where(pos, np.broadcast_to(pair, Q.shape), 1.0)
    return float((Q * np.log(np.where(pos, ratio, 1.0))).sum())


def pid_from_q(P, Q) -> dict:
    """PID terms in bits of ``P`` (m, n, k) given a plan ``Q`` in (or near) the feasible set.

    Uses the co-information ``R = I(X1;Y) + I(X2;Y) - I_Q(X1,X2;Y)`` with ``I(Xi;Y)`` from
    ``P``; returns redundancy, unique_1, unique_2, synergy, mi_1, mi_2, mi_joint.
    """
    P = np.asarray(P, dtype=np.float64)
    Q = np.asarray(Q, dtype=np.float64)
    m, n, k = P.shape
    i1 = mi_bits(P.sum(1))
    i2 = mi_bits(P.sum(0))
    i12 = mi_bits(P.reshape(m * n, k))
    iq = entropy_bits(P.sum((0, 1))) + cond_neg_entropy(Q) / LN2
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


def marginal_violation(P, Q) -> float:
    """Largest absolute error of Q's pairwise marginals (x1, y) and (x2, y) against P's."""
    P = np.asarray(P, dtype=np.float64)
    Q = np.asarray(Q, dtype=np.float64)
    return float(max(np.abs(Q.sum(1) - P.sum(1)).max(), np.abs(Q.sum(0) - P.sum(0)).max()))


def dual_lower_bound(P, a, b) -> float:
    """Weak-duality lower bound (nats) on min f over the feasible set, from any ``a`` (m, k), ``b`` (n, k).

    Each row ``x1`` of ``a`` is shifted down so that ``logsumexp_y(a + b) <= 0`` on every pair
    (only labels in the support enter); then ``sum a P(x1,y) + sum b P(x2,y)`` is a valid bound.
    Non-finite entries of ``a``/``b`` on the support are allowed only as ``-inf``.
    """
    P = np.asarray(P, dtype=np.float64)
    p1, p2 = P.sum(1), P.sum(0)
    a = np.where(p1 > 0, np.asarray(a, dtype=np.float64), -np.inf)
    b = np.where(p2 > 0, np.asarray(b, dtype=np.float64), -np.inf)
    s = a[:, None, :] + b[None, :, :]  # (m, n, k)
    smax = s.max(-1, keepdims=True)
    finite = np.isfinite(smax)
    smax_safe = np.where(finite, smax, 0.0)
    with np.errstate(divide="ignore"):
        lse = np.where(finite[..., 0], smax_safe[..., 0] + np.log(np.exp(s - smax_safe).sum(-1)), -np.inf)
    shift = lse.max(1)  # (m,) worst pair of each row
    shift = np.where(np.isfinite(shift), shift, 0.0)
    a = a - shift[:, None]
    with np.errstate(invalid="ignore"):
        ga = np.where(p1 > 0, a * p1, 0.0).sum()
        gb = np.where(p2 > 0, b * p2, 0.0).sum()
    return float(ga + gb)


def duals_from_plan(P, Q, floor: float = 1e-300) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares fit of ``log Q(y | x1, x2) ~ a(x1, y) + b(x2, y)`` over cells with Q > floor.

    A generic way to turn any solver's plan into a dual candidate for :func:`dual_lower_bound`;
    exact at an interior optimum, approximate on the boundary.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.linalg import lsqr

    P = np.asarray(P, dtype=np.float64)
    Q = np.asarray(Q, dtype=np.float64)
    m, n, k = P.shape
    pair = Q.sum(-1, keepdims=True)
    idx = np.argwhere((Q > floor) & support_mask(P))
    target = np.log(Q[tuple(idx.T)] / pair[idx[:, 0], idx[:, 1], 0])
    rows = np.repeat(np.arange(len(idx)), 2)
    cols = np.stack([idx[:, 0] * k + idx[:, 2], m * k + idx[:, 1] * k + idx[:, 2]], 1).ravel()
    M = coo_matrix((np.ones(2 * len(idx)), (rows, cols)), shape=(len(idx), (m + n) * k)).tocsr()
    sol = lsqr(M, target, atol=1e-15, btol=1e-15, iter_lim=20000)[0]
    return sol[: m * k].reshape(m, k), sol[m * k :].reshape(n, k)


def certified_gap_bits(P, Q, a, b) -> float:
    """``(f(Q) - g(a, b)) / ln 2``: the duality gap in bits bounding each PID term's error."""
    return (cond_neg_entropy(Q) - dual_lower_bound(P, a, b)) / LN2


def rebalance(P, Q, max_sweeps: int = 10_000, tol: float = 1e-16) -> np.ndarray:
    """Per-label Sinkhorn of a plan ``Q`` (m, n, k) back onto P's pairwise marginals.

    Makes a near-feasible plan (e.g. an interior-point answer off by 1e-12) feasible to
    rounding, so that ``f(Q)`` is an honest upper bound on the optimum.
    """
    P = np.asarray(P, dtype=np.float64)
    Q = np.where(support_mask(P), np.clip(np.asarray(Q, dtype=np.float64), 0.0, None), 0.0)
    p1, p2 = P.sum(1), P.sum(0)
    for _ in range(max_sweeps):
        rows = Q.sum(1)
        Q = Q * np.where(rows > 0, p1 / np.where(rows > 0, rows, 1.0), 0.0)[:, None, :]
        cols = Q.sum(0)
        Q = Q * np.where(cols > 0, p2 / np.where(cols > 0, cols, 1.0), 0.0)[None, :, :]
        if np.abs(Q.sum(1) - p1).max() <= tol:
            break
    return Q
