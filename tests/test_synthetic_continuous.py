"""Continuous-latent synthetic data: labels as stated, and the truth against the exact kernel.

The kernel checks bin each signal latent into ``B`` equal-mass bins of the standard normal and
build the exact table ``P(x1, x2, y)`` from the normal CDF (every bin has mass ``1/B``; for
"smooth" the label probability per bin is an integral of the logistic link), not from samples.
"""

import itertools
import math

import numpy as np
import pytest
from scipy import integrate
from scipy.special import expit, ndtr, ndtri

import pidjax
from pidjax.synthetic import CONTINUOUS_FAMILIES, SyntheticData, continuous_truth, make_continuous

TERMS = ("redundancy", "unique_1", "unique_2", "synergy")
SIGNAL_DIMS = {f: (3 if f == "mixture" else 1) for f in CONTINUOUS_FAMILIES}
THRESHOLD_FAMILIES = tuple(f for f in CONTINUOUS_FAMILIES if f != "smooth")


def _bin(z, c):
    """Equal-mass bin of ``N(0, 1)``, computed through the CDF (the library uses quantile edges)."""
    return np.minimum((c * ndtr(z)).astype(np.int64), c - 1)


def stated_rule(family, c, lat):
    """Cells and label of the family's docstring, from a dict of latent arrays."""
    if family == "mixture":
        r, a, b, s1, s2 = (_bin(lat[k], 2) for k in ("r", "a", "b", "s1", "s2"))
        return 4 * r + 2 * a + s1, 4 * r + 2 * b + s2, 8 * r + 4 * a + 2 * b + (s1 ^ s2)
    if family == "redundant":
        cell = _bin(lat["z"], c)
        return cell, cell, cell
    c1, c2 = _bin(lat["z1"], c), _bin(lat["z2"], c)
    y = {
        "xor": (lat["z1"] > 0).astype(np.int64) ^ (lat["z2"] > 0).astype(np.int64),
        "unique_1": c1,
        "unique_2": c2,
        "copy": c * c1 + c2,
        "sum_mod": (c1 + c2) % c,
    }[family]
    return c1, c2, y


def latents_of(family, data):
    """The latents, read back from nuisance-free coordinates (no rotation, no noise)."""
    e1, e2 = data.embeddings_1, data.embeddings_2
    if family == "mixture":
        np.testing.assert_array_equal(e1[:, 0], e2[:, 0])  # r is seen by both
        return {"r": e1[:, 0], "a": e1[:, 1], "s1": e1[:, 2], "b": e2[:, 1], "s2": e2[:, 2]}
    if family == "redundant":
        np.testing.assert_array_equal(e1[:, 0], e2[:, 0])
        return {"z": e1[:, 0]}
    return {"z1": e1[:, 0], "z2": e2[:, 0]}


def classes_for(family):
    return (2,) if family in ("xor", "smooth", "mixture") else (2, 3, 4)


# ----------------------------------------------------------------------------- shapes, seeds


@pytest.mark.parametrize("family", CONTINUOUS_FAMILIES)
def test_shapes_sizes_and_ranges(family):
    c = 3 if family in ("redundant", "copy", "sum_mod") else 2
    data = make_continuous(family, 257, n_classes=c, dim_nuisance=6)
    assert isinstance(data, SyntheticData)
    d = SIGNAL_DIMS[family] + 6
    assert data.embeddings_1.shape == (257, d) and data.embeddings_2.shape == (257, d)
    assert data.embeddings_1.dtype == np.float64
    assert data.labels.shape == data.states_1.shape == data.states_2.shape == (257,)
    assert data.labels.dtype == data.states_1.dtype == np.int64
    m, n, k = data.sizes
    assert {"mixture": (8, 8, 16), "copy": (c, c, c * c)}.get(family, (c, c, c)) == data.sizes
    for arr, size in ((data.states_1, m), (data.states_2, n), (data.labels, k)):
        assert arr.min() >= 0 and arr.max() < size
        assert len(np.unique(arr)) == size  # every cell and label occurs in 257 draws
    assert data.truth == continuous_truth(family, n_classes=c)
    assert make_continuous(family, 5, n_classes=c, dim_nuisance=0).embeddings_2.shape == (5, SIGNAL_DIMS[family])


def test_same_seed_same_data_other_seed_other_data():
    kw = dict(n_classes=3, anisotropic=True, rotate=True, noise=0.1)
    a, b = make_continuous("copy", 300, seed=5, **kw), make_continuous("copy", 300, seed=5, **kw)
    for x, y in zip(a, b):
        if isinstance(x, np.ndarray):
            np.testing.assert_array_equal(x, y)
        else:
            assert x == y
    other = make_continuous("copy", 300, seed=6, **kw)
    assert not np.allclose(a.embeddings_1, other.embeddings_1)
    assert not np.array_equal(a.labels, other.labels)


