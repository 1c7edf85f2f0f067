"""Embeddings to integer states: centre (or standardise, or whiten), PCA (SVD), then k-means++ or quantile bins.

Everything below :func:`discretize` is a pure JAX function of one ``(N, d)`` matrix and a PRNG
key; :func:`discretize` validates at the Python boundary, stacks the layers of one modality
into ``(L, N, d)`` (zero-padding features when layers differ in width, which changes neither
the standardisation nor the principal components) and runs all of them in ONE compiled,
vmapped call. Results depend only on the data and ``seed``.

States are numbered by decreasing cluster size, so state 0 is the largest and the number of
occupied states is ``codes.max() + 1``; the PID does not depend on the numbering.
"""

from __future__ import annotations

import math
import warnings
from functools import partial
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

METHODS = ("kmeans", "quantile")
SCALINGS = ("center", "standardize", "whiten")
DEFAULT_SCALING = "center"


class KMeansResult(NamedTuple):
    """One k-means fit; fields carry any leading batch shape."""

    codes: jnp.ndarray  # (N,) int32 state of each example, 0 = largest cluster
    centers: jnp.ndarray  # (k, c) cluster centres in the space that was clustered
    inertia: jnp.ndarray  # () sum of squared distances to the assigned centres
    iterations: jnp.ndarray  # () Lloyd steps taken by the best restart


# --------------------------------------------------------------------------- pure pieces


def standardize(x):
    """Centre every feature and scale it to unit variance; constant features become 0.

    Args:
      x: ``(N, d)`` float array.

    Returns:
      ``(N, d)`` array of the same dtype.
    """
    mean = x.mean(0)
    centred = x - mean
    std = jnp.sqrt((centred * centred).mean(0))
    # a feature whose spread is at rounding level of its magnitude carries no signal
    floor = 1e3 * jnp.finfo(x.dtype).eps * jnp.maximum(jnp.abs(mean), 1.0)
    keep = std > floor
    return jnp.where(keep, centred / jnp.where(keep, std, 1.0), 0.0)


def _component_signs(vt):
    """``+-1`` per component so that its largest-magnitude loading becomes positive."""
    idx = jnp.argmax(jnp.abs(vt), axis=1)
    signs = jnp.sign(vt[jnp.arange(vt.shape[0]), idx])
    return jnp.where(signs == 0, 1.0, signs)


def _mm(a, b):
    """Matrix product at full float32/float64 precision (no TF32/bf16 passes on accelerators)."""
    return jnp.matmul(a, b, precision=lax.Precision.HIGHEST)


def _orthonormalize(y):
    """An orthonormal basis of the columns of ``y`` ``(N, r)`` via the ``r x r`` Gram matrix.

    Twice-applied Cholesky/eigh QR: XLA's Householder QR of a tall matrix is slow on CPU, while
    this costs two ``N x r x r`` products. Directions with negligible energy are dropped (set
    to zero) rather than blown up.
    """
    for _ in range(2):
        evals, evecs = jnp.linalg.eigh(_mm(y.T, y))
        keep = evals > evals[-1] * (100.0 * jnp.finfo(y.dtype).eps)
        y = _mm(y, evecs * jnp.where(keep, jax.lax.rsqrt(jnp.where(keep, evals, 1.0)), 0.0))
    return y


def pca(x, n_components: int, key=None, *, power_iters: int = 2, oversample: int = 10):
    """Scores of ``x`` on its top principal components, via an (optionally randomised) SVD.

    Args:
      x: ``(N, d)`` centred data (e.g. from :func:`standardize`).
      n_components: number of components ``c`` kept (static), ``c <= min(N, d)``.
      key: ``None`` for an exact thin SVD; a PRNG key for a randomised SVD (Halko, Martinsson,
        Tropp 2011) with ``power_iters`` subspace iterations, much cheaper when ``c << d``.

    Returns:
      ``(N, c)`` scores ``x @ V[:, :c]``, components ordered by decreasing variance (signs
      fixed so the largest loading of each component is positive).
    """
    n, d = x.shape
    if key is None or n_components + oversample >= min(n, d):
        _, _, vt = jnp.linalg.svd(x, full_matrices=False)
        vt = vt[:n_components]
        return _mm(x, (vt * _component_signs(vt)[:, None]).T)
    r = n_components + oversample
    q = _orthonormalize(_mm(x, jax.random.normal(key, (d, r), x.dtype)))
    for _ in range(power_iters):
        q = _orthonormalize(_mm(x, _mm(x.T, q)))
    u, s, vt = jnp.linalg.svd(_mm(q.T, x), full_matrices=False)  # (r, d): small
    vt = vt[:n_components]
    # x @ v = q @ u @ diag(s) on the captured subspace: no second pass over x
    return _mm(q, u[:, :n_components] * s[:n_components]) * _component_signs(vt)


