"""Build (``python -m benchmarks.ground_truth``) and load the certified ground-truth file.

For every case in :func:`benchmarks.cases.build_cases`: solve with CVXPY (ECOS and Clarabel,
tight), optionally polish with a long float64 pidjax run, rebalance each candidate plan onto
the exact marginals, and certify with weak duality using this module's own NumPy arithmetic
(the best primal plan against the best of the solvers' duals and a least-squares dual fit of
each plan). A case is ``accepted`` where that gap is at most 1e-9 bits; the error bars of the
suite are only as good as this gap.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from benchmarks.references._common import (
    LN2,
    cond_neg_entropy,
    dual_lower_bound,
    duals_from_plan,
    pid_from_q,
    rebalance,
)

VERSION = 1
ACCEPT_GAP_BITS = 1e-9
DEFAULT_PATH = Path(__file__).parent / "data" / f"ground_truth_v{VERSION}.json"
TERMS = ("redundancy", "unique_1", "unique_2", "synergy")


def _pidjax_plan(P):
    """A long float64 pidjax run's plan (m, n, k), or None when the kernel is unavailable."""
    try:
        import jax

        jax.config.update("jax_enable_x64", True)
        import pidjax
    except Exception:
        return None, None
    method = pidjax.METHODS[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = pidjax.decompose(P, tol=1e-11, max_iters=1_000, method=method, return_q=True)
    return np.asarray(res.q, dtype=np.float64), f"pidjax-{method}"


def certify(P, use_pidjax: bool = True) -> dict:
    """Certified PID of one table ``(m, n, k)``: values (bits), ``gap_bits``, ``accepted``, sources."""
    from benchmarks.references.cvxpy_broja import solve_cvxpy

    plans, duals, statuses = [], [], {}
    for solver in ("ECOS", "CLARABEL"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = solve_cvxpy(P, solver=solver)
        statuses[solver] = res["status"]
        if "q" in res:
            plans.append((solver, rebalance(P, res["q"])))
            if "a" in res:
                duals.append((solver, res["a"], res["b"]))
    if use_pidjax:
        q, label = _pidjax_plan(P)
        if q is not None:
            finite = bool(np.all(np.isfinite(q)))
            statuses[label] = "ok" if finite else "non-finite plan (not used)"
            if finite:
                plans.append((label, rebalance(P, q)))
    for label, Q in plans:
        duals.append((f"lsq({label})", *duals_from_plan(P, Q)))
    if not plans:
        return {"accepted": False, "gap_bits": None, "statuses": statuses}
    f_vals = [cond_neg_entropy(Q) for _, Q in plans]
    g_vals = [dual_lower_bound(P, a, b) for _, a, b in duals]
    f_vals = [v if np.isfinite(v) else np.inf for v in f_vals]
    g_vals = [v if np.isfinite(v) else -np.inf for v in g_vals]
    ib, jb = int(np.argmin(f_vals)), int(np.argmax(g_vals))
    gap = max((f_vals[ib] - g_vals[jb]) / LN2, 0.0)
    out = {t: v for t, v in pid_from_q(P, plans[ib][1]).items()}
    out.update(
        gap_bits=gap,
        accepted=bool(gap <= ACCEPT_GAP_BITS),
        primal_from=plans[ib][0],
        dual_from=duals[jb][0],
        statuses=statuses,
    )
    return out


def _versions() -> dict:
    import importlib.metadata as md

    out = {"python": sys.version.split()[0], "platform": platform.platform()}
    for pkg in ("numpy", "scipy", "cvxpy", "clarabel", "ecos", "dit", "scikit-learn", "jax"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = None
    return out


def build(path=DEFAULT_PATH, use_pidjax: bool = True, verbose: bool = True, only=None) -> dict:
    """Regenerate every case (or, with ``only``, just those names, keeping the other stored
    records) and its certified truth; write the JSON file and return it."""
    from benchmarks.cases import build_cases, encode_table

    records = []
    kept = {}
    if only:
        kept = {r["name"]: r for r in load(path)["cases"]}
    t0 = time.time()
    for case in build_cases():
        if only and case["name"] not in only:
            records.append(kept[case["name"]])
            continue
        t = time.time()
        rec = certify(case["P"], use_pidjax=use_pidjax)
        rec.update(name=case["name"], family=case["family"], shape=list(case["P"].shape), table=encode_table(case["P"]))
        records.append(rec)
        if verbose:
            print(
                f"{case['name']:<34} gap={rec['gap_bits']:.2e} bits accepted={rec['accepted']} "
                f"({rec.get('primal_from')}/{rec.get('dual_from')}) {time.time() - t:.1f}s",
                flush=True,
            )
    data = {
        "version": VERSION,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": "python -m benchmarks.ground_truth",
        "accept_gap_bits": ACCEPT_GAP_BITS,
        "units": "bits",
        "packages": _versions(),
        "cases": records,
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n")
    if verbose:
        n_ok = sum(r["accepted"] for r in records)
        print(f"wrote {path}: {n_ok}/{len(records)} cases accepted in {time.time() - t0:.0f}s")
    return data


def load(path=None) -> dict:
    """The stored ground-truth file as a dict (``cases``: list of records with ``table``)."""
    path = Path(path) if path is not None else DEFAULT_PATH
    if not path.exists():
        raise FileNotFoundError(f"no ground-truth file at {path}; build it with `python -m benchmarks.ground_truth`")
    return json.loads(path.read_text())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(DEFAULT_PATH))
    parser.add_argument("--no-pidjax", action="store_true", help="certify from CVXPY alone")
    parser.add_argument("--only", nargs="*", help="recompute only these case names, keep the rest")
    args = parser.parse_args(argv)
    build(args.out, use_pidjax=not args.no_pidjax, only=args.only)


if __name__ == "__main__":
    main()
