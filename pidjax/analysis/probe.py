"""A discretisation check: how much the continuous embedding tells about ``Y``, by a linear probe.

The PID of a layer is computed on k-means states of its embeddings. The states can only hold
what the embedding held, and k-means may lose more: the check is a cross-validated linear
(softmax) probe of the label ``Y`` from the continuous embedding. Its held-out gain in
cross-entropy over the class prior, in bits, is a lower bound (up to estimation noise) on
``I(E; Y)``, the information the embedding holds; when ``I(states; Y)`` is much smaller than
the probe's figure, the discretisation lost information (try more states or components).

The check is one-sided. A linear probe sees only what a linear read-out decodes: an XOR-like
``Y`` (synergy between coordinates, or between modalities in :func:`probe_pair`) gives a
probe figure near 0 however much the embedding holds, so a small probe figure never shows
that nothing was lost; only a large gap above the states' information is evidence.

Everything below :func:`probe_information` is a pure JAX function; the boundary functions
validate, zero-pad layers of different widths into one stack (as
:func:`pidjax.discretize.discretize` does), build the stratified folds with NumPy and run all
layers, folds (and, in :func:`probe_pair`, both modalities and their concatenation) in ONE
compiled, vmapped call. Results depend only on the data and ``seed``.

Per layer: standardise every feature and keep the scores on the top ``min(n_components, N, d)``
principal components (fitted on all examples: this uses no labels, so it leaks nothing about
``Y``); then on each of ``n_folds`` stratified splits fit a multinomial logistic regression
(weights and bias, penalty ``l2 / 2 * ||W||^2`` on the weights, none on the bias) on the
training folds, full batch, with ``steps`` Adam steps from zero weights and the log class
prior as bias, and score the held-out fold.
"""

from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from pidjax.discretize import _as_layers, _mm, pca, standardize

__all__ = ["probe_information", "probe_pair"]

_BETA1, _BETA2, _EPS = 0.9, 0.999, 1e-8  # Adam's usual constants


# --------------------------------------------------------------------------- pure pieces


def _held_out_gain(scores, onehot, train, l2, learning_rate, steps: int):
    """Summed held-out cross-entropy of the prior minus that of the probe, in nats.

    Args:
      scores: ``(N, c)`` features.
      onehot: ``(N, k)`` one-hot labels.
      train: ``(N,)`` 1 for training examples, 0 for held-out ones; every class must occur
        among the training examples.
      l2, learning_rate: penalty on the weights and Adam's step size.
      steps: Adam steps (static).

    Returns:
      ``()`` sum over held-out examples of ``-log prior(y) + log p(y | x)``.
    """
    n_train = train.sum()
    prior = (train @ onehot) / n_train
    log_prior = jnp.log(prior)

    def log_probs(params):
        w, b = params
        return jax.nn.log_softmax(_mm(scores, w) + b, axis=-1)

    def loss(params):
        ce = -(onehot * log_probs(params)).sum(-1)
        return (train * ce).sum() / n_train + 0.5 * l2 * (params[0] * params[0]).sum()

    grad = jax.grad(loss)

    def step(state, t):
        params, m, v = state
        g = grad(params)
        m = jax.tree.map(lambda m, g: _BETA1 * m + (1 - _BETA1) * g, m, g)
        v = jax.tree.map(lambda v, g: _BETA2 * v + (1 - _BETA2) * g * g, v, g)
        scale = learning_rate * jnp.sqrt(1 - _BETA2**t) / (1 - _BETA1**t)
        params = jax.tree.map(lambda p, m, v: p - scale * m / (jnp.sqrt(v) + _EPS), params, m, v)
        return (params, m, v), None

    params = (jnp.zeros((scores.shape[1], onehot.shape[1]), scores.dtype), log_prior)
    zeros = jax.tree.map(jnp.zeros_like, params)
    ts = jnp.arange(1, steps + 1, dtype=scores.dtype)
    (params, _, _), _ = lax.scan(step, (params, zeros, zeros), ts)
    held = 1.0 - train
    return (held * (onehot * (log_probs(params) - log_prior)).sum(-1)).sum()