def _sq_distances(x, x_sq, centers):
    """Squared distances ``(N, k)`` between rows of ``x`` and ``centers``, clipped at 0."""
    c_sq = (centers * centers).sum(-1)
    return jnp.maximum(x_sq[:, None] - 2.0 * _mm(x, centers.T) + c_sq[None, :], 0.0)


def kmeans_plusplus(x, n_clusters: int, key, n_active=None):
    """Greedy k-means++ seeding (Arthur & Vassilvitskii 2007, with local trials as scikit-learn).

    Args:
      x: ``(N, c)`` points.
      n_clusters: ``k`` (static).
      key: PRNG key.
      n_active: optional traced count ``<= k``: only the first ``n_active`` centres are seeded
        (the rest repeat the first and are ignored by :func:`_lloyd`), so one compiled program
        serves every count.

    Returns:
      ``(k, c)`` initial centres, chosen among the points. When all remaining squared distances
      are 0 (fewer distinct points than ``k``) candidates are drawn uniformly.
    """
    n = x.shape[0]
    trials = 2 + int(math.log(n_clusters))
    x_sq = (x * x).sum(-1)
    key, sub = jax.random.split(key)
    first = jax.random.randint(sub, (), 0, n)
    centers = jnp.zeros((n_clusters, x.shape[1]), x.dtype).at[0].set(x[first])
    d2 = _sq_distances(x, x_sq, x[first][None])[:, 0]

    def body(i, carry):
        centers, d2, key = carry
        key, sub = jax.random.split(key)
        total = d2.sum()
        logits = jnp.where(total > 0, jnp.log(jnp.where(total > 0, d2, 1.0)), 0.0)
        cand = jax.random.categorical(sub, logits, shape=(trials,))
        new_d2 = jnp.minimum(d2[:, None], _sq_distances(x, x_sq, x[cand]))
        best = jnp.argmin(new_d2.sum(0))
        active = True if n_active is None else i < n_active
        chosen = jnp.where(active, x[cand[best]], centers[0])
        return centers.at[i].set(chosen), jnp.where(active, new_d2[:, best], d2), key

    centers, _, _ = lax.fori_loop(1, n_clusters, body, (centers, d2, key))
    return centers


def _lloyd(x, centers, max_iter: int, tol, n_active=None):
    """Lloyd iterations from ``centers`` until the squared centre shift is ``<= tol``.

    With ``n_active``, centres from that index on take no points (their distance is infinite).
    """
    k = centers.shape[0]
    x_sq = (x * x).sum(-1)
    off = jnp.zeros(k, x.dtype) if n_active is None else jnp.where(jnp.arange(k) < n_active, 0.0, jnp.inf).astype(x.dtype)

    def dist(centers):
        return _sq_distances(x, x_sq, centers) + off

    def update(centers):
        labels = jnp.argmin(dist(centers), axis=1)
        onehot = jax.nn.one_hot(labels, k, dtype=x.dtype)
        counts = onehot.sum(0)
        sums = _mm(onehot.T, x)
        # an emptied cluster keeps its centre: deterministic, and it may win points back
        return jnp.where(counts[:, None] > 0, sums / jnp.maximum(counts, 1.0)[:, None], centers)

    def cond(state):
        _, shift, it = state
        return (it < max_iter) & (shift > tol)

    def body(state):
        centers, _, it = state
        new = update(centers)
        return new, ((new - centers) ** 2).sum(), it + 1

    init = (centers, jnp.asarray(jnp.inf, x.dtype), jnp.asarray(0, jnp.int32))
    centers, _, it = lax.while_loop(cond, body, init)
    d2 = dist(centers)
    labels = jnp.argmin(d2, axis=1)
    inertia = jnp.take_along_axis(d2, labels[:, None], axis=1).sum()
    return labels, centers, inertia, it


def _relabel_by_size(labels, centers, k: int):
    """Renumber states by decreasing size (ties by old index) so state 0 is the largest."""
    counts = jnp.bincount(labels, length=k)
    order = jnp.argsort(-counts, stable=True)  # new -> old
    rank = jnp.zeros(k, jnp.int32).at[order].set(jnp.arange(k, dtype=jnp.int32))  # old -> new
    return rank[labels], centers[order]


