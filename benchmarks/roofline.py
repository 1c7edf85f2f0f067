"""One ipm step's time against the device's memory-bandwidth and compute rooflines.

    python -m benchmarks.roofline [--batch 1000] [--dtype float64]
        [--workloads dense10,clustered8] [--stream-mib 512] [--solve]

For each workload the ipm step and the certificate (the parts of
:mod:`benchmarks.step_profile`, vmapped over the batch at the solver's start) are compiled
once; XLA's cost analysis of that executable gives the bytes it moves and the flops it does
per table. Bytes are counted from the compiled module (:func:`hlo_traffic`): every top-level
operation reads its operands and writes its result, loop bodies once per trip, library calls
included (LAPACK on CPU, cuSOLVER and cuBLAS on GPU: the Cholesky factorisation and the
triangular solves), which XLA's cost analysis leaves out; an in-place update of a slice is
charged its whole buffer, so loops that update arrays slice by slice (the certificate's
label-by-label raise) are overcounted, by at most about 2x. Flops are XLA's (a loop body once)
plus ``n^3 / 3`` per factorisation and ``n^2`` per triangular solve with one right-hand side.

The device is probed first: memory bandwidth as (read + write) bytes per second of ``x * c +
d`` over an array of ``--stream-mib`` MiB, and the flop rate of a 2048 x 2048 matmul, both in
the chosen dtype and both the best of several calls (a roofline is what the device can do; the
median of a shared machine's calls swings by 2x). Parts are timed by their median. A part's
roofline is the larger of bytes / bandwidth and flops / flop rate; ``measured / roofline``
says how far the part runs from it (1 = at the roofline). On a CPU,
arrays that stay in cache move faster than the probe's, so there the roofline is an estimate,
not a bound; make ``--stream-mib`` the size of one batch's arrays to probe cache speed.

With ``--solve`` the whole solve is timed too (``pidjax.decompose``, as in
:mod:`benchmarks.kernel_throughput`) and set beside ``1 / (median steps x step roofline)``:
the most tables per second this many steps could give on this device, certificates free.
"""

from __future__ import annotations

import argparse
import re
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)

from benchmarks.kernel_throughput import WORKLOADS, _timed, workload  # noqa: E402
from benchmarks.step_profile import _newton_point, _parts, call_seconds  # noqa: E402

PARTS = ("ipm: whole step", "ipm: certificate")
_ITEMSIZE = {"f64": 8, "s64": 8, "u64": 8, "c64": 8, "f32": 4, "s32": 4, "u32": 4, "f16": 2, "bf16": 2,
             "s16": 2, "u16": 2, "pred": 1, "s8": 1, "u8": 1, "c128": 16}
_ARRAY = re.compile(r"\b(" + "|".join(_ITEMSIZE) + r")\[([\d,]*)\]")
_INSTRUCTION = re.compile(r"^\s*(?:ROOT )?%([\w.\-]+) = (.*?) ([\w\-]+)\((.*?)\)(.*)$")
_CALLED = r"(?:branch_computations=\{[^}]*\}|to_apply=%[\w.\-]+|(?:true|false)_computation=%[\w.\-]+)"
_FREE = {"parameter", "constant", "get-tuple-element", "tuple", "bitcast", "after-all", "partition-id", "replica-id"}


class Traffic(NamedTuple):
    """What one compiled call moves and computes (whole batch)."""

    bytes: float  # bytes read and written by its top-level operations, loop bodies once per trip
    flops: float
    library_bytes: float  # the part of ``bytes`` in library calls (custom calls)


def array_bytes(shapes: str) -> int:
    """Bytes of every array type written in an HLO shape string, e.g. ``(f64[4,15,15], s32[4])``."""
    total = 0
    for dtype, dims in _ARRAY.findall(shapes):
        total += _ITEMSIZE[dtype] * int(np.prod([int(d) for d in dims.split(",") if d]))
    return total


