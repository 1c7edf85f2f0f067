"""Resampling: bootstrap count weights, permuted labels, and intervals from resampled terms."""

from __future__ import annotations

import numpy as np

INTERVALS = ("centered", "percentile", "basic")


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
    rng = np.random.default_rng([int(seed), 1])
    draws = rng.integers(0, int(n_samples), (int(n_resamples), int(n_samples)))
    counts = np.zeros((int(n_resamples), int(n_samples)))
    np.add.at(counts, (np.arange(int(n_resamples))[:, None], draws), 1.0)
    return counts


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
    rng = np.random.default_rng([int(seed), 2])
    order = np.argsort(rng.random((int(n_permutations), y.shape[0])), axis=1)
    return y[order]


def interval(estimate, resampled, confidence: float = 0.95, method: str = "percentile", *, clip: bool = True):
    """Two-sided bootstrap interval for each estimate from its resampled values.

    Args:
      estimate: point estimates, shape ``S``.
      resampled: shape ``S + (B,)``, the same statistic on ``B`` resamples.
      confidence: coverage in ``(0, 1)``.
      method: "percentile" (``[q_lo, q_hi]`` of the resampled values), "centered" (the
        resampled values' spread around their mean, placed at the estimate:
        ``est + [q_lo - mean, q_hi - mean]``; for an estimate that is already bias-corrected) or
        "basic" (reverse percentile ``[2*est - q_hi, 2*est - q_lo]``, which moves against the
        plug-in bias, and can exclude the estimate when the resamples are skewed).
      clip: cut a "basic" lower end at 0 (for plug-in terms, which are non-negative).

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
    if method == "centered":
        mean = np.asarray(resampled).mean(-1)
        return est + q_lo - mean, est + q_hi - mean
    lo = 2 * est - q_hi
    return (np.maximum(lo, 0.0) if clip else lo), 2 * est - q_lo