def kmeans(x, n_clusters: int, key, *, n_init: int = 4, max_iter: int = 100, tol: float = 1e-4, n_active=None):
    """k-means with k-means++ seeding, the best of ``n_init`` restarts by inertia.

    Args:
      x: ``(N, c)`` points (float).
      n_clusters: ``k`` (static).
      key: PRNG key; the fit is a deterministic function of ``x`` and ``key``.
      n_init: number of restarts (static), run in parallel with ``vmap``.
      max_iter: cap on Lloyd steps per restart (static).
      tol: stop when the squared centre shift is below ``tol`` times the mean feature variance
        (the scikit-learn convention).
      n_active: optional traced number of clusters ``<= n_clusters`` actually fitted (the
        others stay empty), so one compiled program serves several counts.

    Returns:
      :class:`KMeansResult` with ``codes`` numbered by decreasing cluster size.

    Example:
      >>> x = jnp.array([[0.0], [0.1], [5.0], [5.1]])
      >>> kmeans(x, 2, jax.random.PRNGKey(0)).codes.tolist()
      [0, 0, 1, 1]
    """
    scaled_tol = tol * x.var(0).mean()

    def one(key):
        centers = kmeans_plusplus(x, n_clusters, key, n_active)
        return _lloyd(x, centers, max_iter, scaled_tol, n_active)

    labels, centers, inertia, its = jax.vmap(one)(jax.random.split(key, n_init))
    best = jnp.argmin(inertia)
    codes, centers = _relabel_by_size(labels[best], centers[best], n_clusters)
    return KMeansResult(codes.astype(jnp.int32), centers, inertia[best], its[best])


def quantile_binning(values, n_states: int, n_active=None):
    """Cut 1-D values into ``n_states`` bins of (about) equal mass at their empirical quantiles.

    Args:
      values: ``(N,)`` floats.
      n_states: number of bins (static).
      n_active: optional traced number of bins ``<= n_states`` actually used.

    Returns:
      ``(N,)`` int32 codes in ``[0, n_states)``, increasing with the value; ties share a bin,
      so heavily tied data leaves some bins empty.

    Example:
      >>> quantile_binning(jnp.array([3.0, 1.0, 2.0, 4.0]), 2).tolist()
      [1, 0, 0, 1]
    """
    if n_active is None:
        edges = jnp.quantile(values, jnp.arange(1, n_states) / n_states)
    else:
        j = jnp.arange(1, n_states)
        edges = jnp.where(j < n_active, jnp.quantile(values, j / n_active), jnp.inf)
    return jnp.searchsorted(edges, values, side="right").astype(jnp.int32)


def scale_features(x, scaling: str):
    """Centre ``x`` ``(N, d)`` and, for ``scaling="standardize"``, give every feature unit variance.

    "center" keeps the features' relative variances (a direction matters as much as it varies);
    "standardize" gives a low-variance nuisance feature the weight of the signal; "whiten" is
    centred here and its principal components are scaled to unit variance after the PCA.
    """
    if scaling == "standardize":
        return standardize(x)
    centred = x - x.mean(0)
    # one overall scale (rotation-invariant): k-means and PCA do not care, rounding does
    spread = jnp.sqrt((centred * centred).mean())
    return centred / jnp.where(spread > 0, spread, 1.0)


def _unit_columns(scores):
    std = jnp.sqrt((scores * scores).mean(0))
    keep = std > 1e3 * jnp.finfo(scores.dtype).eps * jnp.maximum(std.max(), 1.0)
    return jnp.where(keep, scores / jnp.where(keep, std, 1.0), 0.0)


def _discretize_one(x, key, n_states, n_components, method, n_init, max_iter, tol, exact_pca, scaling, counts=None):
    """Codes ``(N,)`` of one layer, or ``(C, N)`` at each of the traced ``counts`` (each ``<= n_states``)."""
    z = scale_features(x, scaling)
    pca_key, km_key = jax.random.split(key)
    if method == "quantile":
        scores = pca(z, 1, None if exact_pca else pca_key)
        if counts is None:
            return quantile_binning(scores[:, 0], n_states)
        return jax.vmap(lambda c: quantile_binning(scores[:, 0], n_states, c))(counts)
    scores = pca(z, n_components, None if exact_pca else pca_key)
    if scaling == "whiten":
        scores = _unit_columns(scores)
    if counts is None:
        return kmeans(scores, n_states, km_key, n_init=n_init, max_iter=max_iter, tol=tol).codes
    return jax.vmap(lambda c: kmeans(scores, n_states, km_key, n_init=n_init, max_iter=max_iter, tol=tol,
                                     n_active=c).codes)(counts)


