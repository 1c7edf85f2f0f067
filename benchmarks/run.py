"""Side-by-side accuracy and speed suite: ``python -m benchmarks.run --suite {smoke,quick,full}``.

Two passes over the cases of the stored ground-truth file:

* accuracy: every solver on every case of the suite (one distribution at a time for the
  references, one batch per shape for pidjax), max abs error vs the certified truth in bits
  for R, U1, U2, S, the marginal violation, failures and timeouts (per-case time cap);
* throughput: distributions/s for batches of 1, 100, 10,000 on fixed workloads. pidjax is
  timed on real batches (compile excluded: a warm-up call on the very same batch, then the
  median of up to 3 calls). The references solve one table at a time, so their batch rate is
  the per-distribution time measured in the accuracy pass, marked ``extrapolated``; a pidjax
  batch over 100 whose time, predicted linearly from the previous size, exceeds the cap is
  copied from that size and marked so too.

Writes ``results.json`` (machine, versions, commit), ``results.md`` and three PNG plots to
``--out`` and prints the Markdown tables.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

TERMS = ("redundancy", "unique_1", "unique_2", "synergy")
BATCH_SIZES = (1, 100, 10_000)

# cases: explicit names, or all accepted cases up to max_shape (Dirichlet: only the listed seeds);
# ref_max_cells / slow_ref_max_cells: largest m*n*k given to the references / to SLOW_REFS;
# cap_s: per-case time cap for references and the largest pidjax batch timed for real;
# workloads: (family, shape) timed at every batch size; support_shapes: dense shapes timed at
# one batch size (the largest <= 100) for the throughput-vs-support plot.
SUITES = {
    "smoke": {
        "cases": ("xor", "and", "dit:w", "dirichlet_dense_2x2x2_s0", "dirichlet_sparse_2x2x2_s0"),
        "ref_max_cells": 64,
        "slow_ref_max_cells": 64,
        "cap_s": 10.0,
        "workloads": (("dirichlet_dense", (2, 2, 2)),),
        "batch_sizes": (1, 10),
        "support_shapes": ((2, 2, 2),),
        "solvers": ("pidjax", "cvxpy-clarabel", "dit-auto", "am-paper"),
    },
    "quick": {
        "cases": None,
        "max_shape": (16, 16, 10),
        "seeds": ("s0",),
        "ref_max_cells": 2560,
        "slow_ref_max_cells": 32,
        "cap_s": 10.0,
        "workloads": (("dirichlet_dense", (10, 10, 10)), ("clustered", (16, 16, 10))),
        "batch_sizes": BATCH_SIZES,
        "support_shapes": ((2, 2, 2), (4, 4, 4), (8, 8, 4), (10, 10, 10), (16, 16, 10)),
        "solvers": ("pidjax", "cvxpy-clarabel", "cvxpy-ecos", "dit-auto", "dit-cone", "am-paper", "am-tight"),
    },
    "full": {
        "cases": None,
        "max_shape": (32, 32, 10),
        "seeds": None,
        "ref_max_cells": 10240,
        "slow_ref_max_cells": 10240,
        "cap_s": 120.0,
        "workloads": (("dirichlet_dense", (10, 10, 10)), ("dirichlet_sparse", (10, 10, 10)), ("clustered", (16, 16, 10)), ("clustered", (32, 32, 10))),
        "batch_sizes": BATCH_SIZES,
        "support_shapes": ((2, 2, 2), (4, 4, 4), (8, 8, 4), (10, 10, 10), (16, 16, 10), (32, 32, 10)),
        "solvers": ("pidjax", "cvxpy-clarabel", "cvxpy-ecos", "cvxpy-scs", "dit-auto", "dit-cone", "am-paper", "am-tight"),
    },
}
SLOW_REFS = ("dit-auto", "dit-cone", "am-tight")  # limited to slow_ref_max_cells


class CaseTimeout(Exception):
    """A reference exceeded the per-case time cap."""


@contextlib.contextmanager
def time_cap(seconds: float):
    """Raise :class:`CaseTimeout` after ``seconds`` of wall time (SIGALRM; main thread only).

    A solver inside one long C call is interrupted when it returns to Python.
    """

    def handler(signum, frame):
        raise CaseTimeout()

    old = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def reference_solvers() -> dict:
    """name -> function(P) returning a dict with the PID terms (bits) and a status."""
    from benchmarks.references.cvxpy_broja import solve_cvxpy
    from benchmarks.references.dit_broja import solve_dit
    from benchmarks.references.numpy_am import PAPER, TIGHT, solve_am

    def cvx(solver):
        def run(P):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out = solve_cvxpy(P, solver=solver)
            out["failed"] = out["status"] not in ("optimal",)
            return out

        return run

    def dit(method):
        def run(P):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out = solve_dit(P, method=method)
            out["failed"] = out["status"] != "ok"
            return out

        return run

    def am(settings):
        def run(P):
            out = solve_am(P, **settings)
            out["failed"] = False  # the paper's method reports no failure; its error shows below
            return out

        return run

    return {
        "cvxpy-clarabel": cvx("CLARABEL"),
        "cvxpy-ecos": cvx("ECOS"),
        "cvxpy-scs": cvx("SCS"),
        "dit-auto": dit("auto"),
        "dit-cone": dit("cone"),
        "am-paper": am(PAPER),
        "am-tight": am(TIGHT),
    }


def select_cases(suite: dict, cases: list[dict]) -> list[dict]:
    """The cases of a suite (only those whose truth was accepted)."""
    out = []
    for c in cases:
        if not c["truth"]["accepted"]:
            continue
        if suite["cases"] is not None:
            if c["name"] in suite["cases"]:
                out.append(c)
            continue
        if any(s > mx for s, mx in zip(c["P"].shape, suite["max_shape"])):
            continue
        if suite["seeds"] and c["family"].startswith("dirichlet") and not c["name"].endswith(suite["seeds"]):
            continue
        out.append(c)
    return out


def _errors(res: dict, truth: dict) -> dict:
    return {t: abs(float(res[t]) - float(truth[t])) for t in TERMS}


def accuracy_reference(name, fn, cases, suite, log) -> list[dict]:
    """One record per case: seconds, errors (bits), marginal violation, status."""
    rows = []
    limit = suite["slow_ref_max_cells"] if name in SLOW_REFS else suite["ref_max_cells"]
    for c in cases:
        if c["P"].size > limit:
            continue
        rec = {"solver": name, "case": c["name"], "family": c["family"], "shape": list(c["P"].shape), "cells": int(c["P"].size)}
        t0 = time.perf_counter()
        try:
            with time_cap(suite["cap_s"]):
                res = fn(c["P"])
            rec["seconds"] = time.perf_counter() - t0
            rec["status"] = str(res.get("status"))
            rec["failed"] = bool(res.get("failed")) or "redundancy" not in res
            if "redundancy" in res:
                rec.update(errors=_errors(res, c["truth"]), marginal_violation=res.get("marginal_violation"))
        except CaseTimeout:
            rec.update(seconds=time.perf_counter() - t0, status="timeout", failed=True, timeout=True)
        except Exception as exc:  # a reference crashing is a result, not a suite failure
            rec.update(seconds=time.perf_counter() - t0, status=f"error: {type(exc).__name__}: {exc}"[:200], failed=True)
        rows.append(rec)
    log(f"  {name}: {len(rows)} cases")
    return rows


def _pidjax():
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    import jax

    jax.config.update("jax_enable_x64", True)
    import pidjax

    return jax, pidjax


def _run_pidjax(P, method):
    jax, pidjax = _pidjax()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = pidjax.decompose(P, method=method)
        jax.block_until_ready(res)
    return res


def _timed_pidjax(P, method, repeats: int = 3) -> tuple[float, object]:
    """Median seconds of one batch, compile excluded.

    The first call on this very batch compiles and warms up (a batch costs its slowest member,
    so an easy stand-in would time something else); it is then timed ``repeats`` times, or
    once when the first call took over a second.
    """
    t0 = time.perf_counter()
    _run_pidjax(P, method)
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeats if first < 1.0 else 1):
        t0 = time.perf_counter()
        res = _run_pidjax(P, method)
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), res


def accuracy_pidjax(method, cases, log) -> list[dict]:
    """pidjax on the suite's cases, one batch per (family, shape); per-case records."""
    rows = []
    groups: dict = {}
    for c in cases:
        groups.setdefault((c["family"], c["P"].shape), []).append(c)
    for (family, shape), group in groups.items():
        P = np.stack([c["P"] for c in group])
        seconds, res = _timed_pidjax(P, method)
        for i, c in enumerate(group):
            vals = {t: float(np.asarray(getattr(res, t))[i]) for t in TERMS}
            converged = bool(np.asarray(res.converged)[i])
            rows.append(
                {
                    "solver": f"pidjax-{method}",
                    "case": c["name"],
                    "family": family,
                    "shape": list(shape),
                    "cells": int(np.prod(shape)),
                    "seconds": seconds / len(group),
                    "batch": len(group),
                    "status": "converged" if converged else "not converged",
                    "failed": not converged,
                    "bound": float(np.asarray(res.bound)[i]),
                    "iterations": int(np.asarray(res.iterations)[i]),
                    "errors": _errors(vals, c["truth"]),
                    "marginal_violation": float(np.asarray(res.marginal_violation)[i]),
                }
            )
    log(f"  pidjax-{method}: {len(rows)} cases in {len(groups)} batches")
    return rows


