"""Throughput of ``decompose`` run by several local JAX processes against one process.

    python -m benchmarks.processes [--processes 1,2] [--workloads dense10,clustered8]
        [--batch 1000] [--rounds 3]

For each process count ``c`` it starts ``c`` copies of itself on this machine, joined by
``jax.distributed`` (CPU collectives: gloo), and every copy decomposes the same batch of one of
the :data:`benchmarks.kernel_throughput.WORKLOADS`: each solves its share and the results are
gathered (``pidjax.placement.solve_across_processes``).
Process 0 prints the median of ``--rounds`` timed calls after a warm-up call, gather
included. On a CPU this tells whether one process per core beats one process using all cores.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the repository: workers run from here


def _worker(args):
    import jax

    jax.config.update("jax_enable_x64", True)
    if args.count > 1:
        jax.distributed.initialize(coordinator_address=f"127.0.0.1:{args.port}", num_processes=args.count,
                                   process_id=args.index)
    import numpy as np

    import pidjax
    from benchmarks.kernel_throughput import workload

    for name in args.workloads.split(","):
        P = workload(name, args.batch)[1]
        np.asarray(pidjax.decompose(P).synergy)  # compile
        times = []
        for _ in range(args.rounds):
            start = time.perf_counter()
            r = pidjax.decompose(P)
            np.asarray(r.synergy)
            times.append(time.perf_counter() - start)
        if args.index == 0:
            rate = args.batch / statistics.median(times)
            ok = bool(np.asarray(r.converged).all())
            print(f"| {name} | {args.batch} | {args.count} | {rate:,.0f} | {ok} |", flush=True)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (for a ``jax.distributed`` coordinator)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_joined(commands, env, timeout: float, cwd=None) -> tuple[list[int], list[str]]:
    """Run ``commands`` (argument lists) at once, wait for all; ``(return codes, outputs)``.

    Output (stdout and stderr together) goes to files, not pipes: a process blocked on a full
    pipe would stall the others in a ``jax.distributed`` gather. Processes still running after
    ``timeout`` seconds are killed (``subprocess.TimeoutExpired`` is raised).
    """
    with tempfile.TemporaryDirectory() as folder:
        logs = [open(Path(folder) / f"{i}.log", "w+") for i in range(len(commands))]
        procs = [subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=cwd, env=env)
                 for cmd, log in zip(commands, logs)]
        try:
            for p in procs:
                p.wait(timeout=timeout)
        finally:
            for p in procs:
                p.kill()
        outputs = []
        for log in logs:
            log.seek(0)
            outputs.append(log.read())
            log.close()
    return [p.returncode for p in procs], outputs


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", default="1,2", help="comma list of process counts")
    parser.add_argument("--workloads", default="dense10,clustered8")
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per process count")
    parser.add_argument("--worker", nargs=3, type=int, metavar=("PORT", "COUNT", "INDEX"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        args.port, args.count, args.index = args.worker
        return _worker(args)
    from benchmarks.kernel_throughput import WORKLOADS

    counts = [int(c) for c in args.processes.split(",")]
    if any(c < 1 for c in counts) or args.batch < 1 or args.rounds < 1:
        parser.error("--processes, --batch and --rounds must be >= 1")
    for name in args.workloads.split(","):
        if name not in WORKLOADS:
            parser.error(f"unknown workload {name!r}; one of {', '.join(WORKLOADS)}")
    print(f"float64, default method and chunks, tol 1e-6 bits; {os.cpu_count()} CPUs; "
          f"tables/s, median of {args.rounds} calls")
    print("| workload | batch | processes | tables/s | all converged |")
    print("|---|---|---|---|---|")
    for count in counts:
        port = free_port()
        common = ["--workloads", args.workloads, "--batch", str(args.batch), "--rounds", str(args.rounds)]
        path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        commands = [[sys.executable, "-m", "benchmarks.processes", *common, "--worker", str(port), str(count), str(i)]
                    for i in range(count)]
        codes, outs = run_joined(commands, dict(os.environ, PYTHONPATH=path), args.timeout, cwd=ROOT)
        failed = [i for i, code in enumerate(codes) if code != 0]
        if failed:
            raise RuntimeError(f"process {failed[0]} of {count} failed:\n{outs[failed[0]][-2000:]}")
        for line in outs[0].splitlines():  # the table rows; gloo also prints to stdout
            if line.startswith("| "):
                print(line, flush=True)


if __name__ == "__main__":
    main()
