"""Benchmark cases: canonical gates, dit's bivariate examples, seeded Dirichlet and clustered tables.

Every case is a dict ``{"name", "family", "P"}`` with ``P`` a float64 array ``(m, n, k)``
summing to 1. :func:`build_cases` makes them from scratch (needs dit and scikit-learn);
:func:`load_cases` reads the exact same tables back from the stored ground-truth file, so the
suite runs without rebuilding anything.
"""

from __future__ import annotations

import base64
import zlib

import numpy as np

FAMILIES = ("canonical", "dirichlet_dense", "dirichlet_sparse", "clustered")
DIRICHLET_SHAPES = ((2, 2, 2), (4, 4, 4), (8, 8, 4), (10, 10, 10), (16, 16, 10), (32, 32, 10))
CLUSTERED_SHAPES = ((8, 8, 4), (16, 16, 10), (32, 32, 10))
CLUSTERED_SAMPLES = (100, 1_000, 10_000, 100_000)


def _gate(k, rule, m=2, n=2):
    P = np.zeros((m, n, k))
    for a in range(m):
        for b in range(n):
            P[a, b, rule(a, b)] += 1.0
    return P / P.sum()


def canonical_tables() -> dict[str, np.ndarray]:
    """The PID_MATH.md gates plus XorAnd and RdnUnqXor, built by hand (no dit needed)."""
    out = {
        "xor": _gate(2, lambda a, b: a ^ b),
        "and": _gate(2, lambda a, b: a & b),
        "copy": _gate(4, lambda a, b: 2 * a + b),
        "unq": _gate(2, lambda a, b: a),
        "sum": _gate(3, lambda a, b: a + b),
        "xorand": _gate(4, lambda a, b: 2 * (a ^ b) + (a & b)),
    }
    rdn = np.zeros((2, 2, 2))
    rdn[0, 0, 0] = rdn[1, 1, 1] = 0.5
    out["rdn"] = rdn
    # RdnUnqXor: X1 = (r, u1, s1), X2 = (r, u2, s2), Y = (r, u1, u2, s1 ^ s2); one bit of each term.
    P = np.zeros((8, 8, 16))
    for r in range(2):
        for u1 in range(2):
            for u2 in range(2):
                for s1 in range(2):
                    for s2 in range(2):
                        x1 = 4 * r + 2 * u1 + s1
                        x2 = 4 * r + 2 * u2 + s2
                        y = 8 * r + 4 * u1 + 2 * u2 + (s1 ^ s2)
                        P[x1, x2, y] += 1.0
    out["rdnunqxor"] = P / P.sum()
    return out


def dit_tables() -> dict[str, np.ndarray]:
    """dit's bivariate examples (``dit.pid.distributions.bivariates``), named ``dit:<name>``."""
    from dit.pid.distributions import bivariates

    from benchmarks.references.dit_broja import from_dit

    return {f"dit:{name.replace(' ', '_')}": from_dit(d) for name, d in bivariates.items()}


def dirichlet_table(shape, alpha: float, seed: int) -> np.ndarray:
    """A seeded Dirichlet(alpha) table of ``shape``; alpha < 1 gives sparse, peaked tables."""
    rng = np.random.default_rng(seed)
    P = rng.dirichlet(np.full(int(np.prod(shape)), alpha)).reshape(shape)
    return P / P.sum()


def clustered_table(shape, samples: int, seed: int) -> np.ndarray:
    """An empirical table made the way pidjax's method makes one, from synthetic embeddings.

    Labels ``y`` and a nuisance ``u`` are uniform over ``k``; modality 1 embeds ``y`` and
    ``u``, modality 2 embeds ``y`` and ``(y + u) mod k`` (so the pair carries synergy), both
    with Gaussian noise in 16 dimensions. Each modality is clustered by k-means into ``m``
    (``n``) states; ``P`` is the histogram of (state 1, state 2, label) over the samples.
    """
    from sklearn.cluster import KMeans

    m, n, k = shape
    rng = np.random.default_rng(seed)
    dim = 16
    y = rng.integers(0, k, samples)
    u = rng.integers(0, k, samples)
    means = rng.normal(size=(4, k, dim))
    e1 = 1.5 * means[0, y] + 1.0 * means[1, u] + rng.normal(size=(samples, dim))
    e2 = 1.0 * means[2, y] + 1.5 * means[3, (y + u) % k] + rng.normal(size=(samples, dim))
    s1 = KMeans(m, n_init=1, random_state=seed, max_iter=50).fit_predict(e1)
    s2 = KMeans(n, n_init=1, random_state=seed + 1, max_iter=50).fit_predict(e2)
    P = np.zeros(shape)
    np.add.at(P, (s1, s2, y), 1.0)
    return P / P.sum()


def build_cases() -> list[dict]:
    """All benchmark cases, generated afresh (canonical, dit, Dirichlet, clustered)."""
    cases = [{"name": k, "family": "canonical", "P": v} for k, v in canonical_tables().items()]
    cases += [{"name": k, "family": "canonical", "P": v} for k, v in dit_tables().items()]
    for family, alpha in (("dirichlet_dense", 1.0), ("dirichlet_sparse", 0.1)):
        for shape in DIRICHLET_SHAPES:
            for seed in range(3 if shape[0] <= 10 else 2):
                name = f"{family}_{'x'.join(map(str, shape))}_s{seed}"
                cases.append({"name": name, "family": family, "P": dirichlet_table(shape, alpha, seed)})
    for shape in CLUSTERED_SHAPES:
        for samples in CLUSTERED_SAMPLES:
            name = f"clustered_{'x'.join(map(str, shape))}_N{samples}"
            cases.append({"name": name, "family": "clustered", "P": clustered_table(shape, samples, seed=samples)})
    return cases


def encode_table(P: np.ndarray) -> dict:
    """JSON-safe, exact encoding of a float64 table: shape plus zlib+base64 of its bytes."""
    P = np.ascontiguousarray(P, dtype="<f8")
    return {"shape": list(P.shape), "f8_zlib_b64": base64.b64encode(zlib.compress(P.tobytes(), 9)).decode()}


def decode_table(enc: dict) -> np.ndarray:
    """Inverse of :func:`encode_table`."""
    raw = zlib.decompress(base64.b64decode(enc["f8_zlib_b64"]))
    return np.frombuffer(raw, dtype="<f8").reshape(enc["shape"]).copy()


def load_cases(path=None) -> list[dict]:
    """Cases with their ground truth from the stored file (default ``benchmarks/data/ground_truth_v1.json``).

    Each dict has name, family, P (m, n, k) and ``truth`` (the stored record).
    """
    from benchmarks.ground_truth import load

    data = load(path)
    return [{"name": c["name"], "family": c["family"], "P": decode_table(c["table"]), "truth": c} for c in data["cases"]]
