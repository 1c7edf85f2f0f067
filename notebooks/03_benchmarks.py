# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Benchmark results: pidjax against the reference BROJA solvers
#
# `make bench` (`python -m benchmarks.run --suite quick`) scores every solver against a
# certified ground truth (79 cases: the textbook gates, dit's examples, random and clustered
# tables) and times them, all in one run on one machine. This notebook reads the committed
# results (`benchmarks/results/quick/results.json`), or the newest local run, and shows them.
# When neither exists it runs the seconds-long `smoke` suite so there is something to see.

# %%
import json
import os
import sys
import tempfile
from pathlib import Path

import pandas as pd
from IPython.display import Image, Markdown, display

QUICK = os.environ.get("PIDJAX_NOTEBOOK_QUICK") == "1"
ROOT = next(p for p in (Path.cwd(), *Path.cwd().parents) if (p / "benchmarks" / "run.py").is_file())
sys.path.insert(0, str(ROOT))

candidates = [ROOT / "benchmarks" / "results" / "quick" / "results.json"]
candidates += sorted((ROOT / "benchmarks" / "results" / "local").glob("*/results.json"), key=lambda p: p.stat().st_mtime, reverse=True)
found = next((p for p in candidates if p.is_file()), None)
if found is None:
    from benchmarks.run import run

    out = Path(tempfile.mkdtemp(prefix="pidjax-bench-"))
    run("smoke", out, verbose=False)
    found = out / "results.json"
result = json.loads(found.read_text())
print(f"{found.relative_to(ROOT) if found.is_relative_to(ROOT) else found}: suite {result.get('suite')}, "
      f"{len(result['cases'])} solver x case records, commit {result.get('git_commit')}")

# %% [markdown]
# ## Accuracy and time per distribution
#
# Errors are the largest |value - certified truth| in bits over a family's cases; time is the
# median seconds per distribution solved one at a time.

# %%
summary = pd.DataFrame(result["summary"])
terms = [c for c in summary.columns if c.startswith("max_err_")]
summary["max_err"] = summary[terms].max(axis=1)
view = summary.pivot_table(index="family", columns="solver", values="max_err", aggfunc="max")
display(Markdown("**largest error of R, U1, U2, S (bits)**"))
view.map(lambda v: f"{v:.1e}" if pd.notna(v) else "-")

# %%
timing = summary.pivot_table(index="family", columns="solver", values="median_seconds", aggfunc="median")
display(Markdown("**median seconds per distribution**"))
timing.map(lambda v: f"{v:.2e}" if pd.notna(v) else "-")

# %% [markdown]
# ## Throughput
#
# Distributions per second at batch sizes 1, 100, 10,000. pidjax solves a batch in one
# compiled call; the references solve one table at a time, so their batch rates are
# extrapolated from the per-distribution time (marked in the `extrapolated` column).

# %%
throughput = pd.DataFrame(result["throughput"])
throughput

# %%
folder = found.parent
for name in result.get("plots", []):
    path = folder / name
    if path.is_file():
        display(Markdown(f"**{name}**"), Image(filename=str(path)))
