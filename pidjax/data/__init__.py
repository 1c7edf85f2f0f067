"""Two-modality data sets that ship with pidjax: real digits split into two views, and synthetic tasks.

Every loader returns a :class:`TwoViewData`: two token sequences per example (one per
modality) and an integer label. Nothing is downloaded; the digits live in ``digits.npz`` next
to this file (see ``LICENSE-digits.txt`` for origin, licence and citation).
"""

from __future__ import annotations

from importlib import resources
from typing import Iterator, NamedTuple

import numpy as np

SPLITS = ("top_bottom", "left_right")


class TwoViewData(NamedTuple):
    """Examples seen through two modalities.

    Fields:
      x1: ``(N, T1, F1)`` float32 tokens of modality 1.
      x2: ``(N, T2, F2)`` float32 tokens of modality 2.
      y: ``(N,)`` int32 labels in ``[0, n_classes)``.
      n_classes: number of label values.
      name: a short description, used in reports.
    """

    x1: np.ndarray
    x2: np.ndarray
    y: np.ndarray
    n_classes: int
    name: str

    @property
    def n_samples(self) -> int:
        """``N``, the number of examples."""
        return int(self.y.shape[0])

    def subset(self, index) -> "TwoViewData":
        """The examples at ``index`` (an integer array or a boolean mask), as a new data set."""
        return self._replace(x1=self.x1[index], x2=self.x2[index], y=self.y[index])


def _read_digits() -> tuple[np.ndarray, np.ndarray]:
    try:
        with resources.files(__package__).joinpath("digits.npz").open("rb") as f, np.load(f) as z:
            return np.asarray(z["images"]), np.asarray(z["target"])
    except (OSError, KeyError, ValueError) as exc:  # a broken installation, not a user error
        raise RuntimeError(f"the bundled digits data could not be read ({exc}); reinstall pidjax") from exc


def load_digits_views(split: str = "top_bottom") -> TwoViewData:
    """The bundled 1,797 handwritten digits (UCI, 8x8 pixels) as two views of each image.

    Args:
      split: ``"top_bottom"``: modality 1 is rows 0-3 and modality 2 rows 4-7, each 4 tokens
        (one per pixel row) of 8 pixels; ``"left_right"``: modality 1 is columns 0-3 and
        modality 2 columns 4-7, each 8 tokens (one per row) of 4 pixels. Pixels are scaled to
        ``[0, 1]``.

    Returns:
      :class:`TwoViewData` with ``n_classes = 10``.

    Raises:
      ValueError: an unknown ``split``.

    Example:
      >>> data = load_digits_views()
      >>> data.x1.shape, data.x2.shape, data.n_classes
      ((1797, 4, 8), (1797, 4, 8), 10)
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}; got {split!r}")
    images, target = _read_digits()
    pixels = images.astype(np.float32) / 16.0
    if split == "top_bottom":
        x1, x2 = pixels[:, :4, :], pixels[:, 4:, :]
    else:
        x1, x2 = pixels[:, :, :4], pixels[:, :, 4:]
    return TwoViewData(np.ascontiguousarray(x1), np.ascontiguousarray(x2), target.astype(np.int32), 10,
                       f"digits ({split.replace('_', '/')} halves)")


def synthetic_views(family: str = "synergy", n_samples: int = 2000, *, tokens: int = 4, dim: int = 16,
                    noise: float = 0.25, seed: int = 0) -> TwoViewData:
    """A synthetic task with a known PID (see :mod:`pidjax.synthetic`) shaped as token sequences.

    Each modality's embedding of ``tokens * dim`` numbers is cut into ``tokens`` tokens of
    ``dim`` features, so the built-in models take it like the digits.

    Args:
      family: a family of :data:`pidjax.synthetic.FAMILIES` ("synergy" is the XOR of one latent
        bit per modality).
      n_samples: ``N``.
      tokens, dim: token count and width per modality.
      noise: Gaussian noise per coordinate (one latent bit moves a point by distance 1).
      seed: integer seed.

    Returns:
      :class:`TwoViewData`; ``n_classes`` is the number of label values of the family.

    Raises:
      ValueError: bad family or sizes (from :func:`pidjax.synthetic.make_synthetic`).

    Example:
      >>> data = synthetic_views("synergy", 100)
      >>> data.x1.shape, data.n_classes
      ((100, 4, 16), 2)
    """
    from pidjax.synthetic import make_synthetic

    if int(tokens) != tokens or tokens < 1 or int(dim) != dim or dim < 1:
        raise ValueError(f"tokens and dim must be positive integers; got {tokens!r}, {dim!r}")
    s = make_synthetic(family, n_samples, dim_1=tokens * dim, dim_2=tokens * dim, noise=noise, seed=seed)
    n = s.labels.shape[0]
    return TwoViewData(s.embeddings_1.reshape(n, tokens, dim).astype(np.float32),
                       s.embeddings_2.reshape(n, tokens, dim).astype(np.float32),
                       s.labels.astype(np.int32), int(s.sizes[2]), f"synthetic {family}")


def train_test_split(data: TwoViewData, test_fraction: float = 0.25, seed: int = 0) -> tuple[TwoViewData, TwoViewData]:
    """Split into train and held-out parts, stratified by label, deterministically from ``seed``.

    Raises:
      ValueError: ``test_fraction`` outside ``(0, 1)``.

    Example:
      >>> train, test = train_test_split(load_digits_views(), 0.25, seed=0)
      >>> train.n_samples + test.n_samples
      1797
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie in (0, 1); got {test_fraction!r}")
    rng = np.random.default_rng(seed)
    test = np.zeros(data.n_samples, bool)
    for label in np.unique(data.y):
        idx = np.flatnonzero(data.y == label)
        rng.shuffle(idx)
        test[idx[: int(round(test_fraction * len(idx)))]] = True
    return data.subset(~test), data.subset(test)


def batches(data: TwoViewData, batch_size: int = 256, *, shuffle: bool = False, seed: int = 0,
            drop_last: bool = False) -> Iterator[dict[str, np.ndarray]]:
    """Iterate over ``{"x1", "x2", "y"}`` batches of ``data``.

    Raises:
      ValueError: ``batch_size < 1``.

    Example:
      >>> next(batches(load_digits_views(), 32))["x1"].shape
      (32, 4, 8)
    """
    if int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer; got {batch_size!r}")
    order = np.random.default_rng(seed).permutation(data.n_samples) if shuffle else np.arange(data.n_samples)
    stop = data.n_samples - (data.n_samples % batch_size if drop_last else 0)
    for start in range(0, stop, batch_size):
        idx = order[start:start + batch_size]
        yield {"x1": data.x1[idx], "x2": data.x2[idx], "y": data.y[idx]}


__all__ = ["SPLITS", "TwoViewData", "batches", "load_digits_views", "synthetic_views", "train_test_split"]
