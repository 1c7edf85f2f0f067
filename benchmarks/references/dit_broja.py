"""Reference BROJA values from dit's ``PID_BROJA`` (its default solver and ``method='cone'``).

dit's default (``method='auto'``) picks SciPy SLSQP for small joint alphabets (< 64 cells),
admUI for larger ones; SLSQP is known to stop at wrong values on some distributions. The suite
reports whatever dit returns, next to the ground truth, so those errors show.
"""

from __future__ import annotations

import numpy as np

from benchmarks.references._common import mi_bits


def to_dit(P):
    """A ``dit.Distribution`` over outcomes ``(x1, x2, y)`` (ints) from a table ``(m, n, k)``; zeros dropped."""
    import dit

    P = np.asarray(P, dtype=np.float64)
    idx = np.argwhere(P > 0)
    outcomes = [tuple(int(v) for v in row) for row in idx]
    return dit.Distribution(outcomes, P[tuple(idx.T)] / P.sum())


def from_dit(d) -> np.ndarray:
    """Table ``(m, n, k)`` of a three-variable dit distribution (sources 0, 1; target 2)."""
    d = d.copy()
    d.make_dense()
    alph = d.alphabet
    index = [{s: i for i, s in enumerate(sorted(a, key=str))} for a in alph]
    P = np.zeros(tuple(len(a) for a in alph))
    for outcome, p in zip(d.outcomes, d.pmf):
        P[tuple(index[v][s] for v, s in enumerate(outcome))] += p
    return P / P.sum()


def solve_dit(P, method: str = "auto", **kwargs) -> dict:
    """BROJA PID of one table ``(m, n, k)`` with dit, in bits.

    Args:
      P: joint distribution ``(m, n, k)``.
      method: dit's bivariate solver: ``'auto'`` (dit's default), ``'scipy'``, ``'admui'``,
        ``'cone'`` (needs the ``ecos`` package).

    Returns:
      dict: redundancy, unique_1, unique_2, synergy, mi_1, mi_2, mi_joint (bits) and
      ``status`` ("ok" or the exception text). dit exposes no plan, so no marginal violation.
    """
    from dit.pid import PID_BROJA

    P = np.asarray(P, dtype=np.float64)
    m, n, k = P.shape
    try:
        pid = PID_BROJA(to_dit(P), [[0], [1]], [2], method=method, **kwargs)
    except Exception as exc:  # reported, not raised: a reference may fail
        return {"status": f"error: {type(exc).__name__}: {str(exc)[:200]}"}
    return {
        "redundancy": float(pid.get_pi(((0,), (1,)))),
        "unique_1": float(pid.get_pi(((0,),))),
        "unique_2": float(pid.get_pi(((1,),))),
        "synergy": float(pid.get_pi(((0, 1),))),
        "mi_1": mi_bits(P.sum(1)),
        "mi_2": mi_bits(P.sum(0)),
        "mi_joint": mi_bits(P.reshape(m * n, k)),
        "status": "ok",
    }
