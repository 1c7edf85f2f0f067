"""Layer sweeps: per-layer embeddings and label sets in, one tidy PID table out.

The sweep composes three stages, each one compiled/batched call:

1. :func:`pidjax.discretize.discretize` once per modality (all layers together);
2. one weighted histogram call for every (layer, label set, resample): the point estimate,
   ``n_bootstrap`` bootstrap resamples (multinomial count weights) and ``n_permutations``
   label permutations;
3. ONE :func:`pidjax.decompose` call on the stacked ``(L, S, 1 + B + T, m, n, k)`` tables.

Run ``python -m pidjax.analysis.sweep --bench`` for the timed 24-layer benchmark.
"""

from __future__ import annotations

import time
import warnings
from typing import Mapping

import numpy as np

from pidjax.analysis.bootstrap import INTERVALS
from pidjax.analysis.estimation import DEFAULT_BIAS, INFO, TERMS, corrected_interval, correct, p_values, plan_rows
from pidjax.analysis.labels import encode_labels
from pidjax.discretize import DEFAULT_SCALING, discretize, discretize_counts


class PIDTable(dict):
    """A tidy table: ``dict[str, np.ndarray]`` of equal-length columns, plus ``meta``.

    ``meta`` holds the settings, per-stage timings in seconds (``meta["timings"]``) and the
    warnings raised while building the table. :meth:`to_dataframe` gives a pandas DataFrame.
    """

    def __init__(self, columns=(), meta=None):
        super().__init__(columns)
        self.meta = dict(meta or {})
        lengths = {len(v) for v in self.values()}
        if len(lengths) > 1:
            raise ValueError(f"table columns must have equal lengths; got {sorted(lengths)}")

    def to_dataframe(self):
        """The table as a ``pandas.DataFrame`` (pandas is imported only here)."""
        return to_dataframe(self)


def to_dataframe(table):
    """A ``pandas.DataFrame`` of a column table (``dict[str, np.ndarray]``).

    Example:
      >>> to_dataframe({"layer": np.array(["a"]), "synergy": np.array([1.0])}).shape
      (1, 2)
    """
    import pandas as pd

    return pd.DataFrame({k: np.asarray(v) for k, v in table.items()})


def _check_labels(labels, n: int) -> dict[str, np.ndarray]:
    if isinstance(labels, Mapping):
        if not labels:
            raise ValueError("labels is an empty mapping: give at least one label set")
        sets = {str(k): v for k, v in labels.items()}
    else:
        sets = {"labels": labels}
    out = {}
    for name, values in sets.items():
        arg = "labels" if not isinstance(labels, Mapping) else f"labels[{name!r}]"
        codes = encode_labels(values, arg)
        if codes.shape[0] != n:
            raise ValueError(f"{arg} has {codes.shape[0]} entries but the embeddings have {n} examples")
        out[name] = codes
    return out


def _pair(n_states) -> tuple[int, int]:
    pair = (n_states, n_states) if np.ndim(n_states) == 0 else tuple(n_states)
    if len(pair) != 2 or any(int(s) != s or s < 1 for s in pair):
        raise ValueError(f"n_states must be a positive integer or a pair of them; got {n_states!r}")
    return int(pair[0]), int(pair[1])


