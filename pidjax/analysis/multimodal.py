"""More than two modalities: bivariate PID on pairs and on "one versus the rest" groupings.

The BROJA decomposition is defined for two sources. For ``M`` modalities this module reports,
per layer, two families of bivariate decompositions, all solved in ONE ``decompose`` call:

* ``pair``: modality ``i`` against modality ``j`` for every pair ``i < j`` (the others are
  ignored, i.e. marginalised out);
* ``one_vs_rest``: modality ``i`` against the joint state of all the others, re-coded
  compactly (only joint states that occur get a code).

This is bivariate PID on groupings, not a multivariate PID lattice: redundancy in a pair is
what those two share, whatever a third modality holds, and the "rest" is treated as one
source, so its unique information mixes everything the others carry. Caveats:

* the joint states of the rest multiply (up to ``prod`` of the other modalities' states, at
  most ``N``), so plug-in estimates of ``one_vs_rest`` rows are biased upwards far sooner than
  the pair rows; a ``UserWarning`` says when a table has fewer than ``min_samples_per_cell``
  examples per cell, and ``n_samples`` / ``states_2`` are in the table to judge by;
* every table in the call is padded with unused states to the largest one, so the cost of
  the call follows the largest "rest".

Table columns (bits): ``layer``, ``kind`` ("pair" or "one_vs_rest"), ``modality_1``,
``modality_2`` (a name, or ``"rest(b,c)"``), the four terms, the three mutual informations,
``bound``, ``converged``, ``n_samples``, ``states_1``, ``states_2`` (occupied), ``n_labels``.
"""

from __future__ import annotations

import itertools
import time
import warnings
from typing import Mapping

import numpy as np

from pidjax.analysis.estimation import DEFAULT_BIAS, estimate_columns, plan_rows
from pidjax.analysis.labels import encode_labels
from pidjax.analysis.sweep import PIDTable

MAX_CELLS = 2**31  # largest padded table the histogram accepts


def _compact(codes: np.ndarray) -> np.ndarray:
    """Dense codes ``0..s-1`` for the distinct rows of ``codes`` ``(N, r)`` (order of first sort)."""
    _, inverse = np.unique(codes, axis=0, return_inverse=True)
    return inverse.reshape(-1).astype(np.int64)


def _check_codes(codes, layers) -> tuple[list[str], np.ndarray, list[str]]:
    if isinstance(codes, Mapping):
        names = [str(k) for k in codes]
        arrays = list(codes.values())
    else:
        arrays = list(codes)
        names = [str(i) for i in range(len(arrays))]
    if len(arrays) < 2:
        raise ValueError(f"codes must hold at least two modalities; got {len(arrays)}")
    stack = []
    for name, arr in zip(names, arrays):
        a = np.asarray(arr)
        if not np.issubdtype(a.dtype, np.integer):
            raise ValueError(f"codes[{name!r}] must hold integer states; got dtype {a.dtype}")
        a = np.atleast_2d(a)
        if a.ndim != 2:
            raise ValueError(f"codes[{name!r}] must have shape (L, N) or (N,); got {np.shape(arr)}")
        if a.shape[-1] == 0:
            raise ValueError(f"codes[{name!r}] has no samples (N = 0)")
        if (a < 0).any():
            raise ValueError(f"codes[{name!r}] has negative states")
        stack.append(a.astype(np.int64))
    shapes = {a.shape for a in stack}
    if len(shapes) > 1:
        raise ValueError(f"every modality needs the same (L, N) codes; got {', '.join(f'{n}: {a.shape}' for n, a in zip(names, stack))}")
    c = np.stack(stack, 1)  # (L, M, N)
    n_layers = c.shape[0]
    layer_names = [str(i) for i in range(n_layers)] if layers is None else [str(x) for x in layers]
    if len(layer_names) != n_layers:
        raise ValueError(f"layers has {len(layer_names)} names for {n_layers} layers")
    if len(set(names)) != len(names):
        raise ValueError(f"modality names must be distinct; got {names}")
    return names, c, layer_names


