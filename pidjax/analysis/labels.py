"""The three kinds of label ``Y``: ground truth, a model's predictions, a discretised output."""

from __future__ import annotations

import numpy as np

from pidjax.discretize import discretize


def encode_labels(values, name: str = "labels") -> np.ndarray:
    """Integer codes ``0..k-1`` for arbitrary 1-D label values (numbers or strings).

    Args:
      values: ``(N,)`` labels of any sortable dtype.
      name: how the argument is called in messages.

    Returns:
      ``(N,)`` int32 codes, numbered in sorted order of the distinct values.

    Raises:
      ValueError: not 1-D, empty, NaN among float labels, or a single class (every PID term
        would be 0 by construction).

    Example:
      >>> encode_labels(["cat", "dog", "cat"]).tolist()
      [0, 1, 0]
    """
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D with one label per example; got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty")
    if np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
        raise ValueError(f"{name} has NaN/inf entries (first at example {int(np.argwhere(~np.isfinite(arr))[0][0])})")
    classes, codes = np.unique(arr, return_inverse=True)
    if len(classes) < 2:
        raise ValueError(
            f"{name} has a single class ({classes[0]!r}) over all {arr.size} examples: Y carries no "
            "information, so every PID term is 0; give labels with at least two classes"
        )
    return codes.astype(np.int32)


def labels_from_ground_truth(labels) -> np.ndarray:
    """Codes of task labels (the "ground truth" kind of Y); see :func:`encode_labels`.

    Example:
      >>> labels_from_ground_truth([3, 7, 7]).tolist()
      [0, 1, 1]
    """
    return encode_labels(labels, "labels")


def labels_from_predictions(predictions) -> np.ndarray:
    """Codes of a model's predictions: class ids ``(N,)`` or scores/logits ``(N, classes)``.

    Scores are turned into their argmax. Raises ValueError for other ranks, NaN scores or a
    single predicted class.

    Example:
      >>> labels_from_predictions([[0.1, 0.9], [0.8, 0.2]]).tolist()
      [1, 0]
    """
    arr = np.asarray(predictions)
    if arr.ndim == 2:
        if not np.isfinite(arr).all():
            raise ValueError("predictions has NaN/inf scores")
        arr = arr.argmax(axis=1)
    elif arr.ndim != 1:
        raise ValueError(f"predictions must be (N,) class ids or (N, classes) scores; got shape {arr.shape}")
    return encode_labels(arr, "predictions")


def labels_from_embedding(output_embedding, n_labels: int, *, method: str = "kmeans", seed: int = 0, **kwargs) -> np.ndarray:
    """Codes from clustering an output embedding ``(N, d)`` into ``n_labels`` states.

    Uses :func:`pidjax.discretize.discretize` (extra keyword arguments go there). Raises
    ValueError for bad input, or when everything lands in one state (e.g. a constant output).

    Example:
      >>> out = np.r_[np.zeros((3, 2)), np.ones((2, 2))] + 0.01 * np.arange(5)[:, None]
      >>> labels_from_embedding(out, 2).tolist()
      [0, 0, 0, 1, 1]
    """
    codes = discretize(output_embedding, n_labels, method=method, seed=seed, name="output_embedding", **kwargs)
    if np.ndim(codes) != 1:
        raise ValueError("output_embedding must be one layer of shape (N, d)")
    return encode_labels(codes, "output_embedding states")