def workload_batch(family, shape, size, cases, seed=0) -> np.ndarray:
    """``size`` tables of ``shape`` for throughput: fresh seeded Dirichlet tables, or the
    stored clustered tables of that shape tiled (k-means per table would dominate the run)."""
    if family.startswith("dirichlet"):
        alpha = 1.0 if family == "dirichlet_dense" else 0.1
        rng = np.random.default_rng(1000 + seed)
        return rng.dirichlet(np.full(int(np.prod(shape)), alpha), size=size).reshape(size, *shape)
    pool = [c["P"] for c in cases if c["family"] == family and tuple(c["P"].shape) == tuple(shape)]
    return np.stack([pool[i % len(pool)] for i in range(size)])


def _support_batch(suite) -> int:
    return max(b for b in suite["batch_sizes"] if b <= 100)


def throughput_pidjax(method, suite, cases, log) -> list[dict]:
    """distributions/s per workload and batch size, compile excluded.

    Batches up to 100 are always run. A larger batch is run when its time predicted linearly
    from the previous size fits the cap; otherwise its rate is copied from that size and marked.
    """
    rows = []
    shapes = [(fam, tuple(s)) for fam, s in suite["workloads"]]
    shapes += [("dirichlet_dense", tuple(s)) for s in suite["support_shapes"] if ("dirichlet_dense", tuple(s)) not in shapes]
    for family, shape in shapes:
        sizes = suite["batch_sizes"] if (family, shape) in [(f, tuple(s)) for f, s in suite["workloads"]] else (_support_batch(suite),)
        prev = None
        for size in sizes:
            rec = {"solver": f"pidjax-{method}", "family": family, "shape": list(shape), "cells": int(np.prod(shape)), "batch": size}
            if size > 100 and prev is not None and prev[1] * size / prev[0] > suite["cap_s"]:
                rec.update(per_second=prev[0] / prev[1], extrapolated=f"from batch {prev[0]}")
            else:
                P = workload_batch(family, shape, size, cases)
                seconds, res = _timed_pidjax(P, method)
                rec.update(
                    per_second=size / seconds,
                    seconds=seconds,
                    extrapolated=None,
                    max_bound=float(np.max(np.asarray(res.bound))),
                    all_converged=bool(np.all(np.asarray(res.converged))),
                    iterations_max=int(np.max(np.asarray(res.iterations))),
                )
                prev = (size, seconds)
            rows.append(rec)
            log(f"  pidjax-{method} {family} {shape} batch {size}: {rec['per_second']:.3g}/s" + (" (extrapolated)" if rec["extrapolated"] else ""))
    return rows


