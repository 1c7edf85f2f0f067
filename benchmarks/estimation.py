"""The estimation study: bias, RMSE and interval coverage of the sweep's estimates on known truth.

    python -m benchmarks.estimation [--quick | --smoke] [--seeds S] [--out DIR]

Studies (each prints a table; everything goes to ``DIR/results.json`` (``results.partial.json``
holds the studies finished so far while it runs), the tables and a
defaults check to ``DIR/results.md``, bias against N to ``DIR/bias_vs_n.png``):

1. **corrections**: the four ``bias=`` settings on tables sampled from known joint
   distributions (the latent states of ``pidjax.synthetic``; pure-noise labels), one
   decomposition per (case, seed) serving all four corrections;
2. **discretisation**: ``layer_sweep`` on continuous latents with nuisance coordinates
   (``pidjax.synthetic.make_continuous``), one factor at a time around the defaults;
3. **coverage**: 95 % bootstrap intervals of the corrected terms, three interval kinds, and
   what refitting the discretisation inside each resample changes;
4. **guidance**: the smallest N (and examples per cell) at which every term's bias is within
   0.05 / 0.1 bits, for several state and label counts, on sampled known tables.

Not a timed test: ``tests/test_benchmarks_estimation.py`` runs ``--smoke``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings
from pathlib import Path

import numpy as np

TERMS = ("redundancy", "unique_1", "unique_2", "synergy")
ALL = TERMS + ("mutual_info_1", "mutual_info_2", "mutual_info_joint")
SYM = {"redundancy": "R", "unique_1": "U1", "unique_2": "U2", "synergy": "S"}
BIASES = ("shuffle-extrapolation", "extrapolation", "shuffle", "none")
GRIDS = {
    "smoke": {"seeds": 2, "n": (400,), "boot": 8, "guide_states": (2,), "guide_labels": (2,), "guide_n": (400,),
              "disc_n": 600, "refit_seeds": 1, "refit_resamples": 3, "disc_data": 1, "disc_variants": 2, "cov_cases": ("mixed 4x4x4",)},
    "quick": {"seeds": 4, "n": (500, 2000), "boot": 30, "guide_states": (2, 4), "guide_labels": (2, 10),
              "guide_n": (500, 2000, 5000), "disc_n": 2000, "refit_seeds": 2, "refit_resamples": 8},
    "full": {"seeds": 10, "n": (200, 500, 2000, 5000, 20000), "boot": 50, "guide_states": (2, 4, 8, 16),
             "guide_labels": (2, 10), "guide_n": (200, 500, 2000, 5000, 20000), "disc_n": 5000,
             "refit_seeds": 6, "refit_resamples": 15},
}


# --------------------------------------------------------------------------- known tables


def _truth(P) -> dict:
    import pidjax

    r = pidjax.decompose(np.asarray(P, np.float64))
    return {t: float(getattr(r, t)) for t in ALL}


def _sample(P, n: int, rng) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` examples ``(x1, x2, y)`` drawn from the joint table ``P``."""
    m, nn, k = P.shape
    flat = rng.choice(P.size, size=n, p=np.asarray(P, np.float64).reshape(-1))
    x1, rest = np.divmod(flat, nn * k)
    x2, y = np.divmod(rest, k)
    return x1, x2, y


def _latent_table(family: str) -> np.ndarray:
    """The exact joint table of a ``pidjax.synthetic`` family's latent states."""
    from pidjax.synthetic import make_synthetic

    d = make_synthetic(family, 4096, seed=0)
    import pidjax

    return np.asarray(pidjax.joint_distribution(d.states_1, d.states_2, d.labels, sizes=d.sizes))


def _noise_table(m: int, n: int, k: int) -> np.ndarray:
    return np.full((m, n, k), 1.0 / (m * n * k))


def _mixed_table(states: int, labels: int, seed: int = 0) -> np.ndarray:
    """A table with all four atoms: half the mass a random function y = f(x1, x2), half y = g(x1) noise."""
    rng = np.random.default_rng(seed)
    f = rng.integers(0, labels, (states, states))
    g = rng.integers(0, labels, states)
    P = np.zeros((states, states, labels))
    for a in range(states):
        for b in range(states):
            P[a, b, f[a, b]] += 0.5
            P[a, b, g[a]] += 0.3
            P[a, b, :] += 0.2 / labels
    return P / P.sum()