@partial(jax.jit, static_argnames=("n_components", "views", "steps"))
def _probe_layers(modalities, onehot, train, key, l2, learning_rate, n_components, views, steps):
    """Held-out gain in nats per example, ``(len(views), L)``, for every layer and view.

    Args:
      modalities: tuple of ``(L, N, d_m)`` stacks, one per modality.
      onehot: ``(N, k)`` one-hot labels.
      train: ``(K, N)`` training masks of the folds (each example held out exactly once).
      key: PRNG key of the randomised PCA (the same for every layer).
      n_components: tuple of the components kept per modality (static).
      views: tuple of tuples of modality indices (static): each view probes the
        concatenated scores of those modalities.
      steps: Adam steps (static).
    """
    n = onehot.shape[0]
    width = sum(n_components)
    offsets = np.cumsum((0,) + tuple(n_components))
    masks = np.zeros((len(views), width))
    for v, mods in enumerate(views):
        for m in mods:
            masks[v, offsets[m] : offsets[m + 1]] = 1.0

    def one_layer(xs):
        scores = jnp.concatenate([pca(standardize(x), c, key) for x, c in zip(xs, n_components)], axis=1)
        # a view is the concatenation with the other modalities' columns zeroed: zero features
        # get zero gradients, so their weights stay exactly 0 and the fit is that of the view
        feats = scores[None] * jnp.asarray(masks, scores.dtype)[:, None, :]

        def fit(scores, mask):
            return _held_out_gain(scores, onehot, mask, l2, learning_rate, steps)

        per_fold = jax.vmap(jax.vmap(fit, in_axes=(None, 0)), in_axes=(0, None))(feats, train)
        return per_fold.sum(-1) / n

    return jax.vmap(one_layer, out_axes=1)(modalities)


# --------------------------------------------------------------------------- boundary


def _check_labels(labels, n: int) -> tuple[np.ndarray, int]:
    """Dense codes ``0..k-1`` of the classes present, and ``k``."""
    arr = np.asarray(labels)
    if arr.ndim != 1:
        raise ValueError(f"labels must be 1-D with one class code per example; got shape {arr.shape}")
    if arr.shape[0] != n:
        raise ValueError(f"labels has {arr.shape[0]} entries but the features have {n} examples")
    if not (np.issubdtype(arr.dtype, np.integer) or arr.dtype == bool):
        raise ValueError(
            f"labels must hold integer class codes 0..k-1; got dtype {arr.dtype} "
            "(pidjax.analysis.encode_labels turns arbitrary labels into codes)"
        )
    if (arr < 0).any():
        raise ValueError(f"labels has negative codes (first at example {int(np.argmax(arr < 0))})")
    classes, codes, counts = np.unique(arr, return_inverse=True, return_counts=True)
    if len(classes) < 2:
        raise ValueError(
            f"labels has a single class ({classes[0]!r}) over all {n} examples: Y carries no "
            "information; give labels with at least two classes"
        )
    if counts.min() < 2:
        lonely = classes[counts < 2].tolist()
        raise ValueError(
            f"labels: class(es) {lonely} have a single example; cross-validation needs at least 2 "
            "examples of every class so that each training split sees it (merge or drop rare classes)"
        )
    return codes.reshape(-1).astype(np.int64), len(classes)


def _stratified_folds(codes: np.ndarray, n_folds: int, seed: int) -> np.ndarray:
    """Fold id ``(N,)`` of every example: each class shuffled, then dealt round-robin.

    The deal continues from class to class, so fold sizes differ by at most one and every
    class's counts across folds differ by at most one.
    """
    rng = np.random.default_rng(seed)
    folds = np.empty(codes.shape[0], np.int64)
    start = 0
    for c in range(int(codes.max()) + 1):
        idx = rng.permutation(np.flatnonzero(codes == c))
        folds[idx] = (start + np.arange(idx.size)) % n_folds
        start += idx.size
    return folds


