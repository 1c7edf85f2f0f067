"""Checks at the Python boundary, before anything is compiled.

Each check raises ``ValueError`` naming the argument, the batch index and the problem. Traced
arrays (inside a user's ``jit``/``vmap``/``grad``) only get the shape checks: their values are
unknown until run time, and compiled code reports through result flags instead.
"""

from __future__ import annotations

import jax
import numpy as np


def is_traced(x) -> bool:
    """True when ``x`` is an abstract value inside a JAX transformation."""
    return isinstance(x, jax.core.Tracer)


def _where(idx: tuple) -> str:
    return f"[{', '.join(str(int(i)) for i in idx)}]" if idx else ""


def _real_array(x, name: str) -> np.ndarray:
    try:
        arr = np.asarray(x)
    except Exception as exc:  # e.g. ragged nested lists
        raise ValueError(f"{name} could not be read as an array: {exc}") from None
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise ValueError(f"{name} must hold real numbers; got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise ValueError(f"{name} must hold real numbers; got complex dtype {arr.dtype}")
    return arr


def check_joint(P, name: str = "P", normalize: bool = False, sum_tol: float = 1e-6):
    """Validate joint tables of shape ``(..., m, n, k)``; return them as an array.

    Args:
      P: the tables; any number of leading batch axes.
      name: the argument's name, used in messages.
      normalize: rescale each table to sum to 1 instead of rejecting a wrong sum.
      sum_tol: largest accepted ``|sum - 1|`` when ``normalize`` is False.

    Returns:
      ``P`` as a NumPy float array (or unchanged when traced).

    Raises:
      ValueError: wrong rank, an empty axis, non-real dtype, NaN/inf or negative entries, an
        all-zero table, or a sum off 1 by more than ``sum_tol`` (with the amount).
    """
    try:
        shape = tuple(np.shape(P))
    except ValueError as exc:  # e.g. ragged nested lists
        raise ValueError(f"{name} could not be read as an array: {exc}") from None
    if len(shape) < 3:
        raise ValueError(
            f"{name} must have shape (..., m, n, k) — states of X1, states of X2, labels — "
            f"with any leading batch axes; got shape {shape}"
        )
    if min(shape[-3:]) < 1 or (len(shape) > 3 and min(shape[:-3]) < 1):
        raise ValueError(f"{name} has an empty axis: shape {shape}")
    if is_traced(P):
        return P
    arr = _real_array(P, name)
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float64)
    bad = ~np.isfinite(arr)
    if bad.any():
        idx = tuple(np.argwhere(bad)[0])
        raise ValueError(
            f"{name}{_where(idx[:-3])} has a non-finite entry {arr[idx]} at cell {tuple(int(i) for i in idx[-3:])}"
        )
    if (arr < 0).any():
        idx = tuple(np.argwhere(arr < 0)[0])
        raise ValueError(
            f"{name}{_where(idx[:-3])} has a negative entry {arr[idx]:g} at cell {tuple(int(i) for i in idx[-3:])}"
        )
    with np.errstate(over="ignore"):
        totals = arr.sum(axis=(-3, -2, -1))
    if (totals <= 0).any():
        idx = tuple(np.argwhere(np.atleast_1d(totals <= 0))[0]) if totals.ndim else ()
        raise ValueError(f"{name}{_where(idx)} is all zeros: a joint distribution needs some mass")
    if normalize:
        # Divide by the largest entry first so that a total beyond the float range still
        # normalises (finite entries whose sum overflows).
        arr = arr / arr.max(axis=(-3, -2, -1), keepdims=True)
        return arr / arr.sum(axis=(-3, -2, -1), keepdims=True)
    off = np.abs(totals - 1.0)
    if (off > sum_tol).any():
        idx = tuple(np.argwhere(np.atleast_1d(off > sum_tol))[0]) if totals.ndim else ()
        total = float(totals[idx]) if idx else float(totals)
        raise ValueError(
            f"{name}{_where(idx)} sums to {total:.10g}, off 1 by {total - 1.0:+.3g} "
            f"(tolerance {sum_tol:g}); pass normalize=True to rescale"
        )
    return arr


def check_codes(codes, name: str, size: int | None):
    """Validate integer sample codes of shape ``(..., N)``; return them and the size used.

    Raises:
      ValueError: non-integer dtype, no samples, negative codes, codes ``>= size``.
    """
    arr = _real_array(codes, name)
    if arr.ndim < 1:
        raise ValueError(f"{name} must have shape (..., N) of integer codes; got a scalar")
    if arr.shape[-1] == 0:
        raise ValueError(f"{name} has no samples (N = 0)")
    if not np.issubdtype(arr.dtype, np.integer):
        if arr.dtype == bool:
            arr = arr.astype(np.int64)
        else:
            raise ValueError(f"{name} must hold integer codes; got dtype {arr.dtype}")
    if (arr < 0).any():
        idx = tuple(np.argwhere(arr < 0)[0])
        raise ValueError(f"{name}{_where(idx[:-1])} has a negative code {int(arr[idx])} at sample {int(idx[-1])}")
    top = int(arr.max())  # a Python int: no overflow for uint64 codes
    if size is None:
        size = top + 1
    elif size < 1:
        raise ValueError(f"the size given for {name} must be >= 1; got {size}")
    elif top >= size:
        idx = tuple(np.argwhere(arr >= size)[0])
        raise ValueError(
            f"{name}{_where(idx[:-1])} has code {int(arr[idx])} at sample {int(idx[-1])}, "
            f"out of range for size {size} (codes must be in [0, {size - 1}])"
        )
    return arr, size