def _library_flops(target: str, out_shape: str) -> float:
    """Flops of one batched Cholesky (``n^3 / 3``) or triangular solve (``n^2`` per right-hand side)."""
    found = _ARRAY.search(out_shape)
    if found is None:
        return 0.0
    dims = [int(d) for d in found.group(2).split(",") if d]
    if "potrf" in target.lower() and len(dims) >= 2:
        return float(np.prod(dims[:-2])) * dims[-1] ** 3 / 3
    if ("trsm" in target.lower() or "triangular" in target.lower()) and len(dims) >= 2:
        return float(np.prod(dims[:-2])) * dims[-2] ** 2 * dims[-1]
    return 0.0


def _computations(text: str) -> tuple[dict[str, list[str]], str]:
    """The instruction lines of every computation of an HLO module, and the entry's name."""
    comps, entry, name = {}, None, None
    for line in text.splitlines():
        header = re.match(r"^(ENTRY )?%([\w.\-]+) ", line)
        if header and line.rstrip().endswith("{"):
            name = header.group(2)
            comps[name] = []
            entry = name if header.group(1) else entry
        elif name is not None and line.startswith(" "):
            comps[name].append(line)
    return comps, entry


def hlo_traffic(text: str) -> tuple[float, float, float]:
    """``(bytes, library bytes, library flops)`` of an optimised HLO module's entry computation.

    Every top-level operation reads its operands and writes its result once (a fusion's inner
    operations stay in registers); a ``while`` with a known trip count costs that many passes of
    its body and condition (once if unknown), a ``conditional`` its dearest branch. XLA's own
    cost analysis counts loop bodies once and library calls not at all.
    """
    comps, entry = _computations(text)

    def cost(name: str) -> tuple[float, float, float]:
        shapes: dict[str, str] = {}
        moved = lib = lib_flops = 0.0
        for line in comps.get(name, ()):
            found = _INSTRUCTION.match(line)
            if found is None:
                continue
            var, shape, op, args, rest = found.groups()
            shapes[var] = shape
            if op in _FREE:
                continue
            if op == "while":
                trips = re.search(r'"known_trip_count":\{"n":"(\d+)"', rest)
                n = int(trips.group(1)) if trips else 1
                for c in re.findall(r"(?:condition|body)=%([\w.\-]+)", rest):
                    inner = cost(c)
                    moved, lib, lib_flops = moved + n * inner[0], lib + n * inner[1], lib_flops + n * inner[2]
                continue
            if op in ("conditional", "call"):
                refs = re.findall(_CALLED, rest)
                called = re.findall(r"%([\w.\-]+)", " ".join(refs))
                inner = max((cost(c) for c in called if c in comps), default=(0.0, 0.0, 0.0))
                moved, lib, lib_flops = moved + inner[0], lib + inner[1], lib_flops + inner[2]
                continue
            operands = (shapes.get(a.strip().lstrip("%"), "") for a in args.split(","))
            here = array_bytes(shape) + sum(array_bytes(o) for o in operands)
            moved += here
            if op == "custom-call":
                lib += here
                target = re.search(r'custom_call_target="([^"]+)"', rest)
                lib_flops += _library_flops(target.group(1) if target else "", shape)
        return moved, lib, lib_flops

    return cost(entry)


def traffic(compiled) -> Traffic:
    """Bytes and flops of a compiled executable: :func:`hlo_traffic`, and flops from XLA's cost
    analysis (which counts a loop body once) plus those of its library calls."""
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    moved, lib, lib_flops = hlo_traffic(compiled.as_text())
    return Traffic(moved, float(cost.get("flops", 0.0)) + lib_flops, lib)


