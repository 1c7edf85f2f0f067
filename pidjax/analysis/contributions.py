"""Modality contribution scores from a PID table, beside the accuracy-drop-when-ablated baseline.

The PID score of modality ``i`` is its unique share of the predictive information,
``contribution_i = unique_i / mutual_info_joint`` (0 where the joint information is 0); with
``redundancy / I`` and ``synergy / I`` the four shares sum to 1, so the full R/U/S profile sits
beside it in the table. The outcome-driven baseline asks instead how much accuracy a model
loses when modality ``i`` is removed (replaced by its mean, zeros, or shuffled across
examples). The two disagree in instructive ways: a redundant modality scores 0 unique share
*and* loses no accuracy when ablated, yet carries all the information; a synergistic one
carries no unique share, while ablating it can destroy accuracy.

The baseline comes in three kinds, recorded in the table (``ablation_kind`` column,
``meta["ablation"]``) so a report can say which was run:

- ``"input-level"``: :func:`ablation_drop` on the model's inputs, one number for every layer;
- ``"layer-wise mean, Flax"``: :func:`pidjax.adapters.ablate_layers`, each layer's activations
  of one modality replaced by their mean inside a Flax model, one number per layer;
- ``"stored predictions"``: :func:`ablation_from_predictions`, predictions made under ablation
  elsewhere (e.g. by a torch extractor) and saved.
"""

from __future__ import annotations

from typing import Callable, Mapping

import numpy as np

from pidjax.analysis.sweep import PIDTable

ABLATIONS = ("mean", "zero", "shuffle")
DROP_COLUMNS = ("accuracy", "ablation_drop_1", "ablation_drop_2")


class AblationScores(dict):
    """``{layer: {"accuracy", "ablation_drop_1", "ablation_drop_2"}}`` (fractions) plus ``kind``, the ablation run.

    Example:
      >>> row = {"accuracy": 0.9, "ablation_drop_1": 0.1, "ablation_drop_2": 0.0}
      >>> AblationScores({"l0": row}, "stored predictions").kind
      'stored predictions'
    """

    def __init__(self, scores=(), kind: str = "layer-wise"):
        super().__init__(scores)
        self.kind = str(kind)


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


def _classes(values, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one class per example); got shape {arr.shape}")
    return arr


def _is_text(arr: np.ndarray) -> bool:
    if arr.dtype.kind in "US":
        return True
    return arr.dtype.kind == "O" and arr.size > 0 and isinstance(arr.flat[0], (str, bytes))