# ----------------------------------------------------------------------------- labels


@pytest.mark.parametrize(
    "family, c", [(f, c) for f in THRESHOLD_FAMILIES for c in classes_for(f)]
)
def test_labels_and_cells_are_the_stated_function_of_the_latents(family, c):
    data = make_continuous(family, 3000, n_classes=c, dim_nuisance=3, seed=1)
    s1, s2, y = stated_rule(family, c, latents_of(family, data))
    np.testing.assert_array_equal(data.labels, y)
    np.testing.assert_array_equal(data.states_1, s1)
    np.testing.assert_array_equal(data.states_2, s2)
    # equal-mass bins: each label of these uniform-label families has frequency 1 / k
    freq = np.bincount(data.labels, minlength=data.sizes[2]) / 3000
    assert np.abs(freq - 1 / data.sizes[2]).max() < 4 * math.sqrt(0.25 / 3000) + 0.01
    # the label is a function of the two cells (so the cell table has the same PID)
    key = (data.states_1 * data.sizes[1] + data.states_2) * data.sizes[2] + data.labels
    assert len(np.unique(key)) == len(np.unique(data.states_1 * data.sizes[1] + data.states_2))


def test_smooth_labels_follow_the_logistic_link():
    k = 2.0
    data = make_continuous("smooth", 20_000, smoothness=k, seed=3)
    z1, z2, y = data.embeddings_1[:, 0], data.embeddings_2[:, 0], data.labels
    np.testing.assert_array_equal(data.states_1, (z1 > 0).astype(int))
    np.testing.assert_array_equal(data.states_2, (z2 > 0).astype(int))
    slope = 0.0  # maximum-likelihood slope of a logistic model without intercept
    for _ in range(30):
        p = expit(slope * z1)
        slope += np.sum((y - p) * z1) / np.sum(p * (1 - p) * z1 * z1)
    se = 1 / math.sqrt(np.sum(p * (1 - p) * z1 * z1))
    assert abs(slope - k) < 4 * se
    assert abs(np.corrcoef(y, z2)[0, 1]) < 4 / math.sqrt(20_000)  # z2 is irrelevant
    # a very steep link is the sign of z1
    steep = make_continuous("smooth", 2000, smoothness=1e9, seed=3)
    assert np.mean(steep.labels == (steep.embeddings_1[:, 0] > 0)) > 0.999


# ----------------------------------------------------------------------------- nuisance, rotation, noise


def test_nuisance_scale_and_anisotropy():
    iso = make_continuous("xor", 20_000, dim_nuisance=15, nuisance_scale=0.3, seed=2)
    np.testing.assert_allclose(iso.embeddings_1[:, 1:].std(0), 0.3, rtol=0.05)
    np.testing.assert_allclose(iso.embeddings_1[:, :1].std(0), 1.0, rtol=0.05)
    loud = make_continuous("xor", 20_000, dim_nuisance=15, nuisance_scale=3.0, seed=2)
    np.testing.assert_allclose(loud.embeddings_2[:, 1:].std(0), 3.0, rtol=0.05)
    # the nuisance scale changes neither labels nor signal
    np.testing.assert_array_equal(iso.labels, loud.labels)
    np.testing.assert_array_equal(iso.embeddings_1[:, 0], loud.embeddings_1[:, 0])
    aniso = make_continuous("xor", 20_000, dim_nuisance=15, nuisance_scale=0.3, anisotropic=True, seed=2)
    for e in (aniso.embeddings_1, aniso.embeddings_2):
        stds = e[:, 1:].std(0)
        assert stds.min() >= 0.3 / 4 * 0.95 and stds.max() <= 0.3 * 4 * 1.05
        assert stds.max() / stds.min() > 4  # spread over most of the 16x range
    assert not np.allclose(aniso.embeddings_1[:, 1:].std(0), aniso.embeddings_2[:, 1:].std(0), rtol=0.1)
    assert np.all(make_continuous("xor", 50, nuisance_scale=0.0).embeddings_1[:, 1:] == 0)


def test_rotation_is_a_fixed_orthogonal_map_of_the_plain_embedding():
    kw = dict(n_classes=2, dim_nuisance=5, anisotropic=True, seed=4)
    plain = make_continuous("mixture", 400, **kw)
    rot = make_continuous("mixture", 400, rotate=True, **kw)
    np.testing.assert_array_equal(plain.labels, rot.labels)
    for e, f in ((plain.embeddings_1, rot.embeddings_1), (plain.embeddings_2, rot.embeddings_2)):
        Q = np.linalg.lstsq(e, f, rcond=None)[0]
        np.testing.assert_allclose(e @ Q, f, atol=1e-10)
        np.testing.assert_allclose(Q.T @ Q, np.eye(8), atol=1e-10)
        assert np.abs(Q[:3]).max(axis=1).max() < 0.99  # signal spread over the axes
    Q1 = np.linalg.lstsq(plain.embeddings_1, rot.embeddings_1, rcond=None)[0]
    Q2 = np.linalg.lstsq(plain.embeddings_2, rot.embeddings_2, rcond=None)[0]
    assert not np.allclose(Q1, Q2)  # one matrix per modality


