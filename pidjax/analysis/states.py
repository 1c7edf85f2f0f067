"""A data-driven number of states: the pair of counts whose joint states predict Y best out of sample.

``n_states="auto"`` in :func:`pidjax.analysis.layer_sweep` discretises each modality at every
candidate count (:func:`candidate_counts`) (one compiled call per count, all layers together) and scores each pair of
counts ``(m, n)`` by the *cross-validated information* the joint state ``(x1, x2)`` carries
about ``Y``: a smoothed histogram of ``Y`` given the pair is fitted on ``K - 1`` folds and its
log-loss on the held-out fold is compared with that of the label frequencies. More states
resolve more of the embedding (the score rises) until the cells hold too few examples to be
estimated (the held-out score falls), so the argmax is the finest resolution the sample
supports. It uses no decomposition, no permutation and no label information in the
clustering itself (k-means never sees ``Y``).
"""

from __future__ import annotations

import numpy as np

CANDIDATES = (2, 3, 4, 6, 8, 12, 16, 24, 32)


def candidate_counts(n_samples: int, n_labels: int = 2, candidates=CANDIDATES) -> list[int]:
    """The candidate counts a sample can fill: ``c * c * max(n_labels, 2) <= N`` (at least 2).

    Beyond one example per cell of the ``c x c x n_labels`` table no correction is reliable, so
    those counts are not tried.

    Example:
      >>> candidate_counts(200)
      [2, 3, 4, 6, 8]
      >>> candidate_counts(1800, n_labels=10)
      [2, 3, 4, 6, 8, 12]
    """
    fit = [int(c) for c in candidates if int(c) >= 2 and c * c * max(int(n_labels), 2) <= n_samples]
    return fit or [2]


def cv_information(codes_1, codes_2, labels, *, n_folds: int = 5, seed: int = 0, prior_weight: float = 1.0) -> np.ndarray:
    """Cross-validated information (bits) that the state pair ``(x1, x2)`` carries about ``Y``.

    For each fold, ``p(y | x1, x2) = (C[x1, x2, y] + w p(y)) / (C[x1, x2] + w)`` from the
    training folds' counts ``C`` (a cell never seen falls back to the label frequencies
    ``p(y)``); the score is the mean held-out ``log2 p(y | x1, x2) - log2 p(y)``.

    Args:
      codes_1, codes_2: integer states ``(..., N)``.
      labels: ``(N,)`` integer codes.
      n_folds: folds (examples assigned at random, fixed by ``seed``).
      prior_weight: pseudo-examples ``w`` spread by the label frequencies in every cell.

    Returns:
      ``(...)`` bits; near 0 (or below) when the states carry nothing that generalises.

    Example:
      >>> rng = np.random.default_rng(0)
      >>> a, b = rng.integers(0, 2, (2, 2000))
      >>> round(float(cv_information(a, b, a ^ b)), 2)
      1.0
    """
    c1 = np.asarray(codes_1, np.int64)
    c2 = np.asarray(codes_2, np.int64)
    y = np.asarray(labels, np.int64)
    n = y.shape[0]
    k = int(y.max()) + 1
    cols = int(c2.max()) + 1
    cells = (c1 * cols + c2).reshape(-1, n)
    n_cells = int(cells.max()) + 1
    fold = np.random.default_rng([int(seed), 7]).permutation(n) % int(n_folds)
    gain = np.zeros(cells.shape[0])
    for f in range(int(n_folds)):
        train, test = fold != f, fold == f
        prior = (np.bincount(y[train], minlength=k) + 0.5) / (train.sum() + 0.5 * k)
        for i, cell in enumerate(cells):
            counts = np.zeros((n_cells, k))
            np.add.at(counts, (cell[train], y[train]), 1.0)
            cond = (counts + prior_weight * prior) / (counts.sum(1, keepdims=True) + prior_weight)
            gain[i] += (np.log2(cond[cell[test], y[test]]) - np.log2(prior[y[test]])).sum()
    return (gain / n).reshape(np.shape(codes_1)[:-1])


def choose_counts(codes_1: dict, codes_2: dict, label_sets, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per layer, the pair of candidate counts with the highest cross-validated information.

    Args:
      codes_1, codes_2: ``{count: (L, N) codes}`` of each modality at every candidate count.
      label_sets: ``(S, N)`` label codes; the score is summed over label sets.
      seed: seed of the folds.

    Returns:
      ``(m, n, scores)``: ``(L,)`` chosen counts of each modality and the ``(L, C1, C2)``
      scores in bits (candidates in the order of the mappings).
    """
    c1s, c2s = list(codes_1), list(codes_2)
    n_layers = np.shape(codes_1[c1s[0]])[0]
    scores = np.zeros((n_layers, len(c1s), len(c2s)))
    for i, a in enumerate(c1s):
        for j, b in enumerate(c2s):
            for y in np.atleast_2d(label_sets):
                scores[:, i, j] += cv_information(codes_1[a], codes_2[b], y, seed=seed)
    flat = scores.reshape(n_layers, -1).argmax(1)
    pick_1, pick_2 = np.unravel_index(flat, (len(c1s), len(c2s)))
    return np.array(c1s)[pick_1], np.array(c2s)[pick_2], scores
