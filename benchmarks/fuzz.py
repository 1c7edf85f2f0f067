"""Fuzzing campaign for ``pidjax.decompose``: random and degenerate tables, batched, checked.

Run ``python -m benchmarks.fuzz --n 100000`` (add ``--dtype float32`` or ``float64`` for one
precision; the default splits ``n`` between both). Every table is drawn by one of the
:data:`FAMILIES` (dense and sparse Dirichlet, near-deterministic gates, a handful of cells,
one-hot slices, tiny masses down to 1e-300, mixed scales, small tables padded with unused
states and labels, independent variables, a single used state or label) at one of a few fixed
shapes (:data:`SHAPES`, including many-label ones), so compilation happens once per (shape,
dtype). Batches of :data:`CHUNK` tables go through ONE ``decompose`` call each.

What is counted (all must be zero except ``flagged``):

* ``nonfinite``: NaN or inf in any output field;
* ``unflagged``: ``converged`` True while ``bound > tol``;
* ``flagged``: ``converged`` False (allowed: shown in the result and warned);
* ``identity``: ``R + U1 != I(X1;Y)``, ``R + U2 != I(X2;Y)`` or the four terms not summing
  to ``I(X1,X2;Y)``, beyond :data:`IDENTITY_TOL` of the dtype;
* ``info``: a mutual information off an independent NumPy float64 computation by more than
  :data:`INFO_TOL` of the dtype;
* ``negative``: a term below ``-(bound + slack)``;
* ``reference``: on a subsample, a term off the CVXPY reference (ECOS, tight) by more than
  ``bound + |reference gap| + slack + 100 x its marginal violation`` (only where the reference
  certifies itself to 1e-6 bits and misses its marginals by at most 1e-8);
* ``f32_vs_f64``: for float32 tables, a term off the float64 decomposition of the same
  (float32-rounded) table by more than ``bound32 + bound64 +`` :data:`F32_TOL`.

Writes ``benchmarks/results/fuzz/fuzz_<dtype>_<n>.json`` and prints a summary table. Never
imported by the package.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
import warnings
from pathlib import Path

import numpy as np

TERMS = ("redundancy", "unique_1", "unique_2", "synergy")
INFO = ("mutual_info_1", "mutual_info_2", "mutual_info_joint")
FIELDS = TERMS + INFO + ("bound", "marginal_violation")

# shape -> share of the campaign; (2, 3, 24) and (3, 2, 48) are the many-label shapes
SHAPES = {
    (2, 2, 2): 0.20,
    (3, 3, 3): 0.25,
    (4, 4, 4): 0.30,
    (2, 3, 24): 0.07,
    (3, 2, 48): 0.03,
    (6, 5, 4): 0.10,
    (8, 8, 8): 0.05,
}
CHUNK = 2000  # tables per decompose call (tail chunks are padded to this size)
IDENTITY_TOL = {"float64": 1e-9, "float32": 2e-4}  # bits, |R + U1 - I1| etc.
INFO_TOL = {"float64": 1e-9, "float32": 2e-4}  # bits, mutual information vs NumPy float64
SLACK = {"float64": 1e-9, "float32": 2e-4}  # bits, rounding allowance on top of the bound
F32_TOL = 2e-4  # bits, stated float32-vs-float64 tolerance on top of both bounds
TINY = {"float64": -300.0, "float32": -44.0}  # log10 of the smallest mass drawn


# --------------------------------------------------------------------------- families


def _normalise(P):
    return P / P.sum(axis=(-3, -2, -1), keepdims=True)


def _dirichlet(rng, c, shape, alpha):
    size = int(np.prod(shape))
    g = rng.gamma(alpha, size=(c, size))
    g[g.sum(1) == 0, 0] = 1.0  # tiny alpha can underflow a whole row
    return _normalise(g.reshape(c, *shape))


def dense(rng, c, shape, dtype):
    """Dirichlet(1) over all cells."""
    return _dirichlet(rng, c, shape, 1.0)


def sparse(rng, c, shape, dtype):
    """Dirichlet with alpha 0.01-0.1: most mass on a few cells, many exact or near zeros."""
    return _dirichlet(rng, c, shape, rng.choice([0.01, 0.03, 0.1]))


def few_cells(rng, c, shape, dtype):
    """1 to 4 non-zero cells at random places."""
    size = int(np.prod(shape))
    P = np.zeros((c, size))
    for i in range(c):
        s = rng.integers(1, min(4, size) + 1)
        P[i, rng.choice(size, s, replace=False)] = rng.random(s) + 0.05
    return _normalise(P.reshape(c, *shape))


def near_deterministic(rng, c, shape, dtype):
    """Y a random function of (X1, X2), mixed with eps in 1e-12..1e-2 of Dirichlet noise."""
    m, n, k = shape
    gate = np.zeros((c, m, n, k))
    y = rng.integers(0, k, size=(c, m, n))
    np.put_along_axis(gate, y[..., None], 1.0, axis=-1)
    gate *= rng.dirichlet(np.ones(m * n), size=c).reshape(c, m, n, 1)
    eps = 10.0 ** rng.uniform(-12, -2, size=(c, 1, 1, 1))
    return _normalise((1 - eps) * gate + eps * _dirichlet(rng, c, shape, 1.0))


def one_hot_slices(rng, c, shape, dtype):
    """Dirichlet tables where random X1 rows and label slices put all their mass on one cell."""
    m, n, k = shape
    P = _dirichlet(rng, c, shape, 0.5)
    for i in range(c):
        for x1 in np.flatnonzero(rng.random(m) < 0.5):
            mass = P[i, x1].sum()
            P[i, x1] = 0.0
            P[i, x1, rng.integers(n), rng.integers(k)] = mass
        for y in np.flatnonzero(rng.random(k) < 0.3):
            mass = P[i, :, :, y].sum()
            P[i, :, :, y] = 0.0
            P[i, rng.integers(m), rng.integers(n), y] = mass
    return _normalise(P)


def tiny_masses(rng, c, shape, dtype):
    """Dirichlet tables where about a third of the cells are scaled down to 1e-300..1e-30."""
    P = _dirichlet(rng, c, shape, 1.0)
    lo = TINY[dtype]
    scale = np.where(rng.random(P.shape) < 0.35, 10.0 ** rng.uniform(lo, min(lo / 10, -6), P.shape), 1.0)
    return _normalise(P * scale)


def mixed_scales(rng, c, shape, dtype):
    """Every cell 10**u with u uniform down to -300 (float64) or -44 (float32)."""
    lo = TINY[dtype] * rng.random((c, 1, 1, 1))
    return _normalise(10.0 ** (lo * rng.random((c, *shape))))


def padded_small(rng, c, shape, dtype):
    """A random 2x2x2 or gate table placed among unused (all-zero) states and labels."""
    m, n, k = shape
    P = np.zeros((c, m, n, k))
    gates = [lambda a, b: a ^ b, lambda a, b: a & b, lambda a, b: a, lambda a, b: a | b]
    for i in range(c):
        sm, sn, sk = rng.integers(1, m + 1), rng.integers(1, n + 1), rng.integers(1, k + 1)
        small = rng.dirichlet(np.full(sm * sn * sk, 0.5)).reshape(sm, sn, sk)
        if sm >= 2 and sn >= 2 and sk >= 2 and rng.random() < 0.5:
            small = np.zeros((sm, sn, sk))
            g = gates[rng.integers(len(gates))]
            for a in range(2):
                for b in range(2):
                    small[a, b, g(a, b)] = 0.25
        P[i][np.ix_(rng.permutation(m)[:sm], rng.permutation(n)[:sn], rng.permutation(k)[:sk])] = small
    return _normalise(P)


def independent(rng, c, shape, dtype):
    """P(x1) P(x2) P(y) or P(x1, x2) P(y): no information about Y at all."""
    m, n, k = shape
    py = rng.dirichlet(np.ones(k), size=c)
    pair = rng.dirichlet(np.ones(m * n), size=c).reshape(c, m, n)
    prod = rng.dirichlet(np.ones(m), size=c)[:, :, None] * rng.dirichlet(np.ones(n), size=c)[:, None, :]
    pair = np.where(rng.random((c, 1, 1)) < 0.5, pair, prod)
    return _normalise(pair[..., None] * py[:, None, None, :])


def single_state(rng, c, shape, dtype):
    """Only one state of X1, of X2 or of Y is used (everything but one term is zero)."""
    P = _dirichlet(rng, c, shape, 0.5)
    axis = rng.integers(0, 3, size=c)
    for i in range(c):
        keep = rng.integers(P.shape[1 + axis[i]])
        idx = [slice(None)] * 3
        sel = np.ones(P.shape[1 + axis[i]], bool)
        sel[keep] = False
        idx[axis[i]] = sel
        P[i][tuple(idx)] = 0.0
    return _normalise(P)


FAMILIES = {
    "dense": dense,
    "sparse": sparse,
    "few_cells": few_cells,
    "near_deterministic": near_deterministic,
    "one_hot_slices": one_hot_slices,
    "tiny_masses": tiny_masses,
    "mixed_scales": mixed_scales,
    "padded_small": padded_small,
    "independent": independent,
    "single_state": single_state,
}


def draw(rng, count: int, shape, dtype: str):
    """``count`` tables of ``shape`` (float64, each summing to 1) and the family of each.

    Families are drawn in equal shares; returns ``(P (count, m, n, k), families (count,) str)``.
    """
    names = list(FAMILIES)
    which = rng.integers(0, len(names), size=count)
    P = np.empty((count, *shape))
    for f, name in enumerate(names):
        idx = np.flatnonzero(which == f)
        if len(idx):
            P[idx] = FAMILIES[name](rng, len(idx), shape, dtype)
    return P, np.array(names)[which]


# --------------------------------------------------------------------------- checks


def _mi_bits(pxy):
    """I(X;Y) in bits of tables ``(c, a, b)``, float64, exact zeros skipped."""
    pos = pxy > 0
    px = np.broadcast_to(pxy.sum(-1, keepdims=True), pxy.shape)
    py = np.broadcast_to(pxy.sum(-2, keepdims=True), pxy.shape)
    logs = [np.log2(np.where(pos, a, 1.0)) for a in (pxy, px, py)]  # separately: px * py may underflow
    return np.where(pos, pxy * (logs[0] - logs[1] - logs[2]), 0.0).sum((-2, -1))


def numpy_information(P):
    """``(I(X1;Y), I(X2;Y), I(X1,X2;Y))`` in bits of tables ``(c, m, n, k)``, NumPy float64."""
    c, m, n, k = P.shape
    return _mi_bits(P.sum(2)), _mi_bits(P.sum(1)), _mi_bits(P.reshape(c, m * n, k))


def decompose_chunks(P, dtype: str, chunk: int = CHUNK, **kw) -> dict:
    """Decompose ``P`` (c, m, n, k) in fixed-size calls; return NumPy fields plus ``converged``.

    The tail is padded to ``chunk`` with copies of its first table, so one shape compiles once.
    """
    import pidjax

    out = {f: [] for f in FIELDS + ("converged", "iterations")}
    size = min(chunk, len(P))
    for start in range(0, len(P), size):
        part = P[start : start + size]
        used = len(part)
        if used < size:
            part = np.concatenate([part, np.broadcast_to(part[:1], (size - used, *part.shape[1:]))])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # counted from the flags instead
            res = pidjax.decompose(part, dtype=dtype, **kw)
        for f in out:
            out[f].append(np.asarray(getattr(res, f))[:used])
    return {f: np.concatenate(v) for f, v in out.items()}


def check(P64, res: dict, dtype: str, tol: float) -> dict:
    """Boolean failure masks ``(c,)`` per check for a decomposition ``res`` of float64 tables ``P64``."""
    vals = np.stack([res[f] for f in FIELDS], -1).astype(np.float64)
    r, u1, u2, s, i1, i2, i12 = (vals[:, j] for j in range(7))
    bound = res["bound"].astype(np.float64)
    n1, n2, n12 = numpy_information(P64)
    slack = SLACK[dtype]
    ident = np.maximum.reduce([np.abs(r + u1 - i1), np.abs(r + u2 - i2), np.abs(r + u1 + u2 + s - i12)])
    info = np.maximum.reduce([np.abs(i1 - n1), np.abs(i2 - n2), np.abs(i12 - n12)])
    finite_bound = np.where(np.isfinite(bound), bound, 0.0)
    neg = np.min(np.stack([r, u1, u2, s]), 0) < -(finite_bound + slack)
    return {
        "nonfinite": ~np.isfinite(vals).all(-1),
        "unflagged": res["converged"] & ~(bound <= tol * (1 + 1e-6)),
        "flagged": ~res["converged"],
        "identity": ~(ident <= IDENTITY_TOL[dtype]),
        "info": ~(info <= INFO_TOL[dtype]),
        "negative": neg,
        "_identity_max": ident,
        "_info_max": info,
    }


def reference_check(P64, res: dict, dtype: str, idx) -> dict:
    """Compare the terms of tables ``idx`` with the CVXPY reference (ECOS, tight options).

    Returns counts: ``compared``, ``skipped`` (reference failed or not certified to 1e-6 bits),
    ``off`` (beyond ``bound + reference gap + slack``), and the largest excess seen.
    """
    from benchmarks.references._common import certified_gap_bits, marginal_violation, pid_from_q, rebalance
    from benchmarks.references.cvxpy_broja import solve_cvxpy

    compared = skipped = off = 0
    worst = -np.inf
    worst_case = None
    cases = []
    for i in idx:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ref = solve_cvxpy(P64[i], solver="ECOS")
        except Exception:  # the reference may fail on degenerate tables; not the kernel's fault
            skipped += 1
            continue
        if "redundancy" not in ref or "a" not in ref or ref.get("marginal_violation", 1.0) > 1e-8:
            skipped += 1
            continue
        # The solver's plan misses its marginals by up to 1e-8. Next to a cell of mass ~0 that
        # moves f(Q) by about 1e-8 * |log Q(y | x1, x2)|: 2.8e-6 bits on a 3x2x48 table with
        # masses of 1e-124, beyond the solver's own gap. The plan is put back onto the
        # marginals first, so that its terms and gap are certified.
        plan = rebalance(P64[i], ref["q"])
        violation = marginal_violation(P64[i], plan)
        gap = certified_gap_bits(P64[i], plan, ref["a"], ref["b"])
        ref = pid_from_q(P64[i], plan)
        if not (gap <= 1e-6):
            skipped += 1
            continue
        compared += 1
        allow = float(res["bound"][i]) + abs(gap) + SLACK[dtype] + 100 * violation
        excess = max(abs(float(res[t][i]) - ref[t]) for t in TERMS) - allow
        if excess > worst:
            worst, worst_case = excess, int(i)
        off += excess > 0
        if excess > 0 and len(cases) < 5:
            cases.append({"P": P64[i].tolist(), "excess_bits": float(excess), "bound": float(res["bound"][i]),
                          "reference_gap": float(gap), **{t: [float(res[t][i]), float(ref[t])] for t in TERMS}})
    return {"compared": compared, "skipped": skipped, "off": int(off), "worst_excess": float(worst) if compared else None,
            "worst_index": worst_case, "cases": cases}


def f32_vs_f64(P32: np.ndarray, res32: dict, res64: dict) -> dict:
    """Largest |float32 - float64| per term over tables, and how many exceed both bounds + :data:`F32_TOL`."""
    diff = np.max(np.stack([np.abs(res32[t].astype(np.float64) - res64[t]) for t in TERMS]), 0)
    allow = res32["bound"].astype(np.float64) + res64["bound"] + F32_TOL
    ok = res32["converged"] & res64["converged"]
    return {"max_diff": float(diff[ok].max()) if ok.any() else None, "exceed": ~(diff <= allow) & ok,
            "p99_diff": float(np.quantile(diff[ok], 0.99)) if ok.any() else None}


# --------------------------------------------------------------------------- campaign


def _plan(n: int, shapes=None) -> list[tuple[tuple, int]]:
    shares = SHAPES if shapes is None else {tuple(s): 1.0 for s in shapes}
    total = sum(shares.values())
    counts = [(s, int(round(n * w / total))) for s, w in shares.items()]
    counts[-1] = (counts[-1][0], max(0, n - sum(c for _, c in counts[:-1])))
    return [(s, c) for s, c in counts if c > 0]


def run_campaign(n: int, dtype: str = "float64", seed: int = 0, n_reference: int = 200, shapes=None,
                 chunk: int = CHUNK, compare_f64: bool = True, method: str = "newton", log=print) -> dict:
    """Draw ``n`` tables over :data:`SHAPES` and :data:`FAMILIES`, decompose and check them.

    Args:
      n: number of tables; dtype: "float32" or "float64"; seed: campaign seed.
      n_reference: tables compared with CVXPY (spread over shapes; 0 = none).
      shapes: override :data:`SHAPES` (equal shares); chunk: tables per ``decompose`` call.
      compare_f64: for float32, also decompose the float32-rounded tables in float64.
      method: the ``decompose`` solver under test.

    Returns:
      A JSON-ready summary: totals, per-family and per-shape counts, worst identity and
      information errors, the reference comparison, float32-vs-float64 differences, timings,
      and up to 5 examples (shape, family, index) of every failure kind.
    """
    from pidjax.decomposition import default_tol

    tol = default_tol(dtype)
    rng = np.random.default_rng(seed)
    kinds = ("nonfinite", "unflagged", "flagged", "identity", "info", "negative", "f32_vs_f64")
    totals = {k: 0 for k in kinds}
    per_family: dict[str, dict] = {}
    per_shape: dict[str, dict] = {}
    examples: dict[str, list] = {k: [] for k in kinds}
    ref_totals = {"compared": 0, "skipped": 0, "off": 0, "worst_excess": None, "cases": []}
    worst = {"identity": 0.0, "info": 0.0, "f32_vs_f64": 0.0, "f32_vs_f64_p99": 0.0, "bound": 0.0}
    iters = []
    t_start = time.perf_counter()
    plan = _plan(n, shapes)
    ref_left = n_reference
    for si, (shape, count) in enumerate(plan):
        t0 = time.perf_counter()
        P, fams = draw(rng, count, shape, dtype)
        if dtype == "float32":  # what float32 can hold: tiny masses round to 0 or subnormals
            P = P.astype(np.float32).astype(np.float64)
            P = P / P.sum(axis=(-3, -2, -1), keepdims=True)
        res = decompose_chunks(P, dtype, chunk, method=method)
        fails = check(P, res, dtype, tol)
        if dtype == "float32" and compare_f64:
            res64 = decompose_chunks(P, "float64", chunk, method=method)
            cmp = f32_vs_f64(P, res, res64)
            fails["f32_vs_f64"] = cmp["exceed"]
            if cmp["max_diff"] is not None:
                worst["f32_vs_f64"] = max(worst["f32_vs_f64"], cmp["max_diff"])
                worst["f32_vs_f64_p99"] = max(worst["f32_vs_f64_p99"], cmp["p99_diff"])
        else:
            fails["f32_vs_f64"] = np.zeros(count, bool)
        worst["identity"] = max(worst["identity"], float(np.nanmax(fails.pop("_identity_max"))))
        worst["info"] = max(worst["info"], float(np.nanmax(fails.pop("_info_max"))))
        ok_bound = res["bound"][np.isfinite(res["bound"])]
        worst["bound"] = max(worst["bound"], float(ok_bound.max()) if ok_bound.size else 0.0)
        iters.append(res["iterations"])
        key = "x".join(map(str, shape))
        per_shape[key] = {"tables": count, **{k: int(fails[k].sum()) for k in kinds}}
        for fam in np.unique(fams):
            sel = fams == fam
            row = per_family.setdefault(str(fam), {"tables": 0, **{k: 0 for k in kinds}})
            row["tables"] += int(sel.sum())
            for k in kinds:
                row[k] += int(fails[k][sel].sum())
        for k in kinds:
            totals[k] += int(fails[k].sum())
            for i in np.flatnonzero(fails[k])[: 5 - len(examples[k])]:
                examples[k].append({"shape": list(shape), "family": str(fams[i]), "seed": seed, "shape_index": si,
                                    "table_index": int(i), "bound": float(res["bound"][i]),
                                    "converged": bool(res["converged"][i]), "P": P[i].tolist(),
                                    **{t: float(res[t][i]) for t in TERMS}})
        take = min(ref_left, max(0, int(round(n_reference / len(plan)))) if si < len(plan) - 1 else ref_left)
        if take:
            ref_idx = rng.choice(count, size=min(take, count), replace=False)
            ref = reference_check(P, res, dtype, ref_idx)
            ref_left -= len(ref_idx)
            for k in ("compared", "skipped", "off"):
                ref_totals[k] += ref[k]
            ref_totals["cases"] += [{"shape": list(shape), **c} for c in ref["cases"]][: 5 - len(ref_totals["cases"])]
            if ref["worst_excess"] is not None:
                prev = ref_totals["worst_excess"]
                ref_totals["worst_excess"] = ref["worst_excess"] if prev is None else max(prev, ref["worst_excess"])
        per_shape[key]["seconds"] = round(time.perf_counter() - t0, 2)
        log(f"  {dtype} {key:>8}: {count:6d} tables in {per_shape[key]['seconds']:7.1f} s  "
            + " ".join(f"{k}={per_shape[key][k]}" for k in kinds))
    it = np.concatenate(iters) if iters else np.zeros(0)
    return {
        "dtype": dtype,
        "method": method,
        "tables": int(n),
        "seed": seed,
        "tol_bits": tol,
        "tolerances_bits": {"identity": IDENTITY_TOL[dtype], "info": INFO_TOL[dtype], "slack": SLACK[dtype],
                            "f32_vs_f64": F32_TOL},
        "failures": totals,
        "worst": worst,
        "iterations": {"median": float(np.median(it)) if it.size else None, "max": int(it.max()) if it.size else None},
        "reference": ref_totals,
        "per_family": per_family,
        "per_shape": per_shape,
        "examples": {k: v for k, v in examples.items() if v},
        "seconds": round(time.perf_counter() - t_start, 1),
    }


def summary_table(reports: list[dict]) -> str:
    """A plain-text table of the campaign's counts, one row per dtype."""
    kinds = ("nonfinite", "unflagged", "flagged", "identity", "info", "negative", "f32_vs_f64")
    head = f"{'dtype':<8} {'tables':>8} " + " ".join(f"{k:>10}" for k in kinds) + f" {'ref ok/cmp':>11} {'secs':>7}"
    lines = [head, "-" * len(head)]
    for r in reports:
        ref = r["reference"]
        lines.append(f"{r['dtype']:<8} {r['tables']:>8} " + " ".join(f"{r['failures'][k]:>10}" for k in kinds)
                     + f" {ref['compared'] - ref['off']:>5}/{ref['compared']:<5} {r['seconds']:>7}")
    for r in reports:
        w = r["worst"]
        lines.append(f"{r['dtype']}: worst |identity| {w['identity']:.2e} bits, worst |I - numpy| {w['info']:.2e} bits, "
                     f"largest bound {w['bound']:.2e} bits, reference worst excess {r['reference']['worst_excess']}, "
                     f"iterations median {r['iterations']['median']} max {r['iterations']['max']}"
                     + (f", f32-f64 max {w['f32_vs_f64']:.2e} p99 {w['f32_vs_f64_p99']:.2e} bits" if r["dtype"] == "float32" else ""))
    return "\n".join(lines)