def throughput_reference(name, acc_rows, suite) -> list[dict]:
    """Reference rates from the accuracy pass: 1 / median seconds, linear in batch (sequential)."""
    rows = []
    for family, shape in list(suite["workloads"]) + [("dirichlet_dense", s) for s in suite["support_shapes"]]:
        secs = [r["seconds"] for r in acc_rows if r["family"] == family and r["shape"] == list(shape) and not r.get("timeout")]
        if not secs:
            continue
        med = float(np.median(secs))
        sizes = suite["batch_sizes"] if (family, tuple(shape)) in [(f, tuple(s)) for f, s in suite["workloads"]] else (_support_batch(suite),)
        for size in sizes:
            rows.append(
                {
                    "solver": name,
                    "family": family,
                    "shape": list(shape),
                    "cells": int(np.prod(shape)),
                    "batch": size,
                    "per_second": 1.0 / med,
                    "extrapolated": f"sequential: batch x median of {len(secs)} single solves",
                }
            )
    return rows


def _dedupe(rows):
    seen, out = set(), []
    for r in rows:
        key = (r["solver"], r["family"], tuple(r["shape"]), r["batch"])
        if key not in seen:
            seen.add(key)
            out.append(r)
    return out


def summarize(acc_rows) -> list[dict]:
    """Per solver and case family: median seconds, max errors, violation, failures, timeouts."""
    out = []
    keys = sorted({(r["solver"], r["family"]) for r in acc_rows}, key=lambda k: (k[1], k[0]))
    for solver, family in keys:
        rs = [r for r in acc_rows if r["solver"] == solver and r["family"] == family]
        errs = [r["errors"] for r in rs if "errors" in r]
        viol = [r["marginal_violation"] for r in rs if r.get("marginal_violation") is not None]
        rec = {
            "solver": solver,
            "family": family,
            "cases": len(rs),
            "median_seconds": float(np.median([r["seconds"] for r in rs])),
            "max_marginal_violation": max(viol) if viol else None,
            "failures": sum(bool(r.get("failed")) and not r.get("timeout") for r in rs),
            "timeouts": sum(bool(r.get("timeout")) for r in rs),
        }
        for t in TERMS:
            rec[f"max_err_{t}"] = max((e[t] for e in errs), default=None)
        rec["worst_case"] = max(((max(r["errors"].values()), r["case"]) for r in rs if "errors" in r), default=(None, None))[1]
        out.append(rec)
    return out


