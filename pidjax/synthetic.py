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

:func:`make_continuous` does the same from continuous latents: independent standard normals,
the label a function of their equal-mass bins (or, for "smooth", a logistic coin of one of
them), each embedding the modality's latents in coordinates of their own plus Gaussian nuisance,
optionally rotated. :func:`continuous_truth` is the PID against the continuous latents, exact
(quadrature for "smooth"); the tests check it against the kernel on finely binned latent tables
with cell probabilities from the normal CDF.
"""

from __future__ import annotations

import math
from statistics import NormalDist
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
    states_1: np.ndarray  # (N,) latent state (discrete) or signal cell (continuous) of modality 1, in [0, sizes[0])
    states_2: np.ndarray  # (N,) the same for modality 2, in [0, sizes[1])
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


# --------------------------------------------------------------------------------------------
# Continuous latents
# --------------------------------------------------------------------------------------------

CONTINUOUS_FAMILIES = ("xor", "redundant", "unique_1", "unique_2", "copy", "sum_mod", "smooth", "mixture")

_NORMAL = NormalDist()
_LN2 = math.log(2.0)


def _check_continuous(family, n_classes, smoothness) -> int:
    """Validate the arguments :func:`continuous_truth` and :func:`make_continuous` share."""
    if not isinstance(family, str) or family not in CONTINUOUS_FAMILIES:
        raise ValueError(f"family must be one of {CONTINUOUS_FAMILIES}; got {family!r}")
    if isinstance(n_classes, bool) or int(n_classes) != n_classes or n_classes < 2:
        raise ValueError(f"n_classes must be an integer >= 2; got {n_classes!r}")
    if family in ("xor", "smooth") and n_classes != 2:
        raise ValueError(f"n_classes must be 2 for family {family!r}; got {n_classes!r}")
    if not math.isfinite(float(smoothness)):
        raise ValueError(f"smoothness must be a finite float; got {smoothness!r}")
    return int(n_classes)


def _normal_bin(z: np.ndarray, c: int) -> np.ndarray:
    """``bin_c(z)``: the index in ``[0, c)`` of ``z``'s equal-mass bin of the standard normal.

    The edges are the exact quantiles ``Phi^-1(j / c)``, ``j = 1 .. c-1``; a point on an edge
    goes to the lower bin, so ``bin_2(z) = [z > 0]``.
    """
    edges = np.array([_NORMAL.inv_cdf(j / c) for j in range(1, c)])
    return np.searchsorted(edges, z, side="left").astype(np.int64)


def _sigmoid(t: np.ndarray) -> np.ndarray:
    return np.exp(-np.logaddexp(0.0, -t))


def _smooth_information(smoothness: float) -> float:
    """``I(z; y)`` in bits for ``z ~ N(0, 1)``, ``y ~ Bernoulli(sigmoid(smoothness * z))``.

    ``P(y = 1) = 1/2`` by symmetry, so ``I = 1 - E[h(sigmoid(smoothness * z))]`` with ``h`` the
    binary entropy. The expectation is a trapezoid rule on ``|z| <= min(12, 50 / |smoothness|)``
    (outside it the integrand is below 1e-19): the integrand is analytic in a strip of
    half-width ``pi / |smoothness|`` and the step is ``1/4000`` of the interval, so the rule's
    error is far below 1e-12 bits.
    """
    k = abs(float(smoothness))
    if k == 0.0:
        return 0.0
    half = min(12.0, 50.0 / k)
    z = np.linspace(-half, half, 4001)
    t = k * z
    # h(sigmoid(t)) in bits = [sigmoid(t) softplus(-t) + sigmoid(-t) softplus(t)] / ln 2
    h = (_sigmoid(t) * np.logaddexp(0.0, -t) + _sigmoid(-t) * np.logaddexp(0.0, t)) / _LN2
    density = np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    f = density * h
    expected = (z[1] - z[0]) * (f.sum() - 0.5 * (f[0] + f[-1]))
    return max(0.0, 1.0 - float(expected))


def continuous_truth(family: str, *, n_classes: int = 2, smoothness: float = 2.0) -> dict[str, float]:
    """The exact BROJA decomposition (bits) of a :func:`make_continuous` family.

    It is the PID of the label against the continuous signal latents of the two modalities
    (nuisance coordinates and rotations carry no information about the label and change
    nothing; added ``noise`` does, and is not accounted for). With ``c = n_classes``:
    "xor" ``S = 1``; "redundant" ``R = log2 c``; "unique_1" ``U1 = log2 c``; "unique_2"
    ``U2 = log2 c``; "copy" ``U1 = U2 = log2 c``; "sum_mod" ``S = log2 c``; "smooth"
    ``U1 = I(z1; y)`` by quadrature (accurate to well under 1e-9 bits); "mixture"
    ``R = U1 = U2 = S = 1``. Every other term is 0.

    Args:
      family: one of :data:`CONTINUOUS_FAMILIES`.
      n_classes: ``c``, the number of equal-mass bins per latent; must be 2 for "xor" and
        "smooth"; ignored by "mixture" (it must still be an integer >= 2).
      smoothness: slope of the logistic link of "smooth" (any finite float; the sign does not
        matter); ignored by the other families.

    Returns:
      ``{"redundancy", "unique_1", "unique_2", "synergy"}`` in bits.

    Raises:
      ValueError: unknown family, ``n_classes`` < 2 or not 2 where the family needs 2, or a
        non-finite ``smoothness``.

    Example:
      >>> continuous_truth("copy", n_classes=4)
      {'redundancy': 0.0, 'unique_1': 2.0, 'unique_2': 2.0, 'synergy': 0.0}
    """
    c = _check_continuous(family, n_classes, smoothness)
    bits = math.log2(c)
    r = u1 = u2 = s = 0.0
    if family == "xor":
        s = 1.0
    elif family == "redundant":
        r = bits
    elif family == "unique_1":
        u1 = bits
    elif family == "unique_2":
        u2 = bits
    elif family == "copy":
        u1 = u2 = bits
    elif family == "sum_mod":
        s = bits
    elif family == "smooth":
        u1 = _smooth_information(smoothness)
    else:  # mixture
        r = u1 = u2 = s = 1.0
    return {"redundancy": r, "unique_1": u1, "unique_2": u2, "synergy": s}


def _continuous_signal(family: str, c: int, smoothness: float, n: int, latent_rng, coin_rng):
    """Signal coordinates, cells and labels of ``n`` draws of a family (see :func:`make_continuous`)."""
    if family == "mixture":
        r, a, b, s1, s2 = latent_rng.standard_normal((5, n))
        r_, a_, b_, s1_, s2_ = (_normal_bin(v, 2) for v in (r, a, b, s1, s2))
        y = 8 * r_ + 4 * a_ + 2 * b_ + (s1_ ^ s2_)
        return (np.stack([r, a, s1], 1), np.stack([r, b, s2], 1), 4 * r_ + 2 * a_ + s1_,
                4 * r_ + 2 * b_ + s2_, y, (8, 8, 16))
    if family == "redundant":
        z = latent_rng.standard_normal(n)
        cell = _normal_bin(z, c)
        return z[:, None], z[:, None].copy(), cell, cell.copy(), cell.copy(), (c, c, c)
    z1, z2 = latent_rng.standard_normal((2, n))
    c1, c2 = _normal_bin(z1, c), _normal_bin(z2, c)
    k = c
    if family in ("xor", "sum_mod"):
        y = (c1 + c2) % c  # for c = 2: [z1 > 0] xor [z2 > 0]
    elif family == "unique_1":
        y = c1.copy()
    elif family == "unique_2":
        y = c2.copy()
    elif family == "copy":
        y, k = c * c1 + c2, c * c
    else:  # smooth
        y = (coin_rng.random(n) < _sigmoid(float(smoothness) * z1)).astype(np.int64)
    return z1[:, None], z2[:, None], c1, c2, y, (c, c, k)


def _haar_orthogonal(dim: int, rng) -> np.ndarray:
    """A Haar-random ``(dim, dim)`` orthogonal matrix (QR of a Gaussian, signs fixed)."""
    q, r = np.linalg.qr(rng.standard_normal((dim, dim)))
    return q * np.where(np.diag(r) < 0, -1.0, 1.0)


def make_continuous(
    family: str,
    n_samples: int,
    *,
    n_classes: int = 2,
    dim_nuisance: int = 15,
    nuisance_scale: float = 0.5,
    anisotropic: bool = False,
    rotate: bool = False,
    noise: float = 0.0,
    smoothness: float = 2.0,
    seed: int = 0,
) -> SyntheticData:
    """Sample two-modality embeddings of continuous Gaussian latents whose label has a known PID.

    The latents are independent standard normals; ``bin_c(z)`` is the index of ``z``'s
    equal-mass bin of the standard normal (edges at the exact quantiles ``Phi^-1(j / c)``,
    ``c = n_classes``). Families (modality 1 sees ``z1``, modality 2 sees ``z2`` unless said):

    - "xor": ``y = [z1 > 0] xor [z2 > 0]``.
    - "redundant": both modalities see the same ``z``; ``y = bin_c(z)``.
    - "unique_1" / "unique_2": ``y = bin_c(z1)`` / ``y = bin_c(z2)``, the other latent is
      independent of it.
    - "copy": ``y = c * bin_c(z1) + bin_c(z2)`` (``c**2`` labels).
    - "sum_mod": ``y = (bin_c(z1) + bin_c(z2)) mod c`` (each latent alone tells nothing).
    - "smooth": ``y ~ Bernoulli(sigmoid(smoothness * z1))``; ``z2`` is independent.
    - "mixture": modality 1 sees ``(r, a, s1)``, modality 2 ``(r, b, s2)``;
      ``y = 8[r > 0] + 4[a > 0] + 2[b > 0] + ([s1 > 0] xor [s2 > 0])`` (16 labels).

    Each embedding is the modality's signal latents, one coordinate each (std 1), followed by
    ``dim_nuisance`` independent Gaussian nuisance coordinates of std ``nuisance_scale``; then,
    if asked, a fixed random rotation, then the ``noise``. With ``rotate=False`` and
    ``noise=0`` the first coordinates are the latents exactly. Every random draw (latents,
    the "smooth" coin, nuisance stds, nuisance, rotations, noise) has a stream of its own, so
    e.g. ``rotate=True`` rotates exactly the embedding that ``rotate=False`` returns.

    Args:
      family: one of :data:`CONTINUOUS_FAMILIES`.
      n_samples: number of examples ``N`` (>= 2).
      n_classes: ``c``, equal-mass bins per latent; must be 2 for "xor" and "smooth"; ignored
        by "mixture" (it must still be an integer >= 2).
      dim_nuisance: nuisance coordinates per modality (>= 0).
      nuisance_scale: std of each nuisance coordinate (>= 0; < 1 is quieter than the signal).
      anisotropic: give the nuisance coordinates stds spread log-uniformly over
        ``[nuisance_scale / 4, 4 * nuisance_scale]`` instead (drawn from ``seed``).
      rotate: multiply each modality's embedding by a fixed Haar-random orthogonal matrix of
        its own (drawn from ``seed``), so the signal is not axis aligned.
      noise: std of isotropic Gaussian noise added to every coordinate after the labels are
        made (>= 0). ``truth`` holds only for ``noise = 0``: noise hides part of the signal.
      smoothness: slope of the logistic link of "smooth" (finite); ignored otherwise.
      seed: integer seed; the output is a deterministic function of all arguments.

    Returns:
      :class:`SyntheticData` with ``embeddings_1`` ``(N, d1)`` and ``embeddings_2`` ``(N, d2)``
      float64, ``d_i`` = signal latents of modality ``i`` (3 for "mixture", else 1) +
      ``dim_nuisance``; ``labels`` ``(N,)`` int64 in ``[0, sizes[2])``; ``states_1`` /
      ``states_2`` ``(N,)`` int64, each modality's signal cell: ``bin_c`` of its latent (the
      sign bin for "xor" and "smooth"; for "mixture" ``4[r > 0] + 2[a > 0] + [s1 > 0]`` and
      ``4[r > 0] + 2[b > 0] + [s2 > 0]``), so that, for every family except "smooth", the
      label is a function of the two cells and the PID of the cells' exact table is
      ``truth``; ``truth`` = :func:`continuous_truth` in bits (the PID against the
      continuous latents, exact for ``noise = 0``); ``sizes`` = (cells of modality 1, cells of
      modality 2, labels): ``(c, c, c)``, ``(c, c, c**2)`` for "copy", ``(8, 8, 16)`` for
      "mixture".

    Raises:
      ValueError: unknown ``family``; ``n_samples`` < 2; ``n_classes`` < 2 or not 2 where the
        family needs it; ``dim_nuisance`` < 0; negative or non-finite ``nuisance_scale`` or
        ``noise``; non-finite ``smoothness``.

    Example:
      >>> data = make_continuous("sum_mod", 100, n_classes=3, dim_nuisance=4)
      >>> data.embeddings_1.shape, data.sizes, round(data.truth["synergy"], 6)
      ((100, 5), (3, 3, 3), 1.584963)
    """
    c = _check_continuous(family, n_classes, smoothness)
    if isinstance(n_samples, bool) or int(n_samples) != n_samples or n_samples < 2:
        raise ValueError(f"n_samples must be an integer >= 2; got {n_samples!r}")
    if isinstance(dim_nuisance, bool) or int(dim_nuisance) != dim_nuisance or dim_nuisance < 0:
        raise ValueError(f"dim_nuisance must be a non-negative integer; got {dim_nuisance!r}")
    for name, val in (("nuisance_scale", nuisance_scale), ("noise", noise)):
        if not (math.isfinite(float(val)) and val >= 0):
            raise ValueError(f"{name} must be a finite float >= 0; got {val!r}")
    n, dim_nuisance = int(n_samples), int(dim_nuisance)
    latent_ss, coin_ss, stds_ss, nuisance_ss, rotation_ss, noise_ss = np.random.SeedSequence(seed).spawn(6)
    sig_1, sig_2, cell_1, cell_2, y, sizes = _continuous_signal(
        family, c, smoothness, n, np.random.default_rng(latent_ss), np.random.default_rng(coin_ss))
    stds_rng, nuisance_rng = np.random.default_rng(stds_ss), np.random.default_rng(nuisance_ss)
    rotation_rng, noise_rng = np.random.default_rng(rotation_ss), np.random.default_rng(noise_ss)
    embeddings = []
    for signal in (sig_1, sig_2):
        if anisotropic:
            stds = float(nuisance_scale) * 4.0 ** stds_rng.uniform(-1.0, 1.0, dim_nuisance)
        else:
            stds = np.full(dim_nuisance, float(nuisance_scale))
        e = np.concatenate([signal, nuisance_rng.standard_normal((n, dim_nuisance)) * stds], axis=1)
        if rotate:
            e = e @ _haar_orthogonal(e.shape[1], rotation_rng)
        if noise > 0:
            e = e + float(noise) * noise_rng.standard_normal(e.shape)
        embeddings.append(e)
    return SyntheticData(
        embeddings[0], embeddings[1], y.astype(np.int64), cell_1.astype(np.int64), cell_2.astype(np.int64),
        continuous_truth(family, n_classes=c, smoothness=smoothness), sizes,
    )