def multimodal_codes(
    codes,
    labels,
    *,
    layers=None,
    pairs: bool = True,
    one_vs_rest: bool = True,
    bias: str = DEFAULT_BIAS,
    n_permutations: int = 100,
    n_splits: int = 8,
    seed: int = 0,
    tol: float | None = None,
    max_iters: int | None = None,
    method: str | None = None,
    min_samples_per_cell: float = 5.0,
) -> PIDTable:
    """Pairwise and one-versus-rest PID of ``M >= 2`` discretised modalities, one kernel call.

    Args:
      codes: ``{modality: (L, N) or (N,) integer states}`` (or a sequence, named "0", "1", ...),
        the same shape for every modality.
      labels: ``(N,)`` labels (any values; encoded with :func:`encode_labels`).
      layers: ``L`` layer names (default "0", "1", ...).
      pairs, one_vs_rest: which families of rows to compute (at least one).
      bias, n_permutations, n_splits, seed: the bias correction of the terms, as in
        :func:`pidjax.analysis.sweep_codes` (plug-in values in ``<term>_plugin``, permutation
        p-values in ``<term>_p``).
      tol, max_iters, method: passed to :func:`pidjax.decompose`.
      min_samples_per_cell: warn when a table has ``N < min_samples_per_cell * cells``
        (occupied states of both sources times labels).

    Returns:
      :class:`~pidjax.analysis.PIDTable`, rows layer-major, then pairs ``(i, j)`` in order,
      then one-vs-rest rows in modality order; bits. See the module docstring for columns.

    Raises:
      ValueError: fewer than two modalities, non-integer or negative codes, shapes that
        differ between modalities, labels of the wrong length, nothing asked for, or a padded
        table over :data:`MAX_CELLS` cells (too many joint states in some rest).

    Warns:
      UserWarning: too few examples per cell in some row (plug-in bias, typical of the rest).
    """
    import pidjax

    if not (pairs or one_vs_rest):
        raise ValueError("nothing to compute: pairs and one_vs_rest are both False")
    names, c, layer_names = _check_codes(codes, layers)
    n_layers, n_mod, n = c.shape
    y = encode_labels(labels, "labels")
    if y.shape[0] != n:
        raise ValueError(f"labels has {y.shape[0]} entries but the codes have {n} examples")
    t0 = time.perf_counter()
    rows = []  # (layer index, kind, name_1, name_2, codes_1 (N,), codes_2 (N,))
    for li in range(n_layers):
        dense = [_compact(c[li, i][:, None]) for i in range(n_mod)]  # unused states dropped
        if pairs:
            for i, j in itertools.combinations(range(n_mod), 2):
                rows.append((li, "pair", names[i], names[j], dense[i], dense[j]))
        if one_vs_rest:
            for i in range(n_mod):
                others = [k for k in range(n_mod) if k != i]
                rest = _compact(np.stack([dense[k] for k in others], 1))
                rows.append((li, "one_vs_rest", names[i], f"rest({','.join(names[k] for k in others)})", dense[i], rest))
    m = max(int(r[4].max()) + 1 for r in rows)
    nn = max(int(r[5].max()) + 1 for r in rows)
    k = int(y.max()) + 1
    if m * nn * k >= MAX_CELLS:
        raise ValueError(
            f"the padded tables would have {m} x {nn} x {k} cells: the joint states of some rest are too "
            "many; use fewer states per modality or pairs only (one_vs_rest=False)"
        )
    x1 = np.stack([r[4] for r in rows])
    x2 = np.stack([r[5] for r in rows])
    plan, caught = plan_rows(y[None], n_bootstrap=0, n_permutations=n_permutations, bias=bias, n_splits=n_splits,
                             seed=seed, names=["labels"])
    shape = (len(rows), plan.weights.shape[1], n)
    P = pidjax.joint_distribution(np.broadcast_to(x1[:, None], shape), np.broadcast_to(x2[:, None], shape),
                                  np.broadcast_to(plan.labels, shape), weights=np.broadcast_to(plan.weights, shape),
                                  sizes=(m, nn, k))
    res = pidjax.decompose(P, tol=tol, max_iters=max_iters, method=method)
    estimated = estimate_columns(res, plan, bias)
    t1 = time.perf_counter()
    cols: dict[str, np.ndarray] = {
        "layer": np.array([layer_names[r[0]] for r in rows]),
        "kind": np.array([r[1] for r in rows]),
        "modality_1": np.array([r[2] for r in rows]),
        "modality_2": np.array([r[3] for r in rows]),
    }
    cols.update(estimated)
    cols["n_samples"] = np.full(len(rows), n)
    cols["states_1"] = np.array([int(r[4].max()) + 1 for r in rows])
    cols["states_2"] = np.array([int(r[5].max()) + 1 for r in rows])
    cols["n_labels"] = np.full(len(rows), len(np.unique(y)))
    cells = cols["states_1"] * cols["states_2"] * cols["n_labels"]
    sparse = n < min_samples_per_cell * cells
    for msg in caught:
        warnings.warn(msg, UserWarning, stacklevel=2)
    if sparse.any():
        worst = int(np.argmax(cells))
        msg = (
            f"{int(sparse.sum())} of {len(rows)} tables have fewer than {min_samples_per_cell:g} examples per "
            f"cell (e.g. layer {cols['layer'][worst]!r}, {cols['modality_1'][worst]} vs {cols['modality_2'][worst]}: "
            f"{int(cells[worst])} cells for N={n}); plug-in information is biased upwards there, most of all "
            "in one-vs-rest rows"
        )
        caught.append(msg)
        warnings.warn(msg, UserWarning, stacklevel=2)
    meta = {
        "timings": {"decompose": t1 - t0},
        "warnings": caught,
        "modalities": names,
        "tables_decomposed": int(np.prod(P.shape[:-3])),
        "bias": bias,
        "n_permutations": int(n_permutations),
        "padded_shape": (m, nn, k),
    }
    return PIDTable(cols, meta)