def _all_corrections(c1, c2, y, *, n_bootstrap: int, seed: int, n_permutations: int = 100) -> dict:
    """Plug-in rows of one (layer) table, corrected by every ``bias`` setting from ONE decomposition."""
    import pidjax
    from pidjax.analysis.estimation import correct, p_values, plan_rows

    m, nn, k = int(c1.max()) + 1, int(c2.max()) + 1, int(y.max()) + 1
    plan, _ = plan_rows(y[None], n_bootstrap=n_bootstrap, n_permutations=n_permutations,
                        bias="shuffle-extrapolation", seed=seed)
    shape = plan.weights.shape
    P = pidjax.joint_distribution(np.broadcast_to(c1, shape), np.broadcast_to(c2, shape), plan.labels,
                                  weights=plan.weights, sizes=(m, nn, k))
    r = pidjax.decompose(P)
    plugin = {t: np.asarray(getattr(r, t))[0] for t in ALL}
    out = {}
    for bias in BIASES:  # each reads only the rows it needs
        out[bias] = correct(plugin, plan, bias)
    bound = np.asarray(r.bound)[0]
    pv = p_values(plugin, plan, 2.0 * np.where(np.isfinite(bound), bound, 0).max())
    return {"corrected": out, "p": pv, "entropy": _label_entropy(y)}


def _label_entropy(y) -> float:
    """``H(Y)`` in bits of integer labels ``y``, the upper end of every interval."""
    from pidjax.info import entropy

    return float(entropy(np.bincount(y) / y.size))


def study_corrections(grid, seeds: int) -> list[dict]:
    """Bias and RMSE of every correction on tables sampled from known joint distributions."""
    cases = [("noise 10x10x10", _noise_table(10, 10, 10), (450, 2000))]
    for fam in ("redundant", "synergy", "mixture"):
        cases.append((f"latent {fam}", _latent_table(fam), grid["n"]))
    cases.append(("mixed 4x4x4", _mixed_table(4, 4), grid["n"]))
    rows = []
    for name, P, ns in cases:
        truth = _truth(P)
        for n in ns:
            est = {b: {t: [] for t in ALL} for b in BIASES}
            sig = {t: [] for t in ALL}
            for s in range(seeds):
                rng = np.random.default_rng([s, n])
                x1, x2, y = _sample(P, n, rng)
                if len(np.unique(y)) < 2:
                    continue
                got = _all_corrections(x1, x2, np.unique(y, return_inverse=True)[1], n_bootstrap=0, seed=s)
                for b in BIASES:
                    for t in ALL:
                        est[b][t].append(float(got["corrected"][b][0][t]))
                for t in ALL:
                    sig[t].append(float(got["p"][t]) < 0.05)
            for b in BIASES:
                row = {"case": name, "n": n, "bias": b, "seeds": len(est[b]["synergy"])}
                for t in ALL:
                    e = np.array(est[b][t]) - truth[t]
                    row[f"{t}_bias"], row[f"{t}_rmse"] = float(e.mean()), float(np.sqrt((e ** 2).mean()))
                    row[f"{t}_truth"] = truth[t]
                    if name.startswith("noise"):
                        row[f"{t}_reject_5pc"] = float(np.mean(sig[t]))
                rows.append(row)
            print(f"  {name:<16} N={n:<6} " + "  ".join(
                f"{b[:12]:>12}: S {rows[-4 + i]['synergy_bias']:+.3f}" for i, b in enumerate(BIASES)), flush=True)
    return rows


# --------------------------------------------------------------------------- continuous latents


def _sweep(d, *, seed, **kw):
    from pidjax.analysis import layer_sweep

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kw.setdefault("check_discretization", False)
        return layer_sweep({"l": (d.embeddings_1, d.embeddings_2)}, d.labels, seed=seed, **kw)