def test_noise_is_added_after_the_labels():
    plain = make_continuous("sum_mod", 20_000, n_classes=3, seed=7)
    noisy = make_continuous("sum_mod", 20_000, n_classes=3, noise=0.2, seed=7)
    np.testing.assert_array_equal(plain.labels, noisy.labels)
    np.testing.assert_array_equal(plain.states_1, noisy.states_1)
    diff = noisy.embeddings_1 - plain.embeddings_1
    np.testing.assert_allclose(diff.std(0), 0.2, rtol=0.05)
    assert abs(np.corrcoef(diff[:, 0], noisy.embeddings_2[:, 0] - plain.embeddings_2[:, 0])[0, 1]) < 0.05


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"family": "nope"}, "family"),
        ({"family": 3}, "family"),
        ({"n_samples": 1}, "n_samples"),
        ({"n_samples": 10.5}, "n_samples"),
        ({"n_classes": 1}, "n_classes"),
        ({"family": "xor", "n_classes": 3}, "n_classes"),
        ({"family": "smooth", "n_classes": 4}, "n_classes"),
        ({"family": "mixture", "n_classes": 1}, "n_classes"),
        ({"dim_nuisance": -1}, "dim_nuisance"),
        ({"nuisance_scale": -0.1}, "nuisance_scale"),
        ({"nuisance_scale": float("nan")}, "nuisance_scale"),
        ({"noise": -1.0}, "noise"),
        ({"smoothness": float("inf")}, "smoothness"),
    ],
)
def test_bad_arguments_raise(kwargs, match):
    args = {"family": "copy", "n_samples": 10, **kwargs}
    with pytest.raises(ValueError, match=match):
        make_continuous(args.pop("family"), args.pop("n_samples"), **args)
    if set(kwargs) <= {"family", "n_classes", "smoothness"}:
        with pytest.raises(ValueError, match=match):
            continuous_truth(kwargs.get("family", "copy"), **{k: v for k, v in kwargs.items() if k != "family"})


# ----------------------------------------------------------------------------- truth


@pytest.mark.parametrize("family, c", [(f, c) for f in CONTINUOUS_FAMILIES for c in classes_for(f)])
def test_truth_identities(family, c):
    t = continuous_truth(family, n_classes=c)
    assert tuple(t) == TERMS and all(v >= 0 for v in t.values())
    b = math.log2(c)
    expected = {
        "xor": (0, 0, 0, 1), "redundant": (b, 0, 0, 0), "unique_1": (0, b, 0, 0), "unique_2": (0, 0, b, 0),
        "copy": (0, b, b, 0), "sum_mod": (0, 0, 0, b), "mixture": (1, 1, 1, 1),
    }
    if family == "smooth":
        assert 0 < t["unique_1"] < 1 and t["redundancy"] == t["unique_2"] == t["synergy"] == 0
    else:
        assert tuple(t.values()) == pytest.approx(expected[family], abs=1e-15)
        # deterministic labels, uniform over k values: the four terms add up to log2 k = H(Y)
        k = make_continuous(family, 2, n_classes=c).sizes[2]
        assert sum(t.values()) == pytest.approx(math.log2(k), abs=1e-12)


def test_smooth_truth_against_adaptive_quadrature():
    def reference(k):
        def integrand(z):
            p = expit(k * z)
            h = -(p * math.log2(p) if p > 0 else 0) - ((1 - p) * math.log2(1 - p) if p < 1 else 0)
            return math.exp(-z * z / 2) / math.sqrt(2 * math.pi) * h

        width = min(12.0, 50.0 / k)
        val, err = integrate.quad(integrand, -width, width, points=[0.0], epsabs=1e-13, epsrel=1e-13, limit=200)
        assert err < 1e-11
        return 1 - val

    values = []
    for k in (0.1, 0.5, 1.0, 2.0, 5.0, 30.0, 1e4):
        got = continuous_truth("smooth", smoothness=k)["unique_1"]
        assert got == pytest.approx(reference(k), abs=1e-9)
        assert continuous_truth("smooth", smoothness=-k)["unique_1"] == got
        values.append(got)
    assert np.all(np.diff(values) > 0) and values[-1] > 0.999
    assert continuous_truth("smooth", smoothness=0.0)["unique_1"] == 0.0