def sweep_codes(
    codes_1,
    codes_2,
    labels,
    *,
    layers=None,
    n_bootstrap: int = 0,
    n_permutations: int = 100,
    bias: str = DEFAULT_BIAS,
    n_splits: int = 8,
    confidence: float = 0.95,
    interval_method: str = "centered",
    alpha: float = 0.05,
    seed: int = 0,
    tol: float | None = None,
    max_iters: int = 20_000,
    method: str | None = None,
    min_samples_per_cell: float = 5.0,
    sizes: tuple[int, int] | None = None,
) -> PIDTable:
    """PID table of already-discretised layers: bias-corrected terms, p-values, intervals.

    Every (layer, label set) is decomposed with all the resample rows its estimate needs (the
    data, ``n_bootstrap`` bootstrap resamples, ``n_permutations`` label permutations, and the
    subsamples of the extrapolating corrections, see :mod:`pidjax.analysis.estimation`) in ONE
    kernel call.

    Args:
      codes_1, codes_2: integer states ``(L, N)`` (or ``(N,)`` for one layer) of modality 1 and 2.
      labels: ``(N,)`` labels or a mapping ``{label_set: (N,) labels}``; values are encoded with
        :func:`pidjax.analysis.labels.encode_labels`.
      layers: ``L`` layer names (default ``"0"``, ``"1"``, ...).
      n_bootstrap: bootstrap resamples of examples (0 = no intervals). Adds ``<term>_lo`` and
        ``<term>_hi``: the interval of the corrected estimate, for every PID and information
        term.
      n_permutations: label permutations (0 = no baseline and no p-values). Adds
        ``<term>_perm`` (mean of the plug-in term), ``<term>_perm_hi`` (its ``confidence``
        quantile) and ``<term>_p`` (the permutation p-value of the plug-in term).
      bias: the correction of the main columns, one of
        :data:`pidjax.analysis.estimation.BIAS_CORRECTIONS`; the plug-in values stay in
        ``<term>_plugin``.
      n_splits: random splits into halves and quarters for the extrapolating corrections.
      confidence: interval coverage; interval_method: "centered", "percentile" or "basic"
        (see :func:`pidjax.analysis.estimation.corrected_interval`).
      alpha: significance level the report and the contribution scores use (kept in ``meta``).
      seed: seed of the resampling.
      tol, max_iters, method: passed to :func:`pidjax.decompose`.
      min_samples_per_cell: warn when ``N < min_samples_per_cell * states_1 * states_2 * n_labels``.
      sizes: ``(m, n)`` table sizes (default: largest code + 1).

    Returns:
      :class:`PIDTable`, one row per (layer, label set), layer-major; bits.

    Raises:
      ValueError: mismatched shapes or example counts (naming the argument), negative codes,
        an unknown ``bias`` or ``interval_method``, a shuffle correction without permutations.

    Warns:
      UserWarning: few samples per cell (with the state count that fits), corrected terms
        that came out negative, rare classes in the extrapolation's subsamples.

    Example:
      >>> rng = np.random.default_rng(0)
      >>> x1, x2 = rng.integers(0, 2, (2, 800))
      >>> t = sweep_codes(x1, x2, x1 ^ x2, n_permutations=20)
      >>> round(float(t["synergy"][0]), 1), float(t["synergy_p"][0]) < 0.05
      (1.0, True)
    """
    import pidjax

    timings = {}
    c1 = np.asarray(codes_1)
    c2 = np.asarray(codes_2)
    single = c1.ndim == 1
    c1, c2 = np.atleast_2d(c1), np.atleast_2d(c2)
    for name, c in (("codes_1", c1), ("codes_2", c2)):
        if c.ndim != 2 or not np.issubdtype(c.dtype, np.integer):
            raise ValueError(f"{name} must be integer states of shape (L, N) or (N,); got {c.dtype} {c.shape}")
        if (c < 0).any():
            raise ValueError(f"{name} has negative states")
    if c1.shape != c2.shape:
        raise ValueError(f"codes_1 and codes_2 must have the same shape (L, N); got {c1.shape} and {c2.shape}")
    n_layers, n = c1.shape
    names = [str(i) for i in range(n_layers)] if layers is None else [str(x) for x in layers]
    if len(names) != n_layers:
        raise ValueError(f"layers has {len(names)} names for {n_layers} layers")
    if interval_method not in INTERVALS:
        raise ValueError(f"interval_method must be one of {INTERVALS}; got {interval_method!r}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1); got {alpha!r}")
    sets = _check_labels(labels, n)
    m = int(c1.max()) + 1 if sizes is None else int(sizes[0])
    nn = int(c2.max()) + 1 if sizes is None else int(sizes[1])
    k = max(int(y.max()) + 1 for y in sets.values())

    t0 = time.perf_counter()
    B, T = int(n_bootstrap), int(n_permutations)
    plan, caught = plan_rows(np.stack(list(sets.values())), n_bootstrap=B, n_permutations=T, bias=bias,
                             n_splits=n_splits, seed=seed, names=list(sets))
    rows = plan.weights.shape[1]
    shape = (len(sets), rows, n)
    P = np.stack([
        np.asarray(pidjax.joint_distribution(
            np.broadcast_to(c1[layer], shape), np.broadcast_to(c2[layer], shape), plan.labels,
            weights=plan.weights, sizes=(m, nn, k)))
        for layer in range(n_layers)
    ])
    timings["histograms"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    res = pidjax.decompose(P, tol=tol, max_iters=max_iters, method=method)
    values = {f: np.asarray(getattr(res, f)) for f in TERMS + INFO + ("bound", "converged")}
    timings["decompose"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    plugin = {f: values[f] for f in TERMS + INFO}
    estimate, replicates = correct(plugin, plan, bias)
    occupied_1 = np.array([len(np.unique(c)) for c in c1])
    occupied_2 = np.array([len(np.unique(c)) for c in c2])
    n_labels = np.array([len(np.unique(y)) for y in sets.values()])
    entropy = np.array([_entropy_bits(y) for y in sets.values()])
    cols: dict[str, np.ndarray] = {
        "layer": np.repeat(np.array(names), len(sets)),
        "label_set": np.tile(np.array(list(sets)), n_layers),
    }
    for f in TERMS + INFO:
        cols[f] = estimate[f].reshape(-1)
    for f in TERMS + INFO:
        cols[f"{f}_plugin"] = plugin[f][:, :, 0].reshape(-1)
    cols["bound"] = values["bound"][:, :, 0].reshape(-1)
    cols["converged"] = values["converged"].all(-1).reshape(-1)
    cols["n_samples"] = np.full(n_layers * len(sets), n)
    cols["states_1"] = np.repeat(occupied_1, len(sets))
    cols["states_2"] = np.repeat(occupied_2, len(sets))
    cols["n_labels"] = np.tile(n_labels, n_layers)
    cols["label_entropy"] = np.tile(entropy, n_layers)
    if B:
        upper = np.broadcast_to(entropy, (n_layers, len(sets)))
        for f in TERMS + INFO:
            lo, hi = corrected_interval(estimate[f], replicates[f], upper, confidence, interval_method)
            cols[f"{f}_lo"], cols[f"{f}_hi"] = lo.reshape(-1), hi.reshape(-1)
    if T:
        ties = 2.0 * values["bound"].max(-1)
        pv = p_values(plugin, plan, np.where(np.isfinite(ties), ties, 0.0))
        for f in TERMS + INFO:
            perm = plugin[f][:, :, plan.perm]
            cols[f"{f}_perm"] = perm.mean(-1).reshape(-1)
            cols[f"{f}_perm_hi"] = np.quantile(perm, confidence, axis=-1).reshape(-1)
            cols[f"{f}_p"] = pv[f].reshape(-1)
    cells = cols["states_1"] * cols["states_2"] * cols["n_labels"]
    sparse = n < min_samples_per_cell * cells
    if sparse.any():
        worst = int(np.argmax(cells))
        fits = max(int(np.sqrt(n / (min_samples_per_cell * cols["n_labels"][worst]))), 2)
        caught.append(
            f"{int(sparse.sum())} of {len(cells)} (layer, label set) tables have fewer than "
            f"{min_samples_per_cell:g} examples per cell (e.g. layer {str(cols['layer'][worst])!r}: "
            f"{int(cells[worst])} cells for N={n}); plug-in information is biased upwards there and its "
            "correction less reliable: "
            f"about {fits} states per modality fit N={n} with {int(cols['n_labels'][worst])} labels "
            "(n_states), or pass n_states='auto'"
        )
    negative = np.zeros(len(cells), bool)
    for f in TERMS + INFO:
        negative |= cols[f] < -np.maximum(cols["bound"], 1e-9)
    if negative.any() and bias != "none":
        i = int(np.argmax(negative))
        worst_term = min(TERMS + INFO, key=lambda f: cols[f][i])
        caught.append(
            f"{int(negative.sum())} of {len(cells)} tables have a bias-corrected term below 0 (e.g. layer "
            f"{str(cols['layer'][i])!r}, labels {str(cols['label_set'][i])!r}: {worst_term} = "
            f"{cols[worst_term][i]:.3f} bits): the correction (bias={bias!r}) exceeded the plug-in value, as "
            "it does by chance when the true value is near 0; reported as computed, with its interval"
        )
    for msg in caught:
        warnings.warn(msg, UserWarning, stacklevel=2)
    timings["table"] = time.perf_counter() - t0
    meta = {
        "timings": timings,
        "warnings": caught,
        "bias": bias,
        "n_bootstrap": B,
        "n_permutations": T,
        "n_splits": int(n_splits) if "extrapolation" in bias else 0,
        "confidence": confidence,
        "interval_method": interval_method,
        "alpha": alpha,
        "seed": seed,
        "tables_decomposed": int(np.prod(P.shape[:-3])),
        "single_layer": single,
    }
    return PIDTable(cols, meta)


def _entropy_bits(codes: np.ndarray) -> float:
    """Plug-in entropy of integer codes, in bits."""
    p = np.bincount(codes) / codes.size
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum())


def _discretize_named(stack, k, which: int, names, **kw) -> np.ndarray:
    """:func:`discretize` of one modality's layers, its warnings re-issued with the layer names."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        codes = discretize(stack, k, seed=kw.pop("seed") + which, name=f"embeddings (modality {which})", **kw)
    for w in caught:
        text = str(w.message)
        for i, layer in enumerate(names):  # say which layer, by name
            text = text.replace(f"(modality {which})[{i}]", f"[{layer!r}][{which - 1}]")
        warnings.warn(text, w.category, stacklevel=3)
    return codes


def _auto_states(stacks, sets, names, seed, **kw):
    """Per-layer codes at the counts :func:`pidjax.analysis.states.choose_counts` picks."""
    from pidjax.analysis.states import candidate_counts, choose_counts

    n = np.shape(stacks[0][0])[0]
    counts = candidate_counts(n, max(int(y.max()) + 1 for y in sets.values()))
    codes = []
    for which, stack in enumerate(stacks, start=1):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # a constant layer is reported by the sweep's check
            per = discretize_counts(stack, counts, seed=seed + which, name=f"embeddings (modality {which})", **kw)
        codes.append({c: np.atleast_2d(v) for c, v in per.items()})
    m, nn, scores = choose_counts(codes[0], codes[1], np.stack(list(sets.values())), seed=seed)
    layers = np.arange(len(names))
    c1 = np.stack([codes[0][int(a)][i] for i, a in zip(layers, m)])
    c2 = np.stack([codes[1][int(b)][i] for i, b in zip(layers, nn)])
    info = {"candidates": counts, "chosen": {name: [int(a), int(b)] for name, a, b in zip(names, m, nn)},
            "cv_information_bits": {name: np.round(scores[i], 4).tolist() for i, name in enumerate(names)}}
    return c1, c2, (int(m.max()), int(nn.max())), info


def layer_sweep(
    embeddings: Mapping,
    labels,
    *,
    n_states="auto",
    discretizer: str = "kmeans",
    n_components: int = 32,
    scaling: str = DEFAULT_SCALING,
    n_init: int = 4,
    max_iter: int = 100,
    seed: int = 0,
    check_discretization: bool = True,
    progress: bool = False,
    **kwargs,
) -> PIDTable:
    """Bias-corrected PID of every layer (and label set) of a two-modality model.

    Args:
      embeddings: ``{layer_name: (E1, E2)}`` with ``E1`` of shape ``(N, d1)`` and ``E2`` of
        shape ``(N, d2)`` (widths may change across layers; ``N`` may not).
      labels: ``(N,)`` labels, or ``{label_set: (N,) labels}``; e.g. from
        :mod:`pidjax.analysis.labels` (ground truth, predictions, discretised output embedding).
      n_states: states per modality: an int, a pair ``(m, n)``, or "auto" (default): per
        layer, the pair of counts whose joint states carry the most cross-validated
        information about the labels (:mod:`pidjax.analysis.states`).
      discretizer: "kmeans" or "quantile" (see :func:`pidjax.discretize.discretize`).
      n_components, scaling, n_init, max_iter: discretisation settings (``scaling``: "center",
        "standardize" or "whiten").
      seed: seeds discretisation and resampling.
      check_discretization: compare what the states carry about each label set with what a
        cross-validated linear probe decodes from the continuous embeddings
        (:mod:`pidjax.analysis.probe`): adds ``probe_info_1``, ``probe_info_2``,
        ``probe_info_joint`` and ``states_lose_information``, and warns naming the layer.
      progress: show a progress bar over the stages.
      **kwargs: passed to :func:`sweep_codes` (``bias``, ``n_bootstrap``, ``n_permutations``,
        ``n_splits``, ``confidence``, ``interval_method``, ``alpha``, ``tol``, ``max_iters``,
        ``method``, ``min_samples_per_cell``).

    Returns:
      :class:`PIDTable` (columns: see :mod:`pidjax.analysis`), with per-stage timings in
      ``table.meta["timings"]``.

    Raises:
      ValueError: empty or malformed ``embeddings``, ragged ``N`` across layers, modalities or
        labels, NaN embeddings, fewer examples than states, a single class.

    Example:
      >>> from pidjax.synthetic import make_synthetic
      >>> d = make_synthetic("redundant", 400, dim_1=8, dim_2=8)
      >>> t = layer_sweep({"l0": (d.embeddings_1, d.embeddings_2)}, d.labels, n_states=2)
      >>> round(float(t["redundancy"][0]), 1)
      1.0
    """
    from tqdm.auto import tqdm

    if not isinstance(embeddings, Mapping) or not embeddings:
        raise ValueError("embeddings must be a non-empty mapping {layer: (E1, E2)}")
    names = [str(k) for k in embeddings]
    firsts, seconds = [], []
    n = None
    for name, pair in embeddings.items():
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise ValueError(f"embeddings[{name!r}] must be a pair (E1, E2)")
        for i, e in enumerate(pair):
            shape = np.shape(e)
            if len(shape) != 2:
                raise ValueError(f"embeddings[{name!r}][{i}] must have shape (N, d); got {shape}")
            n = shape[0] if n is None else n
            if shape[0] != n:
                raise ValueError(
                    f"embeddings[{name!r}][{i}] has {shape[0]} examples but the first layer has {n}: "
                    "all layers and both modalities must hold the same examples"
                )
        firsts.append(pair[0])
        seconds.append(pair[1])
    auto = isinstance(n_states, str)
    if auto and n_states != "auto":
        raise ValueError(f"n_states must be 'auto', a positive integer or a pair of them; got {n_states!r}")
    sets = _check_labels(labels, n)
    kw = dict(method=discretizer, n_components=n_components, n_init=n_init, max_iter=max_iter, scaling=scaling)
    timings, chosen = {}, None
    bar = tqdm(total=4, desc="pid sweep", disable=not progress)
    t0 = time.perf_counter()
    if auto:
        c1, c2, (m, nn), chosen = _auto_states((firsts, seconds), sets, names, seed, **kw)
        codes = [c1, c2]
        timings["discretize"] = time.perf_counter() - t0
        bar.update(2)
    else:
        m, nn = _pair(n_states)
        codes = []
        for which, (stack, k) in enumerate(((firsts, m), (seconds, nn)), start=1):
            t0 = time.perf_counter()
            codes.append(_discretize_named(stack, k, which, names, seed=seed, **kw))
            timings[f"discretize_{which}"] = time.perf_counter() - t0
            bar.update(1)
    table = sweep_codes(codes[0], codes[1], sets, layers=names, seed=seed, sizes=(m, nn), **kwargs)
    bar.update(1)
    table.meta["timings"] = {**timings, **table.meta["timings"]}
    if check_discretization:
        t0 = time.perf_counter()
        _check_states(table, firsts, seconds, sets, n_components=n_components, seed=seed)
        table.meta["timings"]["discretization_check"] = time.perf_counter() - t0
    bar.update(1)
    table.meta.update(n_states="auto" if auto else (m, nn), discretizer=discretizer, scaling=scaling,
                      n_components=n_components)
    if chosen is not None:
        table.meta["auto_states"] = chosen
    bar.close()
    return table


LOSS_FRACTION = 0.5  # states that carry less than this share of what the probe decodes are flagged
LOSS_FLOOR = 0.1  # bits a probe must decode before a loss is worth a warning


def _check_states(table: PIDTable, firsts, seconds, sets, *, n_components: int, seed: int) -> None:
    """Add the probe columns to ``table`` and warn, naming the layer, where the states lose information."""
    from pidjax.analysis.probe import probe_pair

    n_layers, n_sets = len(firsts), len(sets)
    probes = {f"probe_info_{s}": np.zeros((n_layers, n_sets)) for s in ("1", "2", "joint")}
    for j, y in enumerate(sets.values()):
        got = probe_pair(firsts, seconds, y, n_components=min(n_components, 32), seed=seed)
        for key in probes:
            probes[key][:, j] = np.asarray(got[key]).reshape(n_layers)
    lost = np.zeros(n_layers * n_sets, bool)
    worst = []
    for suffix in ("1", "2", "joint"):
        probe = probes[f"probe_info_{suffix}"].reshape(-1)
        table[f"probe_info_{suffix}"] = probe
        states = np.asarray(table[f"mutual_info_{suffix}"])
        flag = (probe >= LOSS_FLOOR) & (states < LOSS_FRACTION * probe)
        lost |= flag
        worst += [(i, suffix, states[i], probe[i]) for i in np.flatnonzero(flag)]
    table["states_lose_information"] = lost
    if worst:
        i, suffix, have, could = max(worst, key=lambda w: w[3] - w[2])
        which = {"1": "modality 1", "2": "modality 2", "joint": "both modalities"}[suffix]
        layers = sorted({str(table["layer"][w[0]]) for w in worst})
        msg = (
            f"the states of layer(s) {', '.join(layers[:6])}{' ...' if len(layers) > 6 else ''} lose label information "
            f"that a linear probe decodes from the embeddings (e.g. layer {str(table['layer'][i])!r}, labels "
            f"{str(table['label_set'][i])!r}: the states of {which} carry {have:.2f} bits, the probe "
            f"{could:.2f}); the PID there understates what the embeddings hold, and can call shared "
            "information unique: try scaling='center', fewer n_components or more n_states"
        )
        table.meta.setdefault("warnings", []).append(msg)
        warnings.warn(msg, UserWarning, stacklevel=3)


def _bench(argv=None):
    """The issue's measurement: 24 layers x 10,000 examples x 768-d, 10 states, 10 labels, 100 resamples."""
    import argparse
    import os

    p = argparse.ArgumentParser(prog="python -m pidjax.analysis.sweep", description=_bench.__doc__)
    p.add_argument("--bench", action="store_true", help="run the timed sweep")
    p.add_argument("--layers", type=int, default=24)
    p.add_argument("--samples", type=int, default=10_000)
    p.add_argument("--dim", type=int, default=768)
    p.add_argument("--states", type=int, default=10)
    p.add_argument("--bootstrap", type=int, default=100)
    p.add_argument("--permutations", type=int, default=100)
    p.add_argument("--bias", default=DEFAULT_BIAS, help="bias correction (needs --permutations for the shuffle ones)")
    p.add_argument("--tol", type=float, default=1e-4, help="certified tolerance (bits) per table")
    p.add_argument("--method", default=None, help="solver (default: the kernel's default for float64)")
    args = p.parse_args(argv)
    if not args.bench:
        p.print_help()
        return
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    import jax

    jax.config.update("jax_enable_x64", True)
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    n, d, L, k = args.samples, args.dim, args.layers, args.states
    # latent class structure that fades with depth, so layers differ
    y = rng.integers(0, k, n)
    z1, z2 = rng.integers(0, k, n), rng.integers(0, k, n)
    a1 = (y + z1) % k
    a2 = (y - z1) % k  # y is recoverable only from both modalities together (synergy-like) plus noise
    c1 = rng.standard_normal((k, d)).astype(np.float32)
    c2 = rng.standard_normal((k, d)).astype(np.float32)
    embeddings = {}
    for layer in range(L):
        s = 0.5 + 0.25 * layer  # noise grows with depth until clusters blur
        e1 = c1[a1] * 0.4 + s * rng.standard_normal((n, d), dtype=np.float32)
        e2 = c2[a2] * 0.4 + s * rng.standard_normal((n, d), dtype=np.float32)
        embeddings[f"layer_{layer:02d}"] = (e1, e2)
    gen = time.perf_counter() - t0
    t0 = time.perf_counter()
    table = layer_sweep(
        embeddings, y, n_states=k, n_bootstrap=args.bootstrap, n_permutations=args.permutations,
        bias=args.bias, tol=args.tol, method=args.method, progress=True,
    )
    total = time.perf_counter() - t0
    print(f"\n{L} layers x {n} examples x {d}-d per modality, {k} states, {len(np.unique(y))} labels, "
          f"{args.bootstrap} bootstrap + {args.permutations} permutations "
          f"({table.meta['tables_decomposed']} tables), tol {args.tol:g} bits, method {args.method or 'default'}")
    print(f"{'stage':<16}{'seconds':>10}")
    print(f"{'(data gen)':<16}{gen:>10.2f}")
    for stage, sec in table.meta["timings"].items():
        print(f"{stage:<16}{sec:>10.2f}")
    print(f"{'end to end':<16}{total:>10.2f}")
    print("first layers:")
    print(table.to_dataframe()[["layer", "redundancy", "unique_1", "unique_2", "synergy", "synergy_lo", "synergy_hi", "bound"]].head(4).to_string(index=False)
          if args.bootstrap else table.to_dataframe().head(4).to_string(index=False))


if __name__ == "__main__":
    _bench()