def study_discretisation(grid, seeds: int) -> list[dict]:
    """Bias per term of layer_sweep on continuous latents, one discretisation factor at a time."""
    from pidjax.synthetic import make_continuous

    n = grid["disc_n"]
    base = {"scaling": "center", "n_components": 32, "discretizer": "kmeans", "n_states": "auto"}
    variants = [("defaults", {})]
    variants += [(f"scaling={v}", {"scaling": v}) for v in ("standardize", "whiten")]
    variants += [(f"n_components={v}", {"n_components": v}) for v in (4, 16)]
    variants += [("discretizer=quantile", {"discretizer": "quantile"})]
    variants += [(f"n_states={v}", {"n_states": v}) for v in (2, 4, 8, 16, 32) if v * v * 2 <= n]
    data = [("xor, nuisance 0.5", dict(family="xor", nuisance_scale=0.5), variants)]
    others = variants[:4] if grid is GRIDS["full"] else variants[:2]
    data += [
        ("xor, nuisance 2.0", dict(family="xor", nuisance_scale=2.0), others),
        ("xor, anisotropic, rotated", dict(family="xor", nuisance_scale=0.5, anisotropic=True, rotate=True), others),
        ("redundant c=4", dict(family="redundant", n_classes=4, nuisance_scale=0.5), others),
        ("unique_1 c=10", dict(family="unique_1", n_classes=10, nuisance_scale=0.5), others),
        ("sum_mod c=4", dict(family="sum_mod", n_classes=4, nuisance_scale=0.5), others),
        ("smooth", dict(family="smooth", nuisance_scale=0.5), others),
    ]
    data = [(name, gen, vs[:grid.get("disc_variants", len(vs))]) for name, gen, vs in data[:grid.get("disc_data", len(data))]]
    rows = []
    for name, gen, vs in data:
        for label, change in vs:
            settings = {**base, **change}
            vals = {t: [] for t in TERMS}
            for s in range(seeds):
                d = make_continuous(n_samples=n, seed=s, **gen)
                t = _sweep(d, seed=s, n_permutations=20, **settings)
                for term in TERMS:
                    vals[term].append(float(t[term][0]) - d.truth[term])
            row = {"data": name, "setting": label, "n": n, "seeds": seeds, **{k: str(v) for k, v in settings.items()}}
            for term in TERMS:
                row[f"{term}_bias"] = float(np.mean(vals[term]))
                row[f"{term}_truth"] = float(d.truth[term])
            rows.append(row)
            print(f"  {name:<26} {label:<22} " + " ".join(f"{SYM[x]} {row[f'{x}_bias']:+.3f}" for x in TERMS), flush=True)
    return rows


# --------------------------------------------------------------------------- coverage


def study_coverage(grid, seeds: int) -> list[dict]:
    """Share of seeds whose 95 % interval of each corrected term contains the truth."""
    from pidjax.analysis.estimation import corrected_interval

    cases = [("latent mixture", _latent_table("mixture")), ("mixed 4x4x4", _mixed_table(4, 4)),
             ("noise 10x10x10", _noise_table(10, 10, 10))]
    cases = [c for c in cases if c[0] in grid.get("cov_cases", (c[0],))]
    rows = []
    for name, P in cases:
        truth = _truth(P)
        for n in ((2000, 5000) if grid is GRIDS["full"] else grid["n"][-1:]):
            hits = {m: {t: [] for t in TERMS} for m in ("centered", "percentile", "basic")}
            for s in range(max(seeds, 20) if grid is GRIDS["full"] else seeds):
                x1, x2, y = _sample(P, n, np.random.default_rng([s, n, 7]))
                got = _all_corrections(x1, x2, np.unique(y, return_inverse=True)[1], n_bootstrap=grid["boot"], seed=s)
                est, rep = got["corrected"]["shuffle-extrapolation"]
                for method in hits:
                    for t in TERMS:
                        lo, hi = corrected_interval(est[t], rep[t], got["entropy"], 0.95, method)
                        hits[method][t].append(bool(lo - 1e-9 <= truth[t] <= hi + 1e-9))
            for method, h in hits.items():
                row = {"case": name, "n": n, "interval": method, "seeds": len(h["synergy"]), "bootstrap": grid["boot"]}
                row.update({f"{t}_coverage": float(np.mean(h[t])) for t in TERMS})
                rows.append(row)
                print(f"  {name:<16} N={n:<6} {method:<11} " + " ".join(f"{SYM[t]} {row[f'{t}_coverage']:.2f}" for t in TERMS),
                      flush=True)
    rows += _refit_coverage(grid)
    return rows


