"""Kernel throughput and iterations to a certified 1e-6 bits, float64, on this machine.

    python -m benchmarks.kernel_throughput [--batch 1000] [--ipfp-batch 100]

Dense: seeded Dirichlet(1) 10x10x10 tables. Clustered-sparse: the stored clustered tables of
the ground-truth file (8x8x4 and 16x16x10, made by k-means of two synthetic modalities), tiled
to the batch size. Compile time is excluded (one warm-up call per shape and batch); the median
of three timed calls is reported.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)

import pidjax  # noqa: E402
from benchmarks.cases import load_cases  # noqa: E402


def _timed(P, method):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        jax.block_until_ready(pidjax.decompose(P, method=method))
        times = []
        for _ in range(3):
            start = time.perf_counter()
            r = pidjax.decompose(P, method=method)
            jax.block_until_ready(r.redundancy)
            times.append(time.perf_counter() - start)
    return statistics.median(times), r


def workloads(batch: int):
    rng = np.random.default_rng(0)
    yield "dense 10x10x10", rng.dirichlet(np.ones(1000), size=batch).reshape(batch, 10, 10, 10)
    cases = [c for c in load_cases() if c["family"] == "clustered"]
    for shape in ((8, 8, 4), (16, 16, 10)):
        tables = [c["P"] for c in cases if c["P"].shape == shape]
        yield f"clustered {shape[0]}x{shape[1]}x{shape[2]} ({len(tables)} tables tiled)", np.stack(
            [tables[i % len(tables)] for i in range(batch)]
        )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--ipfp-batch", type=int, default=100, help="IPFP is slow: a smaller batch")
    args = parser.parse_args(argv)
    print(f"device: {jax.devices()[0].device_kind}, {len(jax.devices())} device(s); float64; tol 1e-6 bits")
    print("| workload | method | batch | seconds | distributions/s | iterations median / max | all converged | max bound |")
    print("|---|---|---|---|---|---|---|---|")
    for name, P in workloads(args.batch):
        for method in pidjax.METHODS:
            Pm = P if method != "ipfp" else P[: args.ipfp_batch]
            seconds, r = _timed(Pm, method)
            it = np.asarray(r.iterations)
            print(
                f"| {name} | {method} | {len(Pm)} | {seconds:.2f} | {len(Pm) / seconds:,.0f} | "
                f"{int(np.median(it))} / {int(it.max())} | {bool(np.asarray(r.converged).all())} | "
                f"{float(np.max(np.asarray(r.bound))):.1e} |"
            )


if __name__ == "__main__":
    main()
