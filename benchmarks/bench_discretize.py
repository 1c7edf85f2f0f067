"""Discretisation speed and agreement: pidjax (JAX, all layers in one call) vs scikit-learn.

Standalone: ``python benchmarks/bench_discretize.py [--layers 4 --samples 10000 --dim 768]``.
Prints one table: wall seconds of each side (pidjax timed after a warm-up compile, compile
time shown apart) and the adjusted Rand index between the two partitions per layer.
scikit-learn runs the same pipeline layer by layer: StandardScaler -> PCA (randomized) ->
KMeans (k-means++, same restarts).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--samples", type=int, default=10_000)
    p.add_argument("--dim", type=int, default=768)
    p.add_argument("--states", type=int, default=10)
    p.add_argument("--components", type=int, default=32)
    p.add_argument("--n-init", type=int, default=4)
    args = p.parse_args(argv)
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA
    from sklearn.metrics import adjusted_rand_score
    from sklearn.preprocessing import StandardScaler

    from pidjax.discretize import discretize

    rng = np.random.default_rng(0)
    n, d, k, L = args.samples, args.dim, args.states, args.layers
    centres = rng.standard_normal((k, d)).astype(np.float32)
    truth = rng.integers(0, k, n)
    layers = [centres[truth] * 0.4 + (0.5 + 0.5 * i) * rng.standard_normal((n, d), dtype=np.float32) for i in range(L)]

    kw = dict(n_components=args.components, n_init=args.n_init)
    t0 = time.perf_counter()
    discretize(layers, k, **kw)  # compile + run
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    ours = discretize(layers, k, **kw)
    ours_s = time.perf_counter() - t0

    theirs, t0 = [], time.perf_counter()
    for x in layers:
        z = PCA(args.components, svd_solver="randomized", random_state=0).fit_transform(StandardScaler().fit_transform(x))
        theirs.append(KMeans(k, n_init=args.n_init, random_state=0).fit_predict(z))
    sk_s = time.perf_counter() - t0

    print(f"{L} layers x {n} examples x {d}-d, {k} states, {args.components} components, {args.n_init} restarts")
    print(f"{'':<22}{'seconds':>10}{'per layer':>12}")
    print(f"{'pidjax (one call)':<22}{ours_s:>10.2f}{ours_s / L:>12.3f}")
    print(f"{'pidjax compile':<22}{first - ours_s:>10.2f}")
    print(f"{'scikit-learn (loop)':<22}{sk_s:>10.2f}{sk_s / L:>12.3f}")
    print(f"{'ratio sklearn/pidjax':<22}{sk_s / ours_s:>10.2f}")
    print(f"{'layer':<8}{'ARI(pidjax, sklearn)':>22}{'ARI(pidjax, truth)':>20}{'ARI(sklearn, truth)':>21}")
    for i in range(L):
        print(f"{i:<8}{adjusted_rand_score(ours[i], theirs[i]):>22.4f}{adjusted_rand_score(ours[i], truth):>20.4f}"
              f"{adjusted_rand_score(theirs[i], truth):>21.4f}")


if __name__ == "__main__":
    main()
