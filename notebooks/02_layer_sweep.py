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
# # A layer sweep, with plots
#
# The question pidjax answers for a multimodal model: at each layer, how much of what the two
# modalities know about the label is shared (R), only in one (U1, U2) or only in their
# combination (S)?
#
# 1. A "model" whose truth we know: synthetic two-modality embeddings (`pidjax.synthetic`)
#    with one redundant, one unique-per-modality and one synergistic bit, where deeper
#    "layers" carry the bits with less noise. A correct sweep recovers 1 bit of each term
#    in the clean layers.
# 2. The built-in two-stream transformer trained on the digits shipped with pidjax
#    (`pidjax.demo`), swept layer by layer.
# 3. The same sweep from embedding files, as a PyTorch user would run it (`pidjax analyze`).

# %%
# %matplotlib inline
import importlib.util
import os
import tempfile
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import warnings

import numpy as np

from pidjax.analysis import contribution_scores, layer_sweep
from pidjax.report import plot_contribution, plot_heatmap, plot_layer_profile, to_dataframe
from pidjax.synthetic import make_synthetic

QUICK = os.environ.get("PIDJAX_NOTEBOOK_QUICK") == "1"  # small settings for the test suite
N = 1500 if QUICK else 8000
BOOT, PERM = (5, 5) if QUICK else (100, 100)

# %% [markdown]
# ## 1. Synthetic layers with a known answer
#
# Noise falls with depth, so the latent bits become readable layer by layer. Modality 1 sees
# `(r, a, s1)`, modality 2 sees `(r, b, s2)` and the label is `(r, a, b, s1 xor s2)`:
# the truth is R = U1 = U2 = S = 1 bit.

# %%
noise = [1.2, 0.3, 0.05] if QUICK else [1.2, 0.6, 0.3, 0.15, 0.05]
data = make_synthetic("mixture", N, dim_1=24, dim_2=24, noise=noise, seed=0)
layers = {f"L{i}": (data.embeddings_1[i], data.embeddings_2[i]) for i in range(len(noise))}
with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)  # few samples per cell: see the permutation baseline
    table = layer_sweep(layers, {"labels": data.labels}, n_states=8, n_bootstrap=BOOT, n_permutations=PERM, seed=0)
table = contribution_scores(table)
print("truth:", data.truth)
to_dataframe(table)[["layer", "redundancy", "unique_1", "unique_2", "synergy", "synergy_lo", "synergy_hi",
                     "synergy_perm_hi", "bound", "converged"]].round(3)

# %%
last = {t: float(table[t][-1]) for t in ("redundancy", "unique_1", "unique_2", "synergy")}
print("cleanest layer:", {k: round(v, 3) for k, v in last.items()})
assert all(abs(v - 1.0) < 0.15 for v in last.values()), last

# %%
plot_layer_profile(table, modalities=("modality 1", "modality 2"))

# %% [markdown]
# Shaded bands are bootstrap intervals; dotted lines are the label-permutation baseline, what
# the plug-in estimate reports when the label carries no information at all. Terms below their
# dotted line are not distinguishable from estimation bias.

# %%
plot_contribution(table, modalities=("modality 1", "modality 2"))

# %% [markdown]
# ## 2. The built-in model
#
# `pidjax.demo.run_demo` trains the small two-stream transformer on the digits data shipped
# with the package (top half and bottom half of each image are the two modalities), sweeps
# every layer against the true labels and the model's predictions, and writes a report.

# %%
demo_table = None
if importlib.util.find_spec("pidjax.demo") is not None:
    from pidjax.demo import run_demo

    demo_dir = Path(tempfile.mkdtemp(prefix="pidjax-demo-"))
    demo = run_demo(demo_dir, quick=True, seed=0, progress=False)
    demo_table = demo["table"]
    print(f"held-out accuracy {demo['accuracy']:.3f}; report: {demo['report']}")
    display(to_dataframe(demo_table)[["layer", "label_set", "redundancy", "unique_1", "unique_2", "synergy"]].round(3))  # noqa: F821
else:
    print("pidjax.demo is not available in this installation")

# %%
if demo_table is not None:
    display(plot_layer_profile(demo_table, modalities=("top half", "bottom half")))  # noqa: F821
    display(plot_heatmap(demo_table, modalities=("top half", "bottom half")))  # noqa: F821

# %% [markdown]
# ## 3. From files, as with any framework
#
# Embeddings saved with the naming convention `layer.<layer>.<modality>` (plus `labels`) can
# come from PyTorch, JAX or anything that writes `.npz` / `.safetensors`. `pidjax analyze`
# sweeps them layer by layer, resumably, and writes JSON, CSV, plots and an HTML report.

# %%
from pidjax.cli import main
from pidjax.io import save_embeddings

work = Path(tempfile.mkdtemp(prefix="pidjax-nb-"))
save_embeddings(work / "emb.safetensors",
                {name: {"first": e1, "second": e2} for name, (e1, e2) in list(layers.items())[-1:]},
                labels=data.labels)
code = main(["analyze", str(work / "emb.safetensors"), "--labels", "labels", "--states", "8",
             "--out", str(work / "run"), "--quiet"])
print("exit code", code, "->", sorted(p.name for p in (work / "run").iterdir()))
assert code == 0