# ----------------------------------------------------------------------------- truth against the kernel


def _mid(bins):
    """The median of each of ``bins`` equal-mass bins of N(0, 1) (labels are constant on a bin)."""
    return ndtri((np.arange(bins) + 0.5) / bins)


def binned_table(family, c, bins, shape):
    """Exact ``P(x1, x2, y)`` with each signal latent cut into ``bins`` equal-mass bins, padded to ``shape``."""
    if family == "mixture":
        assert bins == 2  # the label only depends on signs
        combos = np.array(list(itertools.product(range(2), repeat=5)))  # r, a, b, s1, s2
        lat = dict(zip(("r", "a", "b", "s1", "s2"), _mid(2)[combos.T]))
        weights = np.full(len(combos), 1 / 32)
        x1 = 4 * combos[:, 0] + 2 * combos[:, 1] + combos[:, 3]
        x2 = 4 * combos[:, 0] + 2 * combos[:, 2] + combos[:, 4]
    elif family == "redundant":
        x1 = x2 = np.arange(bins)
        lat, weights = {"z": _mid(bins)}, np.full(bins, 1 / bins)
    else:
        x1, x2 = (a.ravel() for a in np.meshgrid(np.arange(bins), np.arange(bins), indexing="ij"))
        lat, weights = {"z1": _mid(bins)[x1], "z2": _mid(bins)[x2]}, np.full(bins * bins, 1 / bins**2)
    y = stated_rule(family, c, lat)[2]
    return pidjax.joint_distribution(x1, x2, y, sizes=shape, weights=weights)


def test_truth_matches_kernel_on_finely_binned_latents():
    # For these families the label is constant on every fine bin (bins nest the c-bins), and
    # the BROJA PID of the binned table equals the continuous one: the refinement adds only
    # label-irrelevant detail (for xor/sum_mod I(Xi; Y) = 0, so all is synergy; for
    # redundant/unique/copy min_Q I_Q(X1, X2; Y) = H(Y) is forced by the pair marginals).
    # So the kernel must agree up to its certified bound (<= 1e-6 bits) plus rounding.
    cases = [("xor", 2, 16), ("mixture", 2, 2)]
    for family in ("redundant", "unique_1", "unique_2", "copy", "sum_mod"):
        for c in (2, 3, 4):
            cases += [(family, c, c), (family, c, 12 if c == 3 else 16)]  # the cells and a fine binning
    P = np.stack([binned_table(f, c, b, (16, 16, 16)) for f, c, b in cases])
    res = pidjax.decompose(P)
    assert np.all(np.asarray(res.converged))
    for i, (family, c, bins) in enumerate(cases):
        truth = continuous_truth(family, n_classes=c)
        slack = float(res.bound[i]) + 1e-9
        for term in TERMS:
            assert abs(float(getattr(res, term)[i]) - truth[term]) <= slack, (family, c, bins, term)


def test_smooth_binned_kernel_value_rises_to_the_truth():
    k, shape = 2.0, (64, 2, 2)

    def table(bins):
        edges = ndtri(np.arange(bins + 1) / bins)  # -inf .. inf
        mass_y1 = np.array([
            integrate.quad(lambda z: math.exp(-z * z / 2) / math.sqrt(2 * math.pi) * expit(k * z),
                           lo, hi, epsabs=1e-14, epsrel=1e-12)[0]
            for lo, hi in zip(edges[:-1], edges[1:])
        ])
        P = np.zeros(shape)  # x2: the sign of an independent z2, two cells of mass 1/2
        P[:bins, :, 1] = mass_y1[:, None] / 2
        P[:bins, :, 0] = (1 / bins - mass_y1)[:, None] / 2
        return P

    grid = (8, 16, 32, 64)
    res = pidjax.decompose(np.stack([table(b) for b in grid]), normalize=True)
    truth = continuous_truth("smooth", smoothness=k)["unique_1"]
    u1, bound = np.asarray(res.unique_1), np.asarray(res.bound)
    assert np.all(np.asarray(res.converged))
    for term in ("redundancy", "unique_2", "synergy"):
        assert np.all(np.abs(np.asarray(getattr(res, term))) <= bound + 1e-9), term
    # data processing: nested bins can only gain information, and never pass the continuous value
    assert np.all(np.diff(u1) > 0)
    assert np.all(u1 <= truth + bound + 1e-9)
    # the loss shrinks about 3.7x per doubling of the bins (0.0075, 0.0021, 0.00056, 0.00015 bits)
    gap = truth - u1
    assert gap[-1] < 0.01
    assert np.all(gap[1:] < gap[:-1] / 3)
