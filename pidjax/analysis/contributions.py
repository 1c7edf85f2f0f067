"""Modality contribution scores from a PID table, beside the accuracy-drop-when-ablated baseline.

The PID score of modality ``i`` is its unique share of the predictive information,
``contribution_i = unique_i / mutual_info_joint`` (0 where the joint information is 0); with
``redundancy / I`` and ``synergy / I`` the four shares sum to 1, so the full R/U/S profile sits
beside it in the table. The outcome-driven baseline asks instead how much accuracy a model
loses when modality ``i`` is removed (replaced by its mean, zeros, or shuffled across
examples). The two disagree in instructive ways: a redundant modality scores 0 unique share
*and* loses no accuracy when ablated, yet carries all the information; a synergistic one
carries no unique share, while ablating it can destroy accuracy.
"""

from __future__ import annotations

from typing import Callable, Mapping

import numpy as np

from pidjax.analysis.sweep import PIDTable

ABLATIONS = ("mean", "zero", "shuffle")


def _ablate(x, mode: str, rng):
    x = np.asarray(x)
    if mode == "mean":
        return np.broadcast_to(x.mean(axis=0, keepdims=True), x.shape).copy()
    if mode == "zero":
        return np.zeros_like(x)
    return x[rng.permutation(x.shape[0])]


def _predicted_classes(out) -> np.ndarray:
    out = np.asarray(out)
    return out.argmax(-1) if out.ndim == 2 else out


def ablation_drop(predict: Callable, inputs_1, inputs_2, labels, *, mode: str = "mean", seed: int = 0) -> dict:
    """Accuracy of ``predict(inputs_1, inputs_2)`` and its drop when each modality is ablated.

    Args:
      predict: callable ``(x1, x2) -> (N,) class ids or (N, classes) scores``.
      inputs_1, inputs_2: the modality inputs, first axis ``N``.
      labels: ``(N,)`` true classes (in the ids ``predict`` returns).
      mode: "mean" (replace by the mean over examples), "zero" or "shuffle" (permute across
        examples, which keeps the marginal but breaks the pairing).
      seed: seed of "shuffle".

    Returns:
      ``{"accuracy", "ablation_drop_1", "ablation_drop_2"}`` (fractions; a drop is
      full accuracy minus ablated accuracy).

    Raises:
      ValueError: unknown mode, mismatched ``N``.

    Example:
      >>> f = lambda a, b: (a[:, 0] > 0).astype(int)
      >>> x = np.array([[-1.0], [1.0], [-2.0], [2.0]])
      >>> ablation_drop(f, x, x, [0, 1, 0, 1])["ablation_drop_1"]
      0.5
    """
    if mode not in ABLATIONS:
        raise ValueError(f"mode must be one of {ABLATIONS}; got {mode!r}")
    y = np.asarray(labels)
    n = y.shape[0]
    for name, x in (("inputs_1", inputs_1), ("inputs_2", inputs_2)):
        if np.shape(x)[0] != n:
            raise ValueError(f"{name} has {np.shape(x)[0]} examples but labels has {n}")
    rng = np.random.default_rng(seed)

    def acc(a, b):
        return float((_predicted_classes(predict(a, b)) == y).mean())

    full = acc(inputs_1, inputs_2)
    return {
        "accuracy": full,
        "ablation_drop_1": full - acc(_ablate(inputs_1, mode, rng), inputs_2),
        "ablation_drop_2": full - acc(inputs_1, _ablate(inputs_2, mode, rng)),
    }