def _refit_coverage(grid) -> list[dict]:
    """Coverage of a fixed discretisation against one refitted inside every bootstrap resample."""
    from pidjax.analysis.estimation import corrected_interval
    from pidjax.synthetic import make_continuous

    n, seeds, B = min(grid["disc_n"], 2000), grid["refit_seeds"], grid["refit_resamples"]
    fixed, refit = {t: [] for t in TERMS}, {t: [] for t in TERMS}
    width = {"fixed": {t: [] for t in TERMS}, "refit": {t: [] for t in TERMS}}
    for s in range(seeds):
        d = make_continuous("xor", n, dim_nuisance=8, nuisance_scale=0.5, seed=100 + s)
        full = _sweep(d, seed=s, n_states=2, n_permutations=20, n_bootstrap=B)
        rng = np.random.default_rng(s)
        resampled = {t: [] for t in TERMS}
        for _ in range(B):
            idx = rng.integers(0, n, n)
            r = d._replace(embeddings_1=d.embeddings_1[idx], embeddings_2=d.embeddings_2[idx], labels=d.labels[idx])
            t = _sweep(r, seed=s, n_states=2, n_permutations=20)
            for term in TERMS:
                resampled[term].append(float(t[term][0]))
        for term in TERMS:
            # the same interval kind and feasible range as the sweep's own (fixed) interval
            lo, hi = (float(x) for x in corrected_interval(full[term][0], resampled[term], _label_entropy(d.labels)))
            refit[term].append(bool(lo - 1e-9 <= d.truth[term] <= hi + 1e-9))
            fixed[term].append(bool(full[f"{term}_lo"][0] - 1e-9 <= d.truth[term] <= full[f"{term}_hi"][0] + 1e-9))
            width["refit"][term].append(hi - lo)
            width["fixed"][term].append(float(full[f"{term}_hi"][0] - full[f"{term}_lo"][0]))
    rows = []
    for label, key, h in (("fixed discretisation", "fixed", fixed), ("refitted per resample", "refit", refit)):
        row = {"case": "continuous xor, 8 nuisance 0.5, 2 states", "n": n, "interval": label, "seeds": seeds,
               "bootstrap": B, **{f"{t}_coverage": float(np.mean(h[t])) for t in TERMS},
               **{f"{t}_width": float(np.mean(width[key][t])) for t in TERMS}}
        rows.append(row)
        print(f"  refit study {label:<22} " + " ".join(f"{SYM[t]} {row[f'{t}_coverage']:.2f} (width {row[f'{t}_width']:.3f})"
                                                        for t in TERMS), flush=True)
    return rows


# --------------------------------------------------------------------------- guidance