def _check_settings(n_folds, n_components, l2, steps, learning_rate, n: int) -> None:
    for arg, val in (("n_folds", n_folds), ("n_components", n_components), ("steps", steps)):
        if isinstance(val, bool) or int(val) != val or val < 1:
            raise ValueError(f"{arg} must be a positive integer; got {val!r}")
    if n_folds < 2:
        raise ValueError(f"n_folds must be at least 2; got {n_folds!r}")
    if n_folds > n:
        raise ValueError(f"n_folds={n_folds} exceeds the {n} examples")
    if not (math.isfinite(l2) and l2 >= 0):
        raise ValueError(f"l2 must be a finite number >= 0; got {l2!r}")
    if not (math.isfinite(learning_rate) and learning_rate > 0):
        raise ValueError(f"learning_rate must be a finite number > 0; got {learning_rate!r}")


def _stack(layers: list[np.ndarray]) -> np.ndarray:
    """``(L, N, d)`` of one modality's layers, zero-padding narrower ones (as discretize)."""
    n = layers[0].shape[0]
    width = max(e.shape[1] for e in layers)
    dtype = np.result_type(*[e.dtype for e in layers], np.float32)
    if dtype == np.float64 and not jax.config.jax_enable_x64:
        dtype = np.float32
    if all(e.shape[1] == width for e in layers):
        return np.stack(layers).astype(dtype, copy=False)
    stacked = np.zeros((len(layers), n, width), dtype)
    for i, e in enumerate(layers):
        stacked[i, :, : e.shape[1]] = e
    return stacked


def _run(stacks, labels, views, n_folds, n_components, l2, steps, learning_rate, seed) -> np.ndarray:
    """Validated inputs to bits ``(len(views), L)`` float64."""
    n = stacks[0].shape[1]
    _check_settings(n_folds, n_components, l2, steps, learning_rate, n)
    codes, k = _check_labels(labels, n)
    folds = _stratified_folds(codes, int(n_folds), int(seed))
    dtype = np.result_type(*[s.dtype for s in stacks])
    train = (folds[None, :] != np.arange(int(n_folds))[:, None]).astype(dtype)
    onehot = np.eye(k, dtype=dtype)[codes]
    comps = tuple(int(min(n_components, n, s.shape[2])) for s in stacks)
    nats = _probe_layers(
        tuple(jnp.asarray(s) for s in stacks),
        jnp.asarray(onehot),
        jnp.asarray(train),
        jax.random.PRNGKey(int(seed)),
        float(l2),
        float(learning_rate),
        comps,
        views,
        int(steps),
    )
    return np.asarray(nats, np.float64) / math.log(2.0)


def probe_information(
    features,
    labels,
    *,
    n_folds: int = 3,
    n_components: int = 32,
    l2: float = 1e-2,
    steps: int = 300,
    learning_rate: float = 0.1,
    seed: int = 0,
    name: str = "features",
) -> np.ndarray:
    """Cross-validated information a linear probe decodes about ``labels`` from each layer, in bits.

    Per layer: standardise, keep the top ``min(n_components, N, d)`` principal components, fit
    a softmax regression (bias, penalty ``l2 / 2 * ||W||^2`` on the weights) with ``steps``
    full-batch Adam steps on the training part of each of ``n_folds`` stratified folds, and
    score the held-out part. The figure is

        (held-out cross-entropy of the training folds' class prior
         - held-out cross-entropy of the probe),

    summed over every example (each is held out once), divided by ``N``, in bits. About 0 for
    features that say nothing of ``Y`` (slightly negative from the fit's variance: returned as
    computed), close to ``H(Y)`` when a linear read-out decodes ``Y``. It estimates a lower
    bound on ``I(E; Y)``: compare it with the information of the discretised states; a linear
    probe misses XOR-like (synergistic) dependence, so the check only ever flags lost
    information, it never proves that none was lost.

    Args:
      features: one layer ``(N, d)``, a stack ``(L, N, d)``, or a list of ``(N, d_l)`` arrays
        (widths may differ; the examples must be the same), as for
        :func:`pidjax.discretize.discretize`.
      labels: ``(N,)`` integer class codes ``>= 0`` (codes that never occur are ignored).
      n_folds: number of stratified cross-validation folds, ``2 <= n_folds <= N``.
      n_components: principal components kept per layer (clipped to ``min(N, d)``).
      l2: penalty on the weights (standardised-feature scale), ``>= 0``.
      steps: Adam steps per fit.
      learning_rate: Adam's step size.
      seed: integer seed of the folds and of the randomised PCA; equal seeds give equal results.
      name: how ``features`` is called in messages.

    Returns:
      float64 bits, shape ``()`` for one ``(N, d)`` layer, else ``(L,)``.

    Raises:
      ValueError: ``features`` of the wrong rank, ragged N, non-numeric or NaN/inf entries;
        ``labels`` not 1-D, of the wrong length, not integer, negative, with a single class, or
        with a class of a single example; bad settings. The message names the argument.

    Example:
      >>> rng = np.random.default_rng(0)
      >>> x = rng.normal(size=(400, 3))
      >>> bits = probe_information(x, (x[:, 0] > 0).astype(int))
      >>> bits.shape, bool(bits > 0.7)
      ((), True)
    """
    layers, single = _as_layers(features, name)
    bits = _run([_stack(layers)], labels, ((0,),), n_folds, n_components, l2, steps, learning_rate, seed)[0]
    return bits[0] if single else bits