def contribution_scores(
    table,
    *,
    predict: Callable | Mapping | None = None,
    inputs=None,
    labels=None,
    mode: str = "mean",
    seed: int = 0,
) -> PIDTable:
    """Add modality contribution scores (and, given a model, the ablation baseline) to a table.

    Args:
      table: a sweep table (:func:`pidjax.analysis.layer_sweep`).
      predict: optional model. A callable ``(x1, x2) -> predictions`` is run on ``inputs`` (a
        pair) and its drops are reported on every row; a mapping ``{layer: callable}`` is run
        per layer on ``inputs[layer]`` (e.g. the layer's embeddings and a probe or the rest of
        the model from that layer).
      inputs: ``(x1, x2)`` or ``{layer: (x1, x2)}`` matching ``predict``.
      labels: ``(N,)`` classes for the accuracy.
      mode, seed: ablation, see :func:`ablation_drop`.

    Returns:
      A new :class:`PIDTable` with ``contribution_1``, ``contribution_2``,
      ``redundancy_share``, ``synergy_share``; ``contribution_i_significant`` when the table
      has p-values or intervals (False where ``unique_i`` is not distinguishable from 0: its
      permutation p-value is above ``table.meta["alpha"]`` (default 0.05) or its interval
      reaches 0); with a model, ``accuracy``,
      ``ablation_drop_1``, ``ablation_drop_2`` and ``rankings_agree`` (both scores favour the
      same modality). Rows of layers a mapping does not cover get NaN.

    Raises:
      ValueError: a model without inputs/labels, or a table without the PID columns.

    Example:
      >>> t = {"layer": np.array(["a"]), "unique_1": np.array([0.5]), "unique_2": np.array([0.0]),
      ...      "redundancy": np.array([0.5]), "synergy": np.array([0.0]),
      ...      "mutual_info_joint": np.array([1.0])}
      >>> contribution_scores(t)["contribution_1"].tolist()
      [0.5]
    """
    for col in ("layer", "unique_1", "unique_2", "redundancy", "synergy", "mutual_info_joint"):
        if col not in table:
            raise ValueError(f"table has no {col!r} column; pass a table from layer_sweep")
    out = PIDTable(dict(table), getattr(table, "meta", {}))
    total = np.asarray(table["mutual_info_joint"], np.float64)
    safe = np.where(total > 0, total, 1.0)
    for col, src in (("contribution_1", "unique_1"), ("contribution_2", "unique_2"),
                     ("redundancy_share", "redundancy"), ("synergy_share", "synergy")):
        out[col] = np.where(total > 0, np.asarray(table[src]) / safe, 0.0)
    alpha = float(getattr(table, "meta", {}).get("alpha", 0.05))
    for i in (1, 2):
        p, lo = table.get(f"unique_{i}_p"), table.get(f"unique_{i}_lo")
        if p is None and lo is None:
            continue
        sig = np.ones(len(out["layer"]), bool)
        if p is not None:
            sig &= np.asarray(p, np.float64) <= alpha
        if lo is not None:
            sig &= np.asarray(lo, np.float64) > 0
        out[f"contribution_{i}_significant"] = sig
    if predict is None:
        return out
    if inputs is None or labels is None:
        raise ValueError("predict needs inputs and labels for the ablation baseline")
    rows = len(out["layer"])
    cols = {c: np.full(rows, np.nan) for c in ("accuracy", "ablation_drop_1", "ablation_drop_2")}
    if isinstance(predict, Mapping):
        if not isinstance(inputs, Mapping):
            raise ValueError("a mapping predict needs inputs as a mapping {layer: (x1, x2)}")
        for layer, fn in predict.items():
            if layer not in inputs:
                raise ValueError(f"inputs has no entry for layer {layer!r}")
            drops = ablation_drop(fn, *inputs[layer], labels, mode=mode, seed=seed)
            hit = out["layer"] == str(layer)
            for c in cols:
                cols[c][hit] = drops[c]
    else:
        if not (isinstance(inputs, (tuple, list)) and len(inputs) == 2):
            raise ValueError("inputs must be a pair (x1, x2) for a single predict callable")
        drops = ablation_drop(predict, *inputs, labels, mode=mode, seed=seed)
        for c in cols:
            cols[c][:] = drops[c]
    out.update(cols)
    pid_side = np.sign(out["contribution_1"] - out["contribution_2"])
    abl_side = np.sign(cols["ablation_drop_1"] - cols["ablation_drop_2"])
    out["rankings_agree"] = np.where(np.isnan(abl_side), False, pid_side == abl_side)
    return out


def dataset_contributions(table) -> PIDTable:
    """One row per label set summarising the layers: mean shares and where each peaks.

    Returns:
      :class:`PIDTable` with ``label_set``, ``contribution_1``, ``contribution_2``,
      ``redundancy_share``, ``synergy_share`` (means over layers) and ``peak_layer_1``,
      ``peak_layer_2`` (the layer with the most unique information of each modality).

    Example:
      >>> t = {"layer": np.array(["a", "b"]), "label_set": np.array(["y", "y"]),
      ...      "unique_1": np.array([0.2, 0.6]), "unique_2": np.array([0.1, 0.0]),
      ...      "redundancy": np.array([0.0, 0.0]), "synergy": np.array([0.0, 0.0]),
      ...      "mutual_info_joint": np.array([1.0, 1.0])}
      >>> dataset_contributions(t)["peak_layer_1"].tolist()
      ['b']
    """
    scored = contribution_scores(table) if "contribution_1" not in table else table
    sets = np.asarray(scored["label_set"])
    names = list(dict.fromkeys(sets.tolist()))
    cols = {"label_set": np.array(names)}
    for c in ("contribution_1", "contribution_2", "redundancy_share", "synergy_share"):
        cols[c] = np.array([np.mean(np.asarray(scored[c])[sets == s]) for s in names])
    for i in (1, 2):
        cols[f"peak_layer_{i}"] = np.array(
            [np.asarray(scored["layer"])[sets == s][np.argmax(np.asarray(scored[f"unique_{i}"])[sets == s])] for s in names]
        )
    return PIDTable(cols, getattr(table, "meta", {}))