def _fmt(x, spec=".1e"):
    return "—" if x is None else format(x, spec)


def markdown(summary, throughput, meta) -> str:
    """The two result tables as Markdown."""
    lines = [
        f"# pidjax benchmark — suite `{meta['suite']}`",
        "",
        f"`{meta['command']}` on {meta['machine']['processor'] or meta['machine']['machine']} "
        f"({meta['machine']['cpu_count']} CPUs), commit `{meta['git_commit']}`, {meta['created']}. "
        "Errors are max |value − certified ground truth| in bits over the family's cases; "
        "pidjax runs at its default tolerance (certified 1e-6 bits, float64).",
        "",
        "## Accuracy and time per distribution",
        "",
        "| family | solver | cases | median s/dist | max err R | max err U1 | max err U2 | max err S | max marg. viol. | failures | timeouts | worst case |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in summary:
        lines.append(
            f"| {r['family']} | {r['solver']} | {r['cases']} | {_fmt(r['median_seconds'], '.2e')} | "
            + " | ".join(_fmt(r[f"max_err_{t}"]) for t in TERMS)
            + f" | {_fmt(r['max_marginal_violation'])} | {r['failures']} | {r['timeouts']} | {r['worst_case'] or '—'} |"
        )
    lines += [
        "",
        "## Throughput (distributions/s)",
        "",
        "References solve one table at a time: their batch rates are batch × the median single-solve "
        "time (marked *). pidjax batches are timed after a warm-up call on the same batch (compile "
        "excluded; median of 3 when a call is under 1 s); a batch runs until its slowest member is "
        "done (`iterations_max` in results.json). A pidjax batch over 100 whose time, predicted "
        "linearly from the previous size, exceeds the cap was not run; its rate is copied from that "
        "size (marked *).",
        "",
    ]
    workloads = sorted({(r["family"], tuple(r["shape"])) for r in throughput}, key=lambda k: (k[0], np.prod(k[1])))
    sizes = sorted({r["batch"] for r in throughput})
    lines.append("| workload | solver | " + " | ".join(f"batch {s:,}" for s in sizes) + " |")
    lines.append("|---|---|" + "---|" * len(sizes))
    solvers = sorted({r["solver"] for r in throughput}, key=lambda s: (not s.startswith("pidjax"), s))
    for fam, shape in workloads:
        for s in solvers:
            cells = []
            for b in sizes:
                r = next((r for r in throughput if r["solver"] == s and r["family"] == fam and tuple(r["shape"]) == shape and r["batch"] == b), None)
                cells.append("—" if r is None else f"{r['per_second']:,.3g}" + ("*" if r["extrapolated"] else ""))
            if any(c != "—" for c in cells):
                lines.append(f"| {fam} {'×'.join(map(str, shape))} | {s} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plots(acc_rows, throughput, suite, out: Path) -> list[str]:
    """throughput_vs_batch.png, throughput_vs_support.png, error_vs_time.png (log-log)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    solvers = sorted({r["solver"] for r in throughput} | {r["solver"] for r in acc_rows})
    colors = {s: plt.cm.tab10(i % 10) for i, s in enumerate(solvers)}
    files = []

    fig, ax = plt.subplots(figsize=(7, 4.5))
    styles = ["-", "--", ":", "-."]
    for j, (fam, shape) in enumerate(suite["workloads"]):
        for s in solvers:
            rs = sorted((r for r in throughput if r["solver"] == s and r["family"] == fam and tuple(r["shape"]) == tuple(shape)), key=lambda r: r["batch"])
            if len(rs) > 1:
                ax.plot([r["batch"] for r in rs], [r["per_second"] for r in rs], styles[j % 4], marker="o", color=colors[s], label=f"{s} {fam} {'x'.join(map(str, shape))}")
    ax.set(xscale="log", yscale="log", xlabel="batch size", ylabel="distributions / s", title="Throughput vs batch size")
    ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(out / "throughput_vs_batch.png", dpi=90)
    plt.close(fig)
    files.append("throughput_vs_batch.png")

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for s in solvers:
        rs = sorted((r for r in throughput if r["solver"] == s and r["family"] == "dirichlet_dense" and r["batch"] == _support_batch(suite)), key=lambda r: r["cells"])
        if rs:
            ax.plot([r["cells"] for r in rs], [r["per_second"] for r in rs], marker="o", color=colors[s], label=s)
    ax.set(xscale="log", yscale="log", xlabel="support size m·n·k (dense Dirichlet)", ylabel=f"distributions / s (batch {_support_batch(suite)})", title="Throughput vs support size")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "throughput_vs_support.png", dpi=90)
    plt.close(fig)
    files.append("throughput_vs_support.png")

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for s in solvers:
        rs = [r for r in acc_rows if r["solver"] == s and "errors" in r]
        if rs:
            ax.scatter([max(r["seconds"], 1e-7) for r in rs], [max(max(r["errors"].values()), 1e-16) for r in rs], s=12, color=colors[s], label=s, alpha=0.7)
    ax.set(xscale="log", yscale="log", xlabel="seconds per distribution", ylabel="max abs error of R,U1,U2,S (bits; floor 1e-16)", title="Error vs time")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "error_vs_time.png", dpi=90)
    plt.close(fig)
    files.append("error_vs_time.png")
    return files


def _meta(suite_name, argv) -> dict:
    import importlib.metadata as md

    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=Path(__file__).parent, timeout=10).stdout.strip() or None
    except Exception:
        commit = None
    versions = {}
    for pkg in ("pidjax", "jax", "jaxlib", "numpy", "scipy", "cvxpy", "clarabel", "ecos", "scs", "dit", "scikit-learn", "matplotlib"):
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            versions[pkg] = None
    return {
        "suite": suite_name,
        "command": "python -m benchmarks.run " + " ".join(argv),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "git_commit": commit,
        "machine": {
            "platform": platform.platform(),
            "machine": platform.machine(),
            "processor": _cpu_name(),
            "cpu_count": os.cpu_count(),
            "python": sys.version.split()[0],
        },
        "versions": versions,
    }


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def run(suite_name: str, out, truth_path=None, argv=(), verbose=True) -> dict:
    """Run a suite and write results.json, results.md and the plots into ``out``; returns the JSON."""
    from benchmarks.cases import load_cases

    log = print if verbose else (lambda *a, **k: None)
    suite = SUITES[suite_name]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cases = select_cases(suite, load_cases(truth_path))
    log(f"suite {suite_name}: {len(cases)} cases")
    refs = reference_solvers()
    acc, thr = [], []
    _, pidjax = _pidjax()
    methods = list(pidjax.METHODS) if "pidjax" in suite["solvers"] else []
    for method in methods:
        acc += accuracy_pidjax(method, cases, log)
        thr += throughput_pidjax(method, suite, cases, log)
    for name in suite["solvers"]:
        if name == "pidjax":
            continue
        rows = accuracy_reference(name, refs[name], cases, suite, log)
        acc += rows
        thr += throughput_reference(name, rows, suite)
    thr = _dedupe(thr)
    summary = summarize(acc)
    meta = _meta(suite_name, list(argv) or ["--suite", suite_name])
    files = plots(acc, thr, suite, out)
    md = markdown(summary, thr, meta)
    result = {**meta, "suite_settings": {k: v for k, v in suite.items()}, "summary": summary, "throughput": thr, "cases": acc, "plots": files}
    (out / "results.json").write_text(json.dumps(result, indent=1, default=str) + "\n")
    (out / "results.md").write_text(md)
    log(md)
    return result


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description="pidjax side-by-side benchmark")
    parser.add_argument("--suite", choices=tuple(SUITES), default="quick")
    parser.add_argument("--out", default=None, help="output folder (default benchmarks/results/local/<suite>-<time>)")
    parser.add_argument("--truth", default=None, help="ground-truth JSON (default benchmarks/data/ground_truth_v1.json)")
    args = parser.parse_args(argv)
    out = args.out or Path(__file__).parent / "results" / "local" / f"{args.suite}-{time.strftime('%Y%m%d-%H%M%S')}"
    run(args.suite, out, args.truth, argv)


if __name__ == "__main__":
    main()