def multimodal_sweep(
    embeddings: Mapping,
    labels,
    *,
    n_states: int = 8,
    discretizer: str = "kmeans",
    n_components: int = 32,
    seed: int = 0,
    **kwargs,
) -> PIDTable:
    """Pairwise and one-versus-rest PID of ``M >= 2`` modalities at every layer of a model.

    Args:
      embeddings: ``{layer: {modality: (N, d)}}``, the same modalities and ``N`` at every layer.
      labels: ``(N,)`` labels.
      n_states: states per modality (k-means or quantile bins, see
        :func:`pidjax.discretize.discretize`); keep it small: a rest of ``M - 1`` modalities
        has up to ``n_states ** (M - 1)`` joint states.
      discretizer, n_components, seed: discretisation settings (modality ``i`` uses
        ``seed + i``).
      **kwargs: passed to :func:`multimodal_codes`.

    Returns:
      :class:`~pidjax.analysis.PIDTable` as :func:`multimodal_codes` gives; bits.

    Raises:
      ValueError: an empty mapping, layers with different modalities, wrong shapes; see also
        :func:`multimodal_codes` and :func:`pidjax.discretize.discretize`.
    """
    from pidjax.discretize import discretize

    if not isinstance(embeddings, Mapping) or not embeddings:
        raise ValueError("embeddings must be a non-empty mapping {layer: {modality: (N, d)}}")
    layer_names = [str(k) for k in embeddings]
    first = next(iter(embeddings.values()))
    if not isinstance(first, Mapping):
        raise ValueError("embeddings[layer] must be a mapping {modality: (N, d)}")
    mods = [str(k) for k in first]
    for layer, per in embeddings.items():
        if not isinstance(per, Mapping) or [str(k) for k in per] != mods:
            raise ValueError(f"embeddings[{layer!r}] must have the modalities {mods} (in that order)")
    codes = {}
    for i, mod in enumerate(mods):
        stack = [np.asarray(embeddings[layer][mod]) for layer in embeddings]
        codes[mod] = np.atleast_2d(
            discretize(stack, n_states, method=discretizer, n_components=n_components, seed=seed + i,
                       name=f"embeddings[...][{mod!r}]")
        )
    table = multimodal_codes(codes, labels, layers=layer_names, **kwargs)
    table.meta.update(n_states=n_states, discretizer=discretizer)
    return table
