"""Two-modality embeddings with a known partial information decomposition.

The label is built from independent fair latent bits of four kinds:

- *redundant* bits ``r``: seen by both modalities, copied into the label;
- *unique-1* bits ``a``: seen only by modality 1, copied into the label;
- *unique-2* bits ``b``: seen only by modality 2, copied into the label;
- *synergistic* pairs ``(s1, s2)``: ``s1`` seen by modality 1, ``s2`` by modality 2, and only
  ``s1 xor s2`` enters the label.

Modality 1's latent state is ``(r, a, s1)``, modality 2's is ``(r, b, s2)``, the label is
``(r, a, b, s1 xor s2)``. The four groups are independent sub-systems, and the BROJA
decomposition adds over independent sub-systems, so the truth in bits is simply
``R = #r, U1 = #a, U2 = #b, S = #pairs`` (the tests check this against the kernel on the exact
latent table). A family is a choice of counts: "redundant" is ``R = 1`` only, "synergy" the XOR
of two latent bits, "mixture" one bit of each kind.

Each latent state becomes a high-dimensional embedding: its bits as ``+-1`` through a fixed
random linear map of norm ``separation`` per bit, plus isotropic Gaussian noise of standard
deviation ``noise`` per coordinate, optionally through ``tanh``. Several noise levels give
several "layers" that share latents and labels.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np

FAMILIES: dict[str, dict[str, int]] = {
    "redundant": {"redundant": 1, "unique_1": 0, "unique_2": 0, "synergy": 0},
    "unique_1": {"redundant": 0, "unique_1": 1, "unique_2": 0, "synergy": 0},
    "unique_2": {"redundant": 0, "unique_1": 0, "unique_2": 1, "synergy": 0},
    "synergy": {"redundant": 0, "unique_1": 0, "unique_2": 0, "synergy": 1},
    "mixture": {"redundant": 1, "unique_1": 1, "unique_2": 1, "synergy": 1},
}

_KINDS = ("redundant", "unique_1", "unique_2", "synergy")


class SyntheticData(NamedTuple):
    """Embeddings, labels and the latent truth of one synthetic data set."""

    embeddings_1: np.ndarray  # (N, dim_1), or (L, N, dim_1) for several noise levels
    embeddings_2: np.ndarray  # (N, dim_2), or (L, N, dim_2)
    labels: np.ndarray  # (N,) int, in [0, n_labels)
    states_1: np.ndarray  # (N,) latent state of modality 1, in [0, 2**bits_1)
    states_2: np.ndarray  # (N,) latent state of modality 2
    truth: dict  # {"redundancy", "unique_1", "unique_2", "synergy"} in bits
    sizes: tuple  # (states of modality 1, states of modality 2, labels) of the latent table


def _counts(family: str | None, bits: dict | None) -> dict[str, int]:
    if bits is None:
        if family not in FAMILIES:
            raise ValueError(f"family must be one of {tuple(FAMILIES)}; got {family!r}")
        return dict(FAMILIES[family])
    unknown = set(bits) - set(_KINDS)
    if unknown:
        raise ValueError(f"bits has unknown kinds {sorted(unknown)}; use {_KINDS}")
    out = {kind: bits.get(kind, 0) for kind in _KINDS}
    for kind, val in out.items():
        if int(val) != val or val < 0:
            raise ValueError(f"bits[{kind!r}] must be a non-negative integer; got {val!r}")
    if sum(out.values()) == 0:
        raise ValueError("bits must ask for at least one latent bit")
    return {k: int(v) for k, v in out.items()}


def analytic_pid(family: str | None = "mixture", *, bits: dict | None = None) -> dict[str, float]:
    """The exact BROJA decomposition (bits) of a family's latent table.

    Args:
      family: one of :data:`FAMILIES`; ignored when ``bits`` is given.
      bits: counts per kind, e.g. ``{"redundant": 2, "synergy": 1}`` (missing kinds are 0).

    Returns:
      ``{"redundancy", "unique_1", "unique_2", "synergy"}`` in bits.

    Raises:
      ValueError: unknown family or kind, negative or all-zero counts.

    Example:
      >>> analytic_pid("synergy")
      {'redundancy': 0.0, 'unique_1': 0.0, 'unique_2': 0.0, 'synergy': 1.0}
    """
    c = _counts(family, bits)
    return {
        "redundancy": float(c["redundant"]),
        "unique_1": float(c["unique_1"]),
        "unique_2": float(c["unique_2"]),
        "synergy": float(c["synergy"]),
    }


def _encode(latents: np.ndarray, groups: Sequence[np.ndarray]) -> np.ndarray:
    """Pack bit columns (in order of ``groups``) into one integer per row."""
    cols = [latents[:, g] for g in groups if len(g)]
    if not cols:
        return np.zeros(latents.shape[0], np.int64)
    bits = np.concatenate(cols, axis=1)
    return bits @ (1 << np.arange(bits.shape[1] - 1, -1, -1))


def _layout(c: dict[str, int]):
    """Column indices of each kind in the latent bit matrix."""
    start, cols = 0, {}
    for kind, width in (("r", c["redundant"]), ("a", c["unique_1"]), ("b", c["unique_2"]),
                        ("s1", c["synergy"]), ("s2", c["synergy"])):
        cols[kind] = np.arange(start, start + width)
        start += width
    return cols, start


def _states(latents: np.ndarray, c: dict[str, int]):
    cols, _ = _layout(c)
    x1 = _encode(latents, [cols["r"], cols["a"], cols["s1"]])
    x2 = _encode(latents, [cols["r"], cols["b"], cols["s2"]])
    xor = latents[:, cols["s1"]] ^ latents[:, cols["s2"]]
    y_bits = np.concatenate([latents[:, cols["r"]], latents[:, cols["a"]], latents[:, cols["b"]], xor], axis=1)
    y = y_bits @ (1 << np.arange(y_bits.shape[1] - 1, -1, -1)) if y_bits.shape[1] else np.zeros(len(latents), np.int64)
    sizes = (
        2 ** (c["redundant"] + c["unique_1"] + c["synergy"]),
        2 ** (c["redundant"] + c["unique_2"] + c["synergy"]),
        2 ** (c["redundant"] + c["unique_1"] + c["unique_2"] + c["synergy"]),
    )
    return x1, x2, y, sizes


def latent_distribution(family: str | None = "mixture", *, bits: dict | None = None) -> np.ndarray:
    """The exact joint table ``P(state_1, state_2, label)`` of a family's latent variables.

    Returns:
      float64 array of shape ``sizes`` (see :class:`SyntheticData`), summing to 1.

    Example:
      >>> latent_distribution("redundant").shape
      (2, 2, 2)
    """
    c = _counts(family, bits)
    _, width = _layout(c)
    every = (np.arange(2**width)[:, None] >> np.arange(width - 1, -1, -1)) & 1
    x1, x2, y, sizes = _states(every, c)
    P = np.zeros(sizes)
    np.add.at(P, (x1, x2, y), 1.0 / len(every))
    return P


def _embed(bits: np.ndarray, dim: int, separation: float, noise: float, nonlinear: bool, map_rng, noise_rng):
    """``(N, dim)`` embedding of ``+-1`` bits through a random map plus Gaussian noise."""
    n, width = bits.shape
    # orthonormal directions (dim >= width): flipping one bit moves the point by `separation`
    directions = np.linalg.qr(map_rng.standard_normal((dim, max(width, 1))))[0][:, :width].T
    out = (bits - 0.5) @ directions * separation + noise * noise_rng.standard_normal((n, dim))
    return np.tanh(out) if nonlinear else out


def make_synthetic(
    family: str | None = "mixture",
    n_samples: int = 5000,
    *,
    bits: dict | None = None,
    dim_1: int = 128,
    dim_2: int = 128,
    noise: float | Sequence[float] = 0.1,
    separation: float = 1.0,
    nonlinear: bool = False,
    seed: int = 0,
    dtype=np.float32,
) -> SyntheticData:
    """Sample a two-modality data set whose label has a known PID.

    Args:
      family: one of :data:`FAMILIES` ("redundant", "unique_1", "unique_2", "synergy",
        "mixture"); ignored when ``bits`` is given.
      n_samples: number of examples ``N``.
      bits: latent bit counts per kind, e.g. ``{"redundant": 1, "synergy": 2}``.
      dim_1, dim_2: embedding widths (at least the number of latent bits of each modality).
      noise: standard deviation of the Gaussian noise per coordinate; a sequence gives one
        layer per level, stacked as ``(L, N, dim)``, sharing latents and labels.
      separation: distance between two latent states that differ in one bit, before noise
        (a bit is recovered almost surely when ``separation / 2 >= 4 * noise``).
      nonlinear: pass the embedding through ``tanh``.
      seed: integer seed; the output is a deterministic function of all arguments.
      dtype: float dtype of the embeddings.

    Returns:
      :class:`SyntheticData`; ``truth`` is :func:`analytic_pid` of the family.

    Raises:
      ValueError: unknown family, bad counts, ``n_samples < 1``, a width smaller than the
        number of bits it must carry, or a negative noise level.

    Example:
      >>> data = make_synthetic("synergy", 100, dim_1=8, dim_2=8)
      >>> data.embeddings_1.shape, data.truth["synergy"]
      ((100, 8), 1.0)
    """
    c = _counts(family, bits)
    if int(n_samples) != n_samples or n_samples < 1:
        raise ValueError(f"n_samples must be a positive integer; got {n_samples!r}")
    levels = np.atleast_1d(np.asarray(noise, np.float64))
    if levels.ndim != 1 or not np.all(np.isfinite(levels)) or (levels < 0).any():
        raise ValueError(f"noise must be a non-negative float or a sequence of them; got {noise!r}")
    need_1 = c["redundant"] + c["unique_1"] + c["synergy"]
    need_2 = c["redundant"] + c["unique_2"] + c["synergy"]
    for name, dim, need in (("dim_1", dim_1, need_1), ("dim_2", dim_2, need_2)):
        if int(dim) != dim or dim < max(need, 1):
            raise ValueError(f"{name} must be an integer >= {max(need, 1)} (its latent bits); got {dim!r}")
    rng = np.random.default_rng(seed)
    cols, width = _layout(c)
    latents = rng.integers(0, 2, size=(int(n_samples), width))
    x1, x2, y, sizes = _states(latents, c)
    bits_1 = latents[:, np.concatenate([cols["r"], cols["a"], cols["s1"]])]
    bits_2 = latents[:, np.concatenate([cols["r"], cols["b"], cols["s2"]])]
    # the maps are shared by all layers; only the noise level changes
    map_seed_1, map_seed_2, noise_seed = rng.integers(0, 2**31, size=3)
    e1, e2 = [], []
    noise_rng = np.random.default_rng(noise_seed)
    for level in levels:
        e1.append(_embed(bits_1, int(dim_1), separation, level, nonlinear, np.random.default_rng([map_seed_1, 0]), noise_rng))
        e2.append(_embed(bits_2, int(dim_2), separation, level, nonlinear, np.random.default_rng([map_seed_2, 0]), noise_rng))
    def stack(xs):
        return np.stack(xs).astype(dtype) if np.ndim(noise) else xs[0].astype(dtype)

    return SyntheticData(
        stack(e1), stack(e2), y.astype(np.int64), x1.astype(np.int64), x2.astype(np.int64),
        analytic_pid(bits=c), sizes,
    )
