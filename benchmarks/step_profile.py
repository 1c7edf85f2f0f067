"""Where one second-order step's time goes: the parts of a newton / ipm step, per table.

    python -m benchmarks.step_profile [--batch 100] [--workloads dense10,dense16,clustered8,clustered16]

Each part is jitted and vmapped on its own over a batch of tables of one of the
:data:`benchmarks.kernel_throughput.WORKLOADS` at the solvers' starting points and timed
after a warm-up call (median of 9 calls, compile excluded); it prints microseconds per table.
Parts run separately lose the fusion across their borders, so they add up to a little more
than the whole step. A whole solve costs about
``iterations x (step + certificate)``: compare with ``benchmarks.kernel_throughput``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp

jax.config.update("jax_enable_x64", True)

from benchmarks.kernel_throughput import WORKLOADS, workload  # noqa: E402
from pidjax import ipm, newton  # noqa: E402
from pidjax.solver import certify, support_of  # noqa: E402


def _newton_point(P):
    sup = support_of(P)
    return (P, *newton._init(sup))


def _schur_inputs(P, a, b, w):
    sup = support_of(P)
    s, c = newton._pair_terms(sup, a, b)
    neg_s = jnp.where(sup.pair, -s, 1.0)
    return sup, w[:, :, None] * c, w * (1.0 / neg_s - 1.0), c


def _parts():
    """``name -> function of the newton starting point (P, a, b, w)``."""

    def pair_terms(P, a, b, w):
        return newton._pair_terms(support_of(P), a, b)

    def schur_solve(P, a, b, w):
        sup, q, gamma, c = _schur_inputs(P, a, b, w)
        return newton._schur_solve(sup, q, gamma, c, sup.p1, sup.p2)

    def schur_product(P, a, b, w):
        # A product of the same shapes and flop count as the one that forms the (n k) x (n k)
        # Schur complement in _schur_solve ((m k) x (n k) transposed times (m k) x (n k)).
        sup, q, gamma, c = _schur_inputs(P, a, b, w)
        m, n, k = q.shape
        h_ab = gamma[:, :, None, None] * c[:, :, :, None] * c[:, :, None, :] + q[:, :, :, None] * jnp.eye(k)
        coupling = jnp.transpose(h_ab, (0, 2, 1, 3)).reshape(m * k, n * k)
        return jnp.matmul(coupling.T, coupling, precision=jax.lax.Precision.HIGHEST)

    def newton_step(P, a, b, w):
        return newton._step(support_of(P), a, b, w)

    def certificate(P, a, b, w):
        return newton._certify(support_of(P), a, b, w).gap

    def ipm_step(P, a, b, w):
        sup = support_of(P)
        q, a, b, z = ipm._init(sup)
        mu = jnp.maximum(sup.cell.sum(), 1).astype(P.dtype)
        return ipm._step(sup, mu, q, a, b, z, jnp.asarray(newton.RIDGE, P.dtype))

    def ipm_certificate(P, a, b, w):
        sup = support_of(P)
        q, a, b, _ = ipm._init(sup)
        return certify(sup, q, a, b).gap

    return {
        "newton: pair terms": pair_terms,
        "newton: Schur solve": schur_solve,
        "  of which the dense Schur product": schur_product,
        "newton: whole step": newton_step,
        "newton: certificate": certificate,
        "ipm: whole step": ipm_step,
        "ipm: certificate": ipm_certificate,
    }


def call_seconds(call, args, repeats: int = 9, pick=statistics.median) -> float:
    """Wall seconds of ``call(*args)``, ``pick`` (median) of ``repeats`` after a warm-up call (which compiles)."""
    jax.block_until_ready(call(*args))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(call(*args))
        times.append(time.perf_counter() - start)
    return pick(times)


def time_part(fn, args, batch: int, repeats: int = 9) -> float:
    """Median microseconds per table of ``vmap(fn)`` over ``args`` (compile excluded)."""
    return call_seconds(jax.jit(jax.vmap(fn)), args, repeats) / batch * 1e6


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--workloads", default="dense10,dense16", help=f"comma list of {', '.join(WORKLOADS)}")
    args = parser.parse_args(argv)
    names = [w for w in args.workloads.split(",") if w]
    for name in names:
        if name not in WORKLOADS:
            parser.error(f"unknown workload {name!r}: choose from {', '.join(WORKLOADS)}")
    print(f"device: {jax.devices()[0].device_kind}, batch {args.batch}, float64, microseconds per table")
    for name in names:
        label, P = workload(name, args.batch)
        point = jax.jit(jax.vmap(_newton_point))(jnp.asarray(P, jnp.float64))
        print(f"\n| {label} | us/table |\n|---|---|")
        for part, fn in _parts().items():
            print(f"| {part} | {time_part(fn, point, args.batch):.1f} |", flush=True)


if __name__ == "__main__":
    main()