def stream_bandwidth(dtype, mib: float) -> float:
    """Bytes per second read and written by ``x * c + d`` over an array of ``mib`` MiB (best of 21 calls)."""
    n = max(int(mib * 2**20) // jnp.dtype(dtype).itemsize, 1)
    x = jnp.ones(n, dtype)
    call = jax.jit(lambda x: x * jnp.asarray(1.0001, dtype) + jnp.asarray(1e-3, dtype))
    return 2 * x.nbytes / call_seconds(call, (x,), repeats=21, pick=min)


def matmul_rate(dtype, size: int = 2048) -> float:
    """Flops per second of a ``size x size`` matmul at full precision (best of 5 calls)."""
    a = jnp.ones((size, size), dtype) / size
    call = jax.jit(lambda a: jnp.matmul(a, a, precision=jax.lax.Precision.HIGHEST))
    return 2 * size**3 / call_seconds(call, (a,), repeats=5, pick=min)


def _ratio(measured: float, roof: float) -> str:
    """``measured / roof`` to one decimal, or ``n/a`` where nothing was counted (an HLO it cannot read)."""
    return f"{measured / roof:.1f}" if roof > 0 else "n/a"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--dtype", default="float64", choices=("float32", "float64"))
    parser.add_argument("--workloads", default="dense10,clustered8", help=f"comma list of {', '.join(WORKLOADS)}")
    parser.add_argument("--stream-mib", type=float, default=512.0, help="array size of the bandwidth probe")
    parser.add_argument("--solve", action="store_true", help="time the whole solve too")
    parser.add_argument("--tol", type=float, default=None, help="bits, for --solve (default 1e-6 float64, 1e-4 float32)")
    args = parser.parse_args(argv)
    names = [w for w in args.workloads.split(",") if w]
    for name in names:
        if name not in WORKLOADS:
            parser.error(f"unknown workload {name!r}: choose from {', '.join(WORKLOADS)}")
    if args.batch < 1 or args.stream_mib <= 0:
        parser.error("--batch and --stream-mib must be positive")
    dtype = jnp.dtype(args.dtype)
    bandwidth = stream_bandwidth(dtype, args.stream_mib)
    rate = matmul_rate(dtype)
    dev = jax.devices()[0]
    print(
        f"device: {dev.platform} {dev.device_kind}; {args.dtype}; batch {args.batch}; "
        f"stream bandwidth {bandwidth / 1e9:.1f} GB/s ({args.stream_mib:g} MiB); matmul {rate / 1e9:.1f} GFlop/s"
    )
    print("| workload | part | us/table | KB/table (library) | kFlop/table | bandwidth us | compute us | measured / roofline |")
    print("|---|---|---|---|---|---|---|---|")
    for name in names:
        label, P = workload(name, args.batch)
        P = jnp.asarray(P, dtype)
        point = jax.jit(jax.vmap(_newton_point))(P)
        roof = {}
        for part in PARTS:
            compiled = jax.jit(jax.vmap(_parts()[part])).lower(*point).compile()
            moved = traffic(compiled)
            measured = call_seconds(compiled, point) / args.batch
            t_bw = moved.bytes / args.batch / bandwidth
            t_fl = moved.flops / args.batch / rate
            roof[part] = max(t_bw, t_fl)
            print(
                f"| {label} | {part} | {measured * 1e6:.1f} | {moved.bytes / args.batch / 1e3:,.0f} "
                f"({moved.library_bytes / args.batch / 1e3:,.0f}) | {moved.flops / args.batch / 1e3:,.0f} | "
                f"{t_bw * 1e6:.1f} | {t_fl * 1e6:.1f} | {_ratio(measured, roof[part])} |",
                flush=True,
            )
        if args.solve:
            tol = args.tol if args.tol is not None else (1e-6 if args.dtype == "float64" else 1e-4)
            seconds, r = _timed(np.asarray(P), "ipm", args.dtype, tol)
            steps = float(np.median(np.asarray(r.iterations)))
            at_roof = max(steps, 1.0) * roof["ipm: whole step"]  # seconds per table
            best = f"{1.0 / at_roof:,.0f}" if at_roof > 0 else "n/a"
            print(
                f"| {label} | whole solve, {steps:g} steps (median) | {seconds / args.batch * 1e6:.1f} | "
                f"{args.batch / seconds:,.0f} tables/s measured | | at the step roofline: {best} tables/s | | "
                f"{_ratio(seconds / args.batch, at_roof)} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
