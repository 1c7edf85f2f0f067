"""Kernel throughput and iterations to a certified bound, on whatever device JAX sees.

    python -m benchmarks.kernel_throughput [--batch 1000] [--ipfp-batch 100]
        [--dtype float64] [--tol 1e-6] [--methods newton,ipm,ipfp]
        [--workloads dense10,clustered8,clustered16,dense16]

Workloads: ``dense10`` / ``dense16`` are seeded Dirichlet(1) 10x10x10 / 16x16x10 tables
(``dense2`` / ``dense5``: 2x2x2 / 5x5x3, for small-table overheads); ``sparse5`` /
``sparse10`` are Dirichlet(0.1) 5x5x3 / 10x10x10 tables (boundary optima, and the members
whose central path stalls and is handed to the Newton solver);
``clustered8`` / ``clustered16`` are the stored clustered tables of the ground-truth file
(8x8x4 and 16x16x10, made by k-means of two synthetic modalities), tiled to the batch size.
``--batch`` takes a comma list (e.g. ``1000,10000,100000``): every size is timed. Compile time
is excluded (one warm-up call on the very same batch); the median of three timed calls is
reported (one call for batches over 20 s).
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

DENSE = {"dense10": (10, 10, 10), "dense16": (16, 16, 10), "dense2": (2, 2, 2), "dense5": (5, 5, 3)}
SPARSE = {"sparse5": (5, 5, 3), "sparse10": (10, 10, 10)}  # Dirichlet(0.1)
CLUSTERED = {"clustered8": (8, 8, 4), "clustered16": (16, 16, 10)}
WORKLOADS = ("dense10", "clustered8", "clustered16", "dense16", "dense2", "dense5", "sparse5", "sparse10")


def _timed(P, method, dtype, tol):
    def call():
        r = pidjax.decompose(P, method=method, dtype=dtype, tol=tol)
        jax.block_until_ready(r.redundancy)
        return r

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        call()  # compile + first run
        first = time.perf_counter() - start
        times = []
        for _ in range(1 if first > 20 else 3):
            start = time.perf_counter()
            r = call()
            times.append(time.perf_counter() - start)
    return statistics.median(times), r


def workload(name: str, batch: int) -> tuple[str, np.ndarray]:
    """``(label, tables (batch, m, n, k))`` of one of :data:`WORKLOADS`."""
    rng = np.random.default_rng(0)
    if name in DENSE or name in SPARSE:
        shape, alpha, kind = (DENSE[name], 1.0, "dense") if name in DENSE else (SPARSE[name], 0.1, "sparse")
        size = int(np.prod(shape))
        tables = rng.dirichlet(np.full(size, alpha), size=batch).reshape(batch, *shape)
        return f"{kind} {'x'.join(map(str, shape))}", tables
    shape = CLUSTERED[name]
    tables = [c["P"] for c in load_cases() if c["family"] == "clustered" and c["P"].shape == shape]
    return f"clustered {'x'.join(map(str, shape))} ({len(tables)} tiled)", np.stack(
        [tables[i % len(tables)] for i in range(batch)]
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", default="1000", help="comma list of batch sizes")
    parser.add_argument("--ipfp-batch", type=int, default=100, help="IPFP is slow: its batch is capped here")
    parser.add_argument("--dtype", default="float64", choices=("float32", "float64"))
    parser.add_argument("--tol", type=float, default=None, help="bits (default 1e-6 in float64, 1e-4 in float32)")
    parser.add_argument("--methods", default=",".join(pidjax.METHODS))
    parser.add_argument("--workloads", default="dense10,clustered8,clustered16")
    args = parser.parse_args(argv)
    batches = [int(b) for b in args.batch.split(",")]
    methods = [m for m in args.methods.split(",") if m]
    tol = args.tol if args.tol is not None else (1e-6 if args.dtype == "float64" else 1e-4)
    dev = jax.devices()[0]
    print(f"device: {dev.platform} {dev.device_kind}, {len(jax.devices())} device(s); {args.dtype}; tol {tol:g} bits")
    print("| workload | method | batch | seconds | distributions/s | iterations median / max | all converged | max bound |")
    print("|---|---|---|---|---|---|---|---|")
    for name in args.workloads.split(","):
        for batch in batches:
            label, P = workload(name, batch)
            for method in methods:
                Pm = P if method != "ipfp" else P[: args.ipfp_batch]
                seconds, r = _timed(Pm, method, args.dtype, tol)
                it = np.asarray(r.iterations)
                rate = len(Pm) / seconds
                print(
                    f"| {label} | {method} | {len(Pm)} | {seconds:.3f} | {rate:,.0f} | "
                    f"{int(np.median(it))} / {int(it.max())} | {bool(np.asarray(r.converged).all())} | "
                    f"{float(np.max(np.asarray(r.bound))):.1e} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