@partial(
    jax.jit,
    static_argnames=("n_states", "n_components", "method", "n_init", "max_iter", "exact_pca", "scaling"),
)
def _discretize_layers(x, keys, tol, n_states, n_components, method, n_init, max_iter, exact_pca, scaling,
                       counts=None):
    fn = partial(
        _discretize_one,
        n_states=n_states,
        n_components=n_components,
        method=method,
        n_init=n_init,
        max_iter=max_iter,
        tol=tol,
        exact_pca=exact_pca,
        scaling=scaling,
        counts=counts,
    )
    return jax.vmap(fn)(x, keys)


# --------------------------------------------------------------------------- boundary


def discretize_counts(embeddings, counts, **kwargs) -> dict[int, np.ndarray]:
    """:func:`discretize` at several state counts at once, in ONE compiled call.

    The PCA of each layer is computed once; k-means (or the quantile bins) runs for every count
    with the clusters beyond it masked out, so a sweep over counts compiles one program.

    Args:
      embeddings: as for :func:`discretize`.
      counts: state counts, each ``>= 1``.
      **kwargs: the other arguments of :func:`discretize`.

    Returns:
      ``{count: codes}`` with codes as :func:`discretize` returns them.

    Raises:
      ValueError: as :func:`discretize`, or an empty / non-integer ``counts``.

    Example:
      >>> x = np.r_[np.zeros((6, 3)), np.ones((4, 3))] + 0.01 * np.arange(10)[:, None]
      >>> sorted(discretize_counts(x, [1, 2]))
      [1, 2]
    """
    counts = [int(c) for c in counts] if np.ndim(counts) == 1 else []
    if not counts or any(c < 1 for c in counts):
        raise ValueError(f"counts must be a non-empty sequence of positive integers; got {counts!r}")
    return discretize(embeddings, max(counts), _counts=tuple(counts), **kwargs)


def _as_layers(embeddings, name: str) -> tuple[list[np.ndarray], bool]:
    """A list of ``(N, d_l)`` float arrays and whether a single layer was given."""
    if isinstance(embeddings, (list, tuple)):
        layers, single = [np.asarray(e) for e in embeddings], False
        if not layers:
            raise ValueError(f"{name} is empty: give at least one layer")
    else:
        arr = np.asarray(embeddings)
        if arr.ndim == 2:
            layers, single = [arr], True
        elif arr.ndim == 3:
            layers, single = list(arr), False
        else:
            raise ValueError(f"{name} must have shape (N, d) or (layers, N, d); got {arr.shape}")
    for i, e in enumerate(layers):
        where = "" if single else f"[{i}]"
        if e.ndim != 2:
            raise ValueError(f"{name}{where} must have shape (N, d); got {e.shape}")
        if not (np.issubdtype(e.dtype, np.floating) or np.issubdtype(e.dtype, np.integer)):
            raise ValueError(f"{name}{where} must be numeric; got dtype {e.dtype}")
        if e.shape[0] != layers[0].shape[0]:
            raise ValueError(
                f"{name}{where} has {e.shape[0]} examples but {name}[0] has {layers[0].shape[0]}: "
                "every layer must hold the same examples"
            )
        if e.shape[1] < 1:
            raise ValueError(f"{name}{where} has no features")
        bad = ~np.isfinite(e)
        if bad.any():
            row = int(np.argwhere(bad)[0][0])
            raise ValueError(f"{name}{where} has {int(bad.sum())} NaN/inf entries (first in example {row})")
    return layers, single