def ablation_from_predictions(ablated: Mapping, predictions, labels) -> AblationScores:
    """Per-layer accuracy drops from stored predictions made with each modality ablated.

    Args:
      ablated: ``{layer: {1: preds (N,), 2: preds (N,)}}`` (or ``{layer: (preds_1, preds_2)}``):
        the model's predicted classes with modality 1 (2) ablated at that layer. Callers with
        modality names map them to 1 and 2 first.
      predictions: ``(N,)`` the unablated model's predicted classes.
      labels: ``(N,)`` true classes, comparable with the predictions (both ints or both strings).

    Returns:
      :class:`AblationScores` (a dict, ``kind="stored predictions"``) of
      ``{layer: {"accuracy", "ablation_drop_1", "ablation_drop_2"}}``: fractions, a drop being
      full accuracy minus ablated accuracy; ready for ``contribution_scores(table, ablation=...)``.

    Raises:
      ValueError: arrays that are not 1-D or differ in length (named by layer and modality), a
        layer without both modalities, labels and predictions of incomparable kinds (text
        against numbers), no layers or no examples.

    Example:
      >>> ablation_from_predictions({"l0": {1: [0, 0, 1, 1], 2: [0, 1, 1, 1]}}, [0, 1, 1, 1], [0, 1, 1, 0])["l0"]
      {'accuracy': 0.75, 'ablation_drop_1': 0.25, 'ablation_drop_2': 0.0}
    """
    if not isinstance(ablated, Mapping) or not ablated:
        raise ValueError("ablated must be a non-empty mapping {layer: {1: predictions, 2: predictions}}")
    y = _classes(labels, "labels")
    full = _classes(predictions, "predictions")
    if full.shape[0] != y.shape[0]:
        raise ValueError(f"predictions has {full.shape[0]} examples but labels has {y.shape[0]}")
    if y.shape[0] == 0:
        raise ValueError("labels is empty")
    text = {name: _is_text(a) for name, a in (("labels", y), ("predictions", full))}
    if text["labels"] != text["predictions"]:
        raise ValueError(f"labels ({y.dtype}) and predictions ({full.dtype}) are not comparable: one holds text, "
                         "the other numbers; map them to the same classes first")
    accuracy = float((full == y).mean())
    out = AblationScores(kind="stored predictions")
    for layer, pair in ablated.items():
        if isinstance(pair, Mapping):
            missing = [i for i in (1, 2) if i not in pair]
            if missing:
                raise ValueError(f"ablated[{layer!r}] has no modality {missing[0]}; expected keys 1 and 2 (map "
                                 "modality names to 1 and 2 first)")
            pair = (pair[1], pair[2])
        elif not (isinstance(pair, (tuple, list)) and len(pair) == 2):
            raise ValueError(f"ablated[{layer!r}] must be {{1: predictions, 2: predictions}} or a pair; got "
                             f"{type(pair).__name__}")
        scores = {"accuracy": accuracy}
        for i, preds in enumerate(pair, start=1):
            arr = _classes(preds, f"ablated[{layer!r}][{i}]")
            if arr.shape[0] != y.shape[0]:
                raise ValueError(f"ablated[{layer!r}][{i}] has {arr.shape[0]} examples but labels has {y.shape[0]}")
            if _is_text(arr) != text["labels"]:
                raise ValueError(f"ablated[{layer!r}][{i}] ({arr.dtype}) is not comparable with labels ({y.dtype})")
            scores[f"ablation_drop_{i}"] = accuracy - float((arr == y).mean())
        out[str(layer)] = scores
    return out


def _layer_scores(ablation) -> tuple[Mapping, str]:
    """``(scores by layer, kind)`` of an ``ablation=`` argument (a mapping or ``ablate_layers``' result)."""
    scores = getattr(ablation, "scores", ablation)
    kind = getattr(ablation, "kind", None) or getattr(scores, "kind", None) or "layer-wise"
    if not isinstance(scores, Mapping) or not scores:
        raise ValueError("ablation must be a non-empty mapping {layer: {'accuracy', 'ablation_drop_1', "
                         "'ablation_drop_2'}} or the result of pidjax.adapters.ablate_layers")
    for layer, row in scores.items():
        missing = [c for c in DROP_COLUMNS if not isinstance(row, Mapping) or c not in row]
        if missing:
            raise ValueError(f"ablation[{layer!r}] lacks {', '.join(missing)}")
    return scores, str(kind)