def main(argv=None) -> int:
    """Command line: ``python -m benchmarks.fuzz --n 100000 [--dtype float32|float64|both]``."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000, help="tables in all (split over dtypes with --dtype both)")
    ap.add_argument("--dtype", default="both", choices=("float32", "float64", "both"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--method", default="newton", help="decompose solver")
    ap.add_argument("--reference", type=int, default=200, help="tables compared with CVXPY per dtype")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "fuzz"))
    args = ap.parse_args(argv)
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    import jax

    jax.config.update("jax_enable_x64", True)
    dtypes = ["float64", "float32"] if args.dtype == "both" else [args.dtype]
    reports = []
    for i, dt in enumerate(dtypes):
        n = args.n // len(dtypes) + (args.n % len(dtypes) if i == 0 else 0)
        print(f"fuzz: {n} tables in {dt} (seed {args.seed + i})", flush=True)
        reports.append(run_campaign(n, dt, args.seed + i, args.reference, method=args.method,
                                    log=lambda s: print(s, flush=True)))
    table = summary_table(reports)
    print(table)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tag = "" if args.method == "newton" else f"_{args.method}"
    path = out / f"fuzz{tag}_{args.dtype}_{args.n}.json"
    meta = {"command": f"python -m benchmarks.fuzz --n {args.n} --dtype {args.dtype} --seed {args.seed} --method {args.method}",
            "jax": jax.__version__, "platform": platform.platform(), "device": str(jax.devices()[0])}
    path.write_text(json.dumps({"meta": meta, "reports": reports, "summary": table}, indent=1))
    print(f"wrote {path}")
    bad = sum(r["failures"][k] for r in reports for k in ("nonfinite", "unflagged", "identity", "info", "negative", "f32_vs_f64"))
    bad += sum(r["reference"]["off"] for r in reports)
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