def discretize(
    embeddings,
    n_states: int,
    *,
    method: str = "kmeans",
    n_components: int = 32,
    n_init: int = 4,
    max_iter: int = 100,
    tol: float = 1e-4,
    seed: int = 0,
    exact_pca: bool = False,
    scaling: str = DEFAULT_SCALING,
    name: str = "embeddings",
    _counts=None,
) -> np.ndarray:
    """Integer states of every example in every layer of one modality, in one compiled call.

    Pipeline per layer: centre (and scale, see ``scaling``), project on the top ``n_components``
    principal components (SVD; randomised unless ``exact_pca``), then k-means with k-means++
    seeding and ``n_init`` restarts (``method="kmeans"``), or equal-mass bins of the first
    principal component (``method="quantile"``, cheaper, 1-D).

    Args:
      embeddings: one layer ``(N, d)``, a stack ``(L, N, d)``, or a list of ``(N, d_l)``
        arrays (widths may differ; the examples must be the same).
      n_states: number of states ``k >= 1`` per layer.
      method: "kmeans" or "quantile".
      n_components: principal components kept for k-means (clipped to ``min(N, d)``).
      n_init, max_iter, tol: k-means restarts, Lloyd step cap and relative tolerance.
      seed: integer seed; equal seeds give equal codes.
      exact_pca: use a full thin SVD instead of the randomised one.
      scaling: "center" (default: keep the features' relative variances), "standardize"
        (every feature to unit variance first) or "whiten" (principal components to unit
        variance); see :func:`scale_features` and ``docs/estimation.md`` for the study behind
        the default.
      name: how ``embeddings`` is called in messages.

    Returns:
      int32 codes of shape ``(N,)`` for one layer or ``(L, N)``; state 0 is the largest.

    Raises:
      ValueError: wrong rank, ragged N across layers, NaN/inf entries, fewer examples than
        ``n_states``, unknown ``method`` or bad numeric settings; the message names the argument.

    Warns:
      UserWarning: a layer is constant (every example goes to state 0), or fewer than
        ``n_states`` states ended up occupied.

    Example:
      >>> x = np.r_[np.zeros((6, 3)), np.ones((4, 3))] + 0.01 * np.arange(10)[:, None]
      >>> discretize(x, 2).tolist()
      [0, 0, 0, 0, 0, 0, 1, 1, 1, 1]
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}; got {method!r}")
    if scaling not in SCALINGS:
        raise ValueError(f"scaling must be one of {SCALINGS}; got {scaling!r}")
    if int(n_states) != n_states or n_states < 1:
        raise ValueError(f"n_states must be a positive integer; got {n_states!r}")
    n_states = int(n_states)
    for arg, val in (("n_components", n_components), ("n_init", n_init), ("max_iter", max_iter)):
        if int(val) != val or val < 1:
            raise ValueError(f"{arg} must be a positive integer; got {val!r}")
    if not tol >= 0:
        raise ValueError(f"tol must be >= 0; got {tol!r}")
    layers, single = _as_layers(embeddings, name)
    n = layers[0].shape[0]
    if n < n_states:
        raise ValueError(
            f"{name} has {n} examples but n_states={n_states}: need at least as many examples as states"
        )
    width = max(e.shape[1] for e in layers)
    dtype = np.result_type(*[e.dtype for e in layers], np.float32)
    if dtype == np.float64 and not jax.config.jax_enable_x64:
        dtype = np.float32
    if all(e.shape[1] == width for e in layers):
        stacked = np.stack(layers).astype(dtype, copy=False)
    else:
        stacked = np.zeros((len(layers), n, width), dtype)
        for i, e in enumerate(layers):
            stacked[i, :, : e.shape[1]] = e
    constant = [i for i, e in enumerate(layers) if np.all(e == e[:1])]
    comps = int(min(n_components, n, width))
    keys = jax.random.split(jax.random.PRNGKey(int(seed)), len(layers))
    codes = _discretize_layers(
        jnp.asarray(stacked), keys, tol, n_states, comps, method, int(n_init), int(max_iter), bool(exact_pca),
        scaling, None if _counts is None else jnp.asarray(_counts, jnp.int32),
    )
    codes = np.array(codes)
    if _counts is not None:  # (L, C, N): every count from one program, nothing to warn about per count
        codes[constant] = 0
        return {int(c): (codes[0, j] if single else codes[:, j]) for j, c in enumerate(_counts)}
    for i in constant:
        codes[i] = 0
        where = "" if single else f"[{i}]"
        warnings.warn(
            f"{name}{where} is constant over all {n} examples: every example was put in state 0",
            UserWarning,
            stacklevel=2,
        )
    used = codes.max(axis=1) + 1
    for i in np.flatnonzero((used < n_states) & ~np.isin(np.arange(len(layers)), constant)):
        where = "" if single else f"[{i}]"
        warnings.warn(
            f"{name}{where}: only {int(used[i])} of {n_states} states are occupied "
            f"({method} found fewer distinct groups); the table keeps the empty states as zeros",
            UserWarning,
            stacklevel=2,
        )
    return codes[0] if single else codes