def contribution_scores(
    table,
    *,
    predict: Callable | Mapping | None = None,
    inputs=None,
    labels=None,
    mode: str = "mean",
    seed: int = 0,
    ablation=None,
) -> PIDTable:
    """Add modality contribution scores (and, given a model or its ablation, the ablation baseline) to a table.

    Args:
      table: a sweep table (:func:`pidjax.analysis.layer_sweep`).
      predict: optional model. A callable ``(x1, x2) -> predictions`` is run on ``inputs`` (a
        pair) and its drops are reported on every row (input-level ablation); a mapping
        ``{layer: callable}`` is run per layer on ``inputs[layer]`` (e.g. the layer's embeddings
        and a probe or the rest of the model from that layer).
      inputs: ``(x1, x2)`` or ``{layer: (x1, x2)}`` matching ``predict``.
      labels: ``(N,)`` classes for the accuracy.
      mode, seed: ablation, see :func:`ablation_drop`.
      ablation: instead of ``predict``, per-layer results computed elsewhere:
        ``{layer: {"accuracy", "ablation_drop_1", "ablation_drop_2"}}`` (fractions), the result
        of :func:`pidjax.adapters.ablate_layers` or of :func:`ablation_from_predictions`. Its
        ``kind`` (when it has one) is recorded.

    Returns:
      A new :class:`PIDTable` with ``contribution_1``, ``contribution_2``,
      ``redundancy_share``, ``synergy_share``; ``contribution_i_significant`` when the table
      has p-values or intervals (False where ``unique_i`` is not distinguishable from 0: its
      permutation p-value is above ``table.meta["alpha"]`` (default 0.05) or its interval
      reaches 0); with a model or an ablation, ``accuracy``, ``ablation_drop_1``,
      ``ablation_drop_2``, ``rankings_agree`` (both scores favour the same modality) and
      ``ablation_kind`` (``"input-level"``, ``"per-layer predict"``, ``"layer-wise mean,
      Flax"``, ``"stored predictions"``; ``""`` on rows not covered), and ``meta["ablation"]``
      the kind. Rows of layers a mapping does not cover get NaN.

    Raises:
      ValueError: a model without inputs/labels, both ``predict`` and ``ablation``, an
        ablation entry without the three numbers, or a table without the PID columns.

    Example:
      >>> t = {"layer": np.array(["a", "b"]), "unique_1": np.array([0.5, 0.1]), "unique_2": np.array([0.0, 0.3]),
      ...      "redundancy": np.array([0.5, 0.2]), "synergy": np.array([0.0, 0.0]),
      ...      "mutual_info_joint": np.array([1.0, 0.5])}
      >>> contribution_scores(t)["contribution_1"].tolist()
      [0.5, 0.2]
      >>> abl = {"b": {"accuracy": 0.9, "ablation_drop_1": 0.05, "ablation_drop_2": 0.4}}
      >>> contribution_scores(t, ablation=abl)["ablation_drop_2"].tolist()
      [nan, 0.4]
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
    if predict is None and ablation is None:
        return out
    if predict is not None and ablation is not None:
        raise ValueError("pass either predict (run the ablation here) or ablation (results computed elsewhere), "
                         "not both")
    rows = len(out["layer"])
    layer_col = np.asarray(out["layer"]).astype(str)
    cols = {c: np.full(rows, np.nan) for c in DROP_COLUMNS}
    covered = np.zeros(rows, bool)
    if ablation is not None:
        scores, kind = _layer_scores(ablation)
        for layer, row in scores.items():
            hit = layer_col == str(layer)
            for c in cols:
                cols[c][hit] = float(row[c])
            covered |= hit
    else:
        if inputs is None or labels is None:
            raise ValueError("predict needs inputs and labels for the ablation baseline")
        if isinstance(predict, Mapping):
            if not isinstance(inputs, Mapping):
                raise ValueError("a mapping predict needs inputs as a mapping {layer: (x1, x2)}")
            kind = "per-layer predict"
            for layer, fn in predict.items():
                if layer not in inputs:
                    raise ValueError(f"inputs has no entry for layer {layer!r}")
                drops = ablation_drop(fn, *inputs[layer], labels, mode=mode, seed=seed)
                hit = layer_col == str(layer)
                for c in cols:
                    cols[c][hit] = drops[c]
                covered |= hit
        else:
            if not (isinstance(inputs, (tuple, list)) and len(inputs) == 2):
                raise ValueError("inputs must be a pair (x1, x2) for a single predict callable")
            kind = "input-level"
            drops = ablation_drop(predict, *inputs, labels, mode=mode, seed=seed)
            for c in cols:
                cols[c][:] = drops[c]
            covered[:] = True
        out.meta["ablation_mode"] = mode
    out.update(cols)
    pid_side = np.sign(out["contribution_1"] - out["contribution_2"])
    abl_side = np.sign(cols["ablation_drop_1"] - cols["ablation_drop_2"])
    out["rankings_agree"] = np.where(np.isnan(abl_side), False, pid_side == abl_side)
    out["ablation_kind"] = np.where(covered, kind, "")
    out.meta["ablation"] = kind
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
