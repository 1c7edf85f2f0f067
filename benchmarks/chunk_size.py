"""Throughput of ``decompose`` against the chunk size (tables per compiled call).

    python -m benchmarks.chunk_size [--workloads dense10,clustered8,dense16]
        [--batch 2000] [--sizes 64,128,256,512,1024,auto] [--method ipm] [--rounds 3]

Every chunk size solves the same batch of one of the
:data:`benchmarks.kernel_throughput.WORKLOADS`. Sizes are timed in turn, round after round, so
that the machine's drift hits them alike; compile time is excluded (one warm-up call per size)
and the median of the rounds is printed. ``auto`` is what ``decompose`` picks by itself
(:func:`pidjax.placement.auto_batch_size`).
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)

import pidjax  # noqa: E402
from benchmarks.kernel_throughput import WORKLOADS, workload  # noqa: E402
from pidjax.placement import auto_batch_size  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", default="dense10,clustered8,dense16")
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument("--sizes", default="64,128,256,512,1024,auto")
    parser.add_argument("--method", default="ipm")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    for name in args.workloads.split(","):
        if name not in WORKLOADS:
            parser.error(f"unknown workload {name!r}; one of {', '.join(WORKLOADS)}")
    if args.batch < 1 or args.rounds < 1:
        parser.error("--batch and --rounds must be >= 1")
    dev = jax.devices()[0]
    print(f"device: {dev.platform} {dev.device_kind}, {len(jax.local_devices())} local device(s); "
          f"{args.method}, float64, tol 1e-6 bits; tables/s, median of {args.rounds} rounds")
    print("| workload | batch | chunk | tables/s |")
    print("|---|---|---|---|")
    for name in args.workloads.split(","):
        P = workload(name, args.batch)[1]
        auto = auto_batch_size(P.shape[1:], np.float64)
        sizes = sorted({auto if s == "auto" else int(s) for s in args.sizes.split(",")})
        for size in sizes:  # warm-up: compile every size once
            np.asarray(pidjax.decompose(P[:size], method=args.method, batch_size=size).synergy)
        times = {size: [] for size in sizes}
        for _ in range(args.rounds):
            for size in sizes:
                start = time.perf_counter()
                np.asarray(pidjax.decompose(P, method=args.method, batch_size=size).synergy)
                times[size].append(time.perf_counter() - start)
        for size in sizes:
            tag = f"{size} (auto)" if size == auto else str(size)
            print(f"| {name} | {args.batch} | {tag} | {args.batch / statistics.median(times[size]):,.0f} |", flush=True)


if __name__ == "__main__":
    main()