def study_guidance(grid, seeds: int) -> list[dict]:
    """Smallest N with every term's |bias| within 0.05 and 0.1 bits, at the default correction."""
    rows = []
    for states in grid["guide_states"]:
        for labels in grid["guide_labels"]:
            P = _mixed_table(states, labels, seed=states * 100 + labels)
            truth = _truth(P)
            worst = {}
            for n in grid["guide_n"]:
                errs = {t: [] for t in TERMS}
                for s in range(max(seeds // 2, 2)):
                    x1, x2, y = _sample(P, n, np.random.default_rng([s, n, states, labels]))
                    got = _all_corrections(x1, x2, y, n_bootstrap=0, seed=s)
                    for t in TERMS:
                        errs[t].append(float(got["corrected"]["shuffle-extrapolation"][0][t]) - truth[t])
                worst[n] = max(abs(np.mean(errs[t])) for t in TERMS)
            cells = states * states * labels
            row = {"states": states, "labels": labels, "cells": cells, "worst_bias_by_n": {str(k): v for k, v in worst.items()}}
            for tol in (0.05, 0.1):
                ok = [n for n in grid["guide_n"] if worst[n] <= tol]
                row[f"n_for_{tol}"] = min(ok) if ok else None
                row[f"per_cell_for_{tol}"] = (min(ok) / cells) if ok else None
            rows.append(row)
            print(f"  {states}x{states} states, {labels} labels: worst |bias| " +
                  " ".join(f"N={n}: {w:.3f}" for n, w in worst.items()), flush=True)
    return rows


# --------------------------------------------------------------------------- output


def _plot(rows: list[dict], path: Path):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(13, 3.4), dpi=100, layout="constrained")
    axes = fig.subplots(1, 4, sharey=True)
    case = "latent mixture"
    styles = {"shuffle-extrapolation": "-", "extrapolation": "--", "shuffle": "-.", "none": ":"}
    for ax, term in zip(axes, TERMS):
        for bias, ls in styles.items():
            sel = [r for r in rows if r["case"] == case and r["bias"] == bias]
            if sel:
                ax.plot([r["n"] for r in sel], [r[f"{term}_bias"] for r in sel], ls=ls, marker="o", ms=3, label=bias)
        sel = [r for r in rows if r["case"] == "mixed 4x4x4" and r["bias"] == "shuffle-extrapolation"]
        if sel:
            ax.plot([r["n"] for r in sel], [r[f"{term}_bias"] for r in sel], color="k", lw=1, marker="s", ms=3,
                    label="shuffle-extrapolation (mixed 4x4x4)")
        ax.axhline(0, color="0.5", lw=0.8)
        ax.set_xscale("log")
        ax.set_title(f"{SYM[term]}: bias ({case}, 8x8x16)")
        ax.set_xlabel("N")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("estimate - truth, bits")
    axes[-1].legend(fontsize=7)
    fig.savefig(path)


def _md_table(rows, cols, header) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        out.append("| " + " | ".join(c(r) if callable(c) else str(r[c]) for c in cols) + " |")
    return out


def _defaults_check(corr, disc, cov) -> list[str]:
    lines = []

    def pick(case, n, bias="shuffle-extrapolation"):
        return next((r for r in corr if r["case"] == case and r["n"] == n and r["bias"] == bias), None)

    for n, tol in ((450, 0.1), (2000, 0.03)):
        r = pick("noise 10x10x10", n)
        if r:
            worst = max(abs(r[f"{t}_bias"]) for t in ALL)
            rej = max(r[f"{t}_reject_5pc"] for t in TERMS)
            lines.append(f"{'PASS' if worst <= tol else 'FAIL'} pure noise N={n}, 10x10x10: worst mean corrected "
                         f"term {worst:.3f} bits (target ±{tol}); largest per-term rejection rate at 5 %: {rej:.2f}")
    known = [r for r in corr if r["bias"] == "shuffle-extrapolation" and r["n"] >= 2000 and not r["case"].startswith("noise")]
    if known:
        worst = max(known, key=lambda r: max(abs(r[f"{t}_bias"]) for t in TERMS))
        w = max(abs(worst[f"{t}_bias"]) for t in TERMS)
        lines.append(f"{'PASS' if w <= 0.05 else 'FAIL'} known-truth tables, N >= 2000, defaults: worst |bias| {w:.3f} "
                     f"bits ({worst['case']}, N={worst['n']}; target 0.05)")
    cen = [r for r in cov if r["interval"] == "centered"]
    if cen:
        low = min(cen, key=lambda r: min(r[f"{t}_coverage"] for t in TERMS))
        c = min(low[f"{t}_coverage"] for t in TERMS)
        lines.append(f"{'PASS' if c >= 0.9 else 'FAIL'} 95 % centered intervals: lowest coverage {c:.2f} "
                     f"({low['case']}, N={low['n']}, {low['seeds']} seeds; target 0.90)")
    xor = next((r for r in disc if r["data"] == "xor, nuisance 0.5" and r["setting"] == "defaults"), None)
    if xor:
        s = xor["synergy_truth"] + xor["synergy_bias"]
        lines.append(f"{'PASS' if s >= 0.8 else 'FAIL'} continuous XOR among 15 lower-variance nuisance coordinates, "
                     f"N={xor['n']}, defaults: S = {s:.3f} bits (target >= 0.8)")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.estimation", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a reduced grid (a few minutes)")
    parser.add_argument("--smoke", action="store_true", help="the smallest grid (seconds; for the test suite)")
    parser.add_argument("--seeds", type=int, default=None, help="seeds per cell (default: by grid)")
    parser.add_argument("--out", default=None, help="output folder (default benchmarks/results/estimation)")
    args = parser.parse_args(argv)
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    import jax

    jax.config.update("jax_enable_x64", True)
    name = "smoke" if args.smoke else "quick" if args.quick else "full"
    grid = GRIDS[name]
    seeds = args.seeds or grid["seeds"]
    out = Path(args.out) if args.out else Path(__file__).resolve().parent / "results" / "estimation"
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    results, times = {"grid": name, "seeds": seeds}, {}
    for key, fn, s in (("corrections", study_corrections, seeds), ("discretisation", study_discretisation, max(seeds // 5, 1)),
                       ("coverage", study_coverage, seeds), ("guidance", study_guidance, seeds)):
        print(f"{key}:", flush=True)
        t = time.perf_counter()
        results[key] = fn(grid, s)
        times[key] = round(time.perf_counter() - t, 1)
        (out / "results.partial.json").write_text(json.dumps({**results, "seconds": times}, indent=1) + "\n")
    results["seconds"] = times
    results["wall_seconds"] = round(time.perf_counter() - t0, 1)
    check = _defaults_check(results["corrections"], results["discretisation"], results["coverage"])
    results["defaults_check"] = check
    (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    (out / "results.partial.json").unlink()
    _plot(results["corrections"], out / "bias_vs_n.png")
    md = [f"# Estimation study ({name} grid, {seeds} seeds)", "",
          f"`python -m benchmarks.estimation{'' if name == 'full' else ' --' + name}` — {results['wall_seconds']:.0f} s "
          f"on this machine ({', '.join(f'{k} {v:.0f} s' for k, v in times.items())}). Bits throughout.", "",
          "## Defaults check", "", *[f"- {c}" for c in check], "",
          "## 1. Corrections on tables sampled from known distributions (bias = mean estimate − truth)", ""]
    md += _md_table(results["corrections"], ["case", "n", "bias", *[(lambda t: lambda r: f"{r[f'{t}_bias']:+.3f} / {r[f'{t}_rmse']:.3f}")(t) for t in TERMS]],
                    ["case", "N", "bias=", *[f"{SYM[t]} bias / RMSE" for t in TERMS]])
    noise = [r for r in results["corrections"] if r["case"].startswith("noise") and r["bias"] == "shuffle-extrapolation"]
    md += ["", "Pure noise, share of seeds with p < 0.05 (a calibrated test gives about 0.05):", ""]
    md += _md_table(noise, ["n", *[(lambda t: lambda r: f"{r[f'{t}_reject_5pc']:.2f}")(t) for t in TERMS]], ["N", *[SYM[t] for t in TERMS]])
    md += ["", "## 2. Discretisation of continuous latents (layer_sweep, default correction; bias against the continuous truth)", ""]
    md += _md_table(results["discretisation"], ["data", "setting", *[(lambda t: lambda r: f"{r[f'{t}_bias']:+.3f}")(t) for t in TERMS]],
                    ["data", "setting", *[f"{SYM[t]} bias" for t in TERMS]])
    md += ["", "## 3. Coverage of 95 % intervals (share of seeds containing the truth)", ""]
    cov = [r for r in results["coverage"] if "synergy_width" not in r]
    md += _md_table(cov, ["case", "n", "interval", "seeds", "bootstrap", *[(lambda t: lambda r: f"{r[f'{t}_coverage']:.2f}")(t) for t in TERMS]],
                    ["case", "N", "interval", "seeds", "B", *[SYM[t] for t in TERMS]])
    md += ["", "Refitting the discretisation inside each resample (coverage of the continuous truth / mean width, bits):", ""]
    md += _md_table([r for r in results["coverage"] if "synergy_width" in r],
                    ["case", "n", "interval", "seeds", "bootstrap",
                     *[(lambda t: lambda r: f"{r[f'{t}_coverage']:.2f} / {r[f'{t}_width']:.3f}")(t) for t in TERMS]],
                    ["case", "N", "interval", "seeds", "B", *[SYM[t] for t in TERMS]])
    md += ["", "## 4. Examples needed (default correction, worst term)", ""]
    md += _md_table(results["guidance"], ["states", "labels", "cells", lambda r: str(r["n_for_0.05"]),
                                          lambda r: "-" if r["per_cell_for_0.05"] is None else f"{r['per_cell_for_0.05']:.1f}",
                                          lambda r: str(r["n_for_0.1"]),
                                          lambda r: "-" if r["per_cell_for_0.1"] is None else f"{r['per_cell_for_0.1']:.1f}"],
                    ["states per modality", "labels", "cells", "N for 0.05", "per cell", "N for 0.1", "per cell"])
    (out / "results.md").write_text("\n".join(md) + "\n")
    print("\n".join(["", "defaults check:", *check, f"wrote {out}"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
