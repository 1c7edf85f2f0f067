"""NumPy re-implementation of the seed paper's alternating minimisation (IPFP) for BROJA.

Written from ../../shared/PID_MATH.md: alternate ``A <- Q(x1, x2)`` with a per-label
Sinkhorn scaling of ``A`` onto both pairwise marginals, the scalings restarted from uniform
at every outer step, as the paper's solver does. Two settings are benchmarked: the paper's
(100 outer steps, at most 100 Sinkhorn sweeps at 1e-8) and a tight one. Values are reported
with the correct co-information ``R = I(X1;Y) + I(X2;Y) - I_Q(X1,X2;Y)`` and with a
weak-duality gap from the final scalings, so their error is visible rather than assumed.
"""

from __future__ import annotations

import numpy as np

from benchmarks.references._common import (
    certified_gap_bits,
    marginal_violation,
    pid_from_q,
)

PAPER = {"max_outer": 100, "max_sink": 100, "tol_outer": 1e-8, "tol_sink": 1e-8}
TIGHT = {"max_outer": 3_000, "max_sink": 300, "tol_outer": 0.0, "tol_sink": 1e-12, "gap_tol_bits": 1e-9}


def _lse(x: np.ndarray, axis: int) -> np.ndarray:
    """logsumexp that returns -inf (no warning, no NaN) for all -inf slices."""
    mx = x.max(axis=axis, keepdims=True)
    safe = np.where(np.isfinite(mx), mx, 0.0)
    with np.errstate(divide="ignore"):
        out = np.log(np.exp(x - safe).sum(axis=axis, keepdims=True)) + safe
    return np.squeeze(out, axis=axis)


def _sinkhorn(log_a, log_r, log_c, f, g, max_sink, tol_sink):
    """Per-label log-domain Sinkhorn: scale ``A`` (m, n) to rows ``r`` (k, m) and columns ``c`` (k, n).

    Returns the log-scalings ``f`` (k, m), ``g`` (k, n) and the number of sweeps used.
    """
    r = np.exp(log_r)
    sweeps = 0
    for sweeps in range(1, max_sink + 1):
        with np.errstate(invalid="ignore"):
            f = np.where(np.isfinite(log_r), log_r - _lse(log_a[None] + g[:, None, :], 2), -np.inf)
            g = np.where(np.isfinite(log_c), log_c - _lse(log_a[None] + f[:, :, None], 1), -np.inf)
        rows = np.exp(_lse(log_a[None] + f[:, :, None] + g[:, None, :], 2))
        if np.abs(rows - r).max() <= tol_sink:
            break
    return f, g, sweeps


def solve_am(
    P,
    max_outer: int = PAPER["max_outer"],
    max_sink: int = PAPER["max_sink"],
    tol_outer: float = PAPER["tol_outer"],
    tol_sink: float = PAPER["tol_sink"],
    gap_tol_bits: float | None = None,
    restart: bool = True,
    check_every: int = 10,
) -> dict:
    """Alternating minimisation for one table ``P`` (m, n, k); PID terms in bits.

    Args:
      P: joint distribution ``(m, n, k)``, non-negative, summing to 1.
      max_outer: outer steps (``A <- Q(x1,x2)`` then Sinkhorn).
      max_sink, tol_sink: Sinkhorn sweeps per outer step and its row-marginal tolerance.
      tol_outer: stop when no cell of ``Q`` moved by more than this in one outer step.
      gap_tol_bits: if given, also stop once the duality gap (checked every ``check_every``
        steps) is at most this many bits.
      restart: restart the scalings from uniform every outer step (the paper); ``False``
        warm-starts them (not the paper's method; used only to polish ground truth).

    Returns:
      dict: redundancy, unique_1, unique_2, synergy, mi_1, mi_2, mi_joint (bits), q, outer,
      sinkhorn_sweeps (total), marginal_violation, gap_bits, a, b, status.
    """
    P = np.asarray(P, dtype=np.float64)
    m, n, k = P.shape
    with np.errstate(divide="ignore"):
        log_r = np.log(P.sum(1).T)  # (k, m)
        log_c = np.log(P.sum(0).T)  # (k, n)
    log_a = np.full((m, n), -np.log(m * n))
    f = np.zeros((k, m))
    g = np.zeros((k, n))
    Q = np.full((k, m, n), 0.0)
    total_sweeps = 0
    gap = np.inf
    status = "max_outer"
    outer = 0
    for outer in range(1, max_outer + 1):
        if restart:
            f = np.zeros((k, m))
            g = np.zeros((k, n))
        f, g, sweeps = _sinkhorn(log_a, log_r, log_c, f, g, max_sink, tol_sink)
        total_sweeps += sweeps
        Q_new = np.exp(log_a[None] + f[:, :, None] + g[:, None, :])
        moved = np.abs(Q_new - Q).max()
        Q = Q_new
        with np.errstate(divide="ignore"):
            log_pair = np.log(Q.sum(0))
        if gap_tol_bits is not None and outer % check_every == 0:
            gap = certified_gap_bits(P, Q.transpose(1, 2, 0), *_duals(f, g))
            if gap <= gap_tol_bits:
                status = "gap"
                break
        log_a = log_pair
        if moved <= tol_outer:
            status = "tol_outer"
            break
    Qm = Q.transpose(1, 2, 0)
    a, b = _duals(f, g)
    out = pid_from_q(P, Qm)
    out.update(
        q=Qm,
        outer=outer,
        sinkhorn_sweeps=total_sweeps,
        marginal_violation=marginal_violation(P, Qm),
        gap_bits=certified_gap_bits(P, Qm, a, b),
        a=a,
        b=b,
        status=status,
    )
    return out


def _duals(f, g):
    """Dual candidate ``a`` (m, k), ``b`` (n, k) from the log-scalings of ``Q = A u v``.

    At a fixed point ``A = Q(x1, x2)`` so ``log Q(y|x1,x2) = f + g`` exactly; elsewhere the
    row shift inside ``dual_lower_bound`` keeps the bound valid.
    """
    return f.T.copy(), g.T.copy()