def probe_pair(features_1, features_2, labels, **kw) -> dict:
    """Probe information of each modality and of their concatenation, per layer, in bits.

    The joint probe reads ``[E1, E2]``: each modality is standardised and reduced to its own
    top principal components first, then the scores are concatenated. All three probes of all
    layers run in one compiled call, on the same folds. Compare ``probe_info_joint`` with the
    states' ``I(X1, X2; Y)``, and each single figure with ``I(X_i; Y)``.

    A linear probe of the concatenation adds the modalities' evidence (logits) linearly, so it
    cannot see XOR-like synergy between them (``Y = [a > 0] xor [b > 0]`` gives a joint figure
    near 0): the check is one-sided, it flags lost information and never proves none is lost.

    Args:
      features_1, features_2: each as ``features`` of :func:`probe_information`, with the same
        number of layers and examples (widths may differ between modalities and layers).
      labels: ``(N,)`` integer class codes ``>= 0``.
      **kw: ``n_folds``, ``n_components`` (per modality), ``l2``, ``steps``, ``learning_rate``
        and ``seed`` of :func:`probe_information`.

    Returns:
      ``{"probe_info_1", "probe_info_2", "probe_info_joint"}``: float64 bits, each ``(L,)``
      (shape ``()`` when both inputs are single ``(N, d)`` layers).

    Raises:
      ValueError: as :func:`probe_information`, naming ``features_1``/``features_2``; also for a
        different number of layers or examples in the two, or an unknown keyword.

    Example:
      >>> rng = np.random.default_rng(0)
      >>> a, b = rng.normal(size=(400, 2)), rng.normal(size=(400, 2))
      >>> out = probe_pair(a, b, (a[:, 0] > 0).astype(int))
      >>> bool(out["probe_info_1"] > 0.7), bool(abs(out["probe_info_2"]) < 0.1)
      (True, True)
    """
    allowed = {"n_folds", "n_components", "l2", "steps", "learning_rate", "seed"}
    unknown = sorted(set(kw) - allowed)
    if unknown:
        raise ValueError(f"probe_pair got unknown keyword(s) {unknown}; allowed: {sorted(allowed)}")
    opts = {"n_folds": 3, "n_components": 32, "l2": 1e-2, "steps": 300, "learning_rate": 0.1, "seed": 0, **kw}
    layers_1, single_1 = _as_layers(features_1, "features_1")
    layers_2, single_2 = _as_layers(features_2, "features_2")
    if len(layers_1) != len(layers_2):
        raise ValueError(f"features_1 has {len(layers_1)} layers but features_2 has {len(layers_2)}")
    if layers_1[0].shape[0] != layers_2[0].shape[0]:
        raise ValueError(
            f"features_1 has {layers_1[0].shape[0]} examples but features_2 has {layers_2[0].shape[0]}: "
            "both must hold the same examples"
        )
    bits = _run([_stack(layers_1), _stack(layers_2)], labels, ((0,), (1,), (0, 1)), **opts)
    if single_1 and single_2:
        bits = bits[:, 0]
    return {"probe_info_1": bits[0], "probe_info_2": bits[1], "probe_info_joint": bits[2]}
