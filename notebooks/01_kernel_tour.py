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
# # A tour of the pidjax kernel
#
# `pidjax.decompose` takes joint tables `P(x1, x2, y)` of shape `(..., m, n, k)` and returns
# the BROJA partial information decomposition of what `X1` and `X2` say about `Y`, in bits:
#
# * **R**, redundancy: what both modalities say;
# * **U1**, **U2**: what only one of them says;
# * **S**, synergy: what only the two together say.
#
# Every result carries a certified `bound` on the error of each term. This notebook checks the
# kernel on the textbook gates, then shows batching, precision and the solvers.

# %%
# %matplotlib inline
import os

import jax

jax.config.update("jax_enable_x64", True)

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import pidjax
from pidjax.canonical import KNOWN_VALUES, NAMES, distribution

QUICK = os.environ.get("PIDJAX_NOTEBOOK_QUICK") == "1"  # small settings for the test suite
TERMS = ["redundancy", "unique_1", "unique_2", "synergy"]

# %% [markdown]
# ## The canonical gates
#
# `X1`, `X2` are independent fair bits. XOR is pure synergy; COPY (both bits as the label) is
# two unique bits; RDN (`x1 = x2 = y`) one redundant bit; AND mixes redundancy and synergy.

# %%
def padded(name, k=4):
    """A gate's table with zero-probability labels added up to k (so all gates stack)."""
    P = distribution(name)
    return np.pad(P, ((0, 0), (0, 0), (0, k - P.shape[-1])))


P = np.stack([padded(name) for name in NAMES])
result = pidjax.decompose(P)  # one call, all gates: unused labels are exact zeros
rows = []
for i, name in enumerate(NAMES):
    got = [float(getattr(result, t)[i]) for t in TERMS]
    rows.append({"gate": name, **{t: round(g, 6) + 0.0 for t, g in zip(TERMS, got)},
                 "known (R, U1, U2, S)": KNOWN_VALUES[name], "bound": float(result.bound[i]),
                 "iterations": int(result.iterations[i])})
    np.testing.assert_allclose(got, KNOWN_VALUES[name], atol=1e-5)
pd.DataFrame(rows).set_index("gate")

# %%
fig, ax = plt.subplots(figsize=(7, 3))
bottom = np.zeros(len(NAMES))
colors = {"redundancy": "#4c72b0", "unique_1": "#dd8452", "unique_2": "#55a868", "synergy": "#c44e52"}
for t in TERMS:
    vals = np.asarray(getattr(result, t)).clip(0)
    ax.bar(NAMES, vals, bottom=bottom, label=t, color=colors[t])
    bottom += vals
ax.set_ylabel("bits")
ax.set_title("I(X1, X2; Y) split into R, U1, U2, S")
ax.legend(fontsize=8, ncol=4)
plt.show()

# %% [markdown]
# ## From redundancy to synergy in one batched call
#
# Mix RDN and XOR with weight `t`: at `t = 0` everything is shared, at `t = 1` everything is
# synergy. One `decompose` call solves the whole curve.

# %%
t = np.linspace(0, 1, 11 if QUICK else 41)
mix = (1 - t)[:, None, None, None] * distribution("rdn") + t[:, None, None, None] * distribution("xor")
curve = pidjax.decompose(mix)
fig, ax = plt.subplots(figsize=(6, 3))
for term in TERMS:
    ax.plot(t, getattr(curve, term), label=term, color=colors[term])
ax.plot(t, curve.mutual_info_joint, "k--", lw=1, label="I(X1,X2;Y)")
ax.set_xlabel("weight of XOR")
ax.set_ylabel("bits")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# ## Random tables: identities, bounds and iterations
#
# For any table, `R + U1 = I(X1;Y)`, `R + U2 = I(X2;Y)` and the four terms add up to
# `I(X1,X2;Y)`. Each term is certified within `bound` bits.

# %%
rng = np.random.default_rng(0)
batch = 50 if QUICK else 1000
tables = rng.dirichlet(np.ones(4 * 4 * 3), size=batch).reshape(batch, 4, 4, 3)
res = pidjax.decompose(tables)
sums = np.asarray(res.redundancy + res.unique_1 + res.unique_2 + res.synergy)
print("max |R+U1+U2+S - I(X1,X2;Y)| =", float(np.abs(sums - res.mutual_info_joint).max()))
print("max |R+U1 - I(X1;Y)|        =", float(np.abs(res.redundancy + res.unique_1 - res.mutual_info_1).max()))
print("largest certified bound     =", float(res.bound.max()), "bits; all converged:", bool(res.converged.all()))
assert np.allclose(sums, res.mutual_info_joint, atol=1e-9)

# %%
fig, axes = plt.subplots(1, 2, figsize=(8, 2.8))
axes[0].hist(np.asarray(res.iterations), bins=20)
axes[0].set_xlabel("iterations")
axes[1].hist(np.log10(np.asarray(res.bound) + 1e-18), bins=20)
axes[1].set_xlabel("log10 certified bound (bits)")
plt.show()

# %% [markdown]
# ## Precision and solvers
#
# float32 is the default on accelerators (tolerance 1e-4 bits), float64 on CPU (1e-6 bits).
# `pidjax.METHODS` lists the solvers; all of them certify their answer the same way, in
# either precision.

# %%
import warnings

subset = tables[:10] if QUICK else tables
reference = pidjax.decompose(subset, method=pidjax.METHODS[0], dtype="float64", tol=1e-9, max_iters=100_000)
rows = []
for method in pidjax.METHODS:
    for dtype in ("float32", "float64"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # reported in the 'converged' column
            r = pidjax.decompose(subset, method=method, dtype=dtype)
        err = np.max(np.abs(np.asarray(r.synergy, np.float64) - np.asarray(reference.synergy)))
        rows.append({"method": method, "dtype": dtype, "max |S - S_ref| (bits)": float(err),
                     "largest bound": float(r.bound.max()), "converged": f"{int(r.converged.sum())}/{len(subset)}",
                     "median iterations": float(np.median(r.iterations))})
pd.DataFrame(rows)
