"""Joint distributions ``P(x1, x2, y)`` from integer-coded samples, batched and weighted."""

from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from pidjax._validate import _real_array, _where, check_codes


@partial(jax.jit, static_argnames=("sizes",))
def _histogram(x1, x2, y, weights, sizes):
    m, n, k = sizes
    flat = (x1 * n + x2) * k + y

    def one(idx, w):
        counts = jnp.zeros(m * n * k, w.dtype).at[idx].add(w)
        return (counts / counts.sum()).reshape(m, n, k)

    batch = flat.shape[:-1]
    out = jax.vmap(one)(flat.reshape(-1, flat.shape[-1]), weights.reshape(-1, flat.shape[-1]))
    return out.reshape(*batch, m, n, k)


def joint_distribution(x1, x2, y, *, sizes=None, weights=None, dtype=None):
    """Normalised joint histogram of integer codes ``(x1, x2, y)``.

    Args:
      x1, x2, y: integer codes, each of shape ``(..., N)`` with the same shape; leading axes
        are batch axes (e.g. one row per layer or per bootstrap resample).
      sizes: ``(m, n, k)`` numbers of states; ``None`` (or ``None`` entries) infers
        ``max code + 1`` over the whole batch, so every member has the same shape.
      weights: non-negative sample weights of shape ``(..., N)`` or ``(N,)`` (e.g. bootstrap
        counts); default all ones.
      dtype: float dtype of the result (default: float64 when x64 is on, else float32).

    Returns:
      ``P`` of shape ``(..., m, n, k)``, each table summing to 1.

    Raises:
      ValueError: non-integer or negative codes, codes out of range of ``sizes``, mismatched
        shapes, negative/non-finite weights or a member whose weights are all zero.

    Example:
      >>> P = joint_distribution([0, 1, 1], [0, 0, 1], [0, 1, 0])
      >>> P.shape
      (2, 2, 2)
    """
    given = (None, None, None) if sizes is None else tuple(sizes)
    if len(given) != 3:
        raise ValueError(f"sizes must be (m, n, k); got {sizes!r}")
    arrays, resolved = [], []
    for name, codes, size in (("x1", x1, given[0]), ("x2", x2, given[1]), ("y", y, given[2])):
        arr, size = check_codes(codes, name, None if size is None else int(size))
        arrays.append(arr)
        resolved.append(size)
    if not (arrays[0].shape == arrays[1].shape == arrays[2].shape):
        raise ValueError(
            "x1, x2 and y must have the same shape (..., N); got "
            f"{arrays[0].shape}, {arrays[1].shape} and {arrays[2].shape}"
        )
    shape = arrays[0].shape
    if math.prod(int(s) for s in resolved) >= 2**31:
        raise ValueError(f"sizes {tuple(resolved)} give more than 2**31 cells; reduce the numbers of states")
    if dtype is None:
        dtype = jnp.float64 if jax.config.jax_enable_x64 else jnp.float32
    if weights is None:
        w = np.ones(shape)
    else:
        w = _real_array(weights, "weights").astype(np.float64)
        if w.shape != shape and w.shape != shape[-1:]:
            raise ValueError(f"weights must have shape {shape} or {shape[-1:]}; got {w.shape}")
        w = np.broadcast_to(w, shape)
        if not np.isfinite(w).all() or (w < 0).any():
            idx = tuple(np.argwhere(~np.isfinite(w) | (w < 0))[0])
            raise ValueError(f"weights{_where(idx[:-1])} has an invalid weight {w[idx]} at sample {int(idx[-1])}")
        totals = w.sum(-1)
        if (totals <= 0).any():
            idx = tuple(np.argwhere(np.atleast_1d(totals <= 0))[0]) if totals.ndim else ()
            raise ValueError(f"weights{_where(idx)} are all zero: that member has no samples")
    codes = [jnp.asarray(a, jnp.int32) for a in arrays]
    return _histogram(*codes, jnp.asarray(w, dtype), tuple(resolved))
