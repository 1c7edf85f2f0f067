"""Resampling: bootstrap count weights, permuted labels, and intervals from resampled terms."""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

INTERVALS = ("percentile", "basic")


@partial(jax.jit, static_argnames=("n_samples", "n_resamples"))
def _counts(key, n_samples: int, n_resamples: int):
    draws = jax.random.randint(key, (n_resamples, n_samples), 0, n_samples)
    return jax.vmap(lambda d: jnp.bincount(d, length=n_samples))(draws)


def bootstrap_weights(n_samples: int, n_resamples: int, seed: int = 0) -> np.ndarray:
    """Multinomial count weights of ``n_resamples`` bootstrap resamples of ``n_samples`` examples.

    Row ``b`` says how often each example was drawn (with replacement) in resample ``b``, so a
    weighted histogram with these counts is the histogram of the resample.

    Returns:
      ``(n_resamples, n_samples)`` float64 counts, each row summing to ``n_samples``.

    Raises:
      ValueError: non-positive sizes.

    Example:
      >>> bootstrap_weights(5, 3).sum(axis=1).tolist()
      [5.0, 5.0, 5.0]
    """
    if int(n_samples) < 1 or int(n_resamples) < 1:
        raise ValueError(f"n_samples and n_resamples must be >= 1; got {n_samples} and {n_resamples}")
    key = jax.random.fold_in(jax.random.PRNGKey(int(seed)), 1)
    return np.asarray(_counts(key, int(n_samples), int(n_resamples)), np.float64)


def permuted_labels(labels, n_permutations: int, seed: int = 0) -> np.ndarray:
    """``n_permutations`` random shuffles of ``labels`` across examples (breaks every link to X).

    Returns:
      ``(n_permutations, N)`` array of the same dtype.

    Example:
      >>> sorted(permuted_labels([0, 1, 2], 1)[0].tolist())
      [0, 1, 2]
    """
    y = np.asarray(labels)
    if int(n_permutations) < 1:
        raise ValueError(f"n_permutations must be >= 1; got {n_permutations}")
    key = jax.random.fold_in(jax.random.PRNGKey(int(seed)), 2)
    keys = jax.random.split(key, int(n_permutations))
    order = np.asarray(jax.vmap(lambda k: jax.random.permutation(k, y.shape[0]))(keys))
    return y[order]


def interval(estimate, resampled, confidence: float = 0.95, method: str = "percentile"):
    """Two-sided bootstrap interval for each estimate from its resampled values.

    Args:
      estimate: point estimates, shape ``S``.
      resampled: shape ``S + (B,)``, the same statistic on ``B`` resamples.
      confidence: coverage in ``(0, 1)``.
      method: "percentile" (``[q_lo, q_hi]`` of the resampled values) or "basic" (reverse
        percentile ``[2*est - q_hi, 2*est - q_lo]``, which moves against the plug-in bias; its
        lower end is clipped at 0 for these non-negative terms).

    Returns:
      ``(lo, hi)`` arrays of shape ``S``.

    Raises:
      ValueError: unknown method or confidence outside ``(0, 1)``.

    Example:
      >>> lo, hi = interval(np.array(0.5), np.linspace(0, 1, 101), 0.9)
      >>> round(float(lo), 2), round(float(hi), 2)
      (0.05, 0.95)
    """
    if method not in INTERVALS:
        raise ValueError(f"interval method must be one of {INTERVALS}; got {method!r}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1); got {confidence!r}")
    alpha = (1 - confidence) / 2
    q_lo, q_hi = np.quantile(np.asarray(resampled), [alpha, 1 - alpha], axis=-1)
    if method == "percentile":
        return q_lo, q_hi
    est = np.asarray(estimate)
    return np.maximum(2 * est - q_hi, 0.0), 2 * est - q_lo
