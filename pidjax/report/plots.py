"""PNG figures of a layer sweep, drawn with matplotlib's Agg canvas (no display, no pyplot state).

Each function takes a tidy table (``{column: array}`` with ``layer``, ``label_set`` and the PID
columns; optional columns such as ``redundancy_lo``/``_hi`` are drawn when present) and writes
one PNG, or returns the ``matplotlib.figure.Figure`` when ``path`` is None (notebooks show it
inline).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pidjax.report.tables import TERM_SYMBOLS, TERMS, as_columns

COLORS = {"redundancy": "#4c72b0", "unique_1": "#dd8452", "unique_2": "#55a868", "synergy": "#c44e52"}
ALPHA = 0.05  # significance level the figures mark, unless told


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _save(fig, path):
    if path is None:
        return fig
    fig.savefig(path)
    return Path(path)


def _ordered(values) -> list:
    seen = []
    for v in values:
        if v not in seen:
            seen.append(v)
    return seen


def _keys(cols):
    layers = cols["layer"] if "layer" in cols else np.arange(len(next(iter(cols.values()))))
    sets = cols["label_set"] if "label_set" in cols else np.array(["labels"] * len(layers))
    return np.asarray(layers).astype(str), np.asarray(sets).astype(str)


def _names(modalities) -> dict[str, str]:
    m1, m2 = modalities or ("modality 1", "modality 2")
    return {"redundancy": "R (shared)", "unique_1": f"U1 (only {m1})", "unique_2": f"U2 (only {m2})", "synergy": "S (synergy)"}


def not_significant(cols, term: str, alpha: float = ALPHA) -> np.ndarray:
    """Rows whose ``<term>_p`` permutation p-value is above ``alpha`` (all False without p-values)."""
    p = cols.get(f"{term}_p")
    if p is None:
        return np.zeros(len(next(iter(cols.values()))), bool)
    p = np.asarray(p, float)
    return ~(p <= alpha)


def plot_layer_profile(table, path=None, modalities=None, alpha: float = ALPHA) -> Path:
    """R, U1, U2, S against layer, one panel per label set, with bootstrap bands when present.

    ``<term>_lo``/``<term>_hi`` columns become shaded intervals; ``<term>_perm_hi`` (the
    label-permutation baseline) a dotted line in the term's colour; with ``<term>_p`` columns,
    a term whose p-value is above ``alpha`` is drawn as a hollow grey-edged marker (not
    distinguishable from label noise).

    Returns:
      ``path``, or the Figure when ``path`` is None.
    """
    cols = as_columns(table)
    layers, sets = _keys(cols)
    layer_order, set_order = _ordered(layers), _ordered(sets)
    names = _names(modalities)
    fig = _figure(min(4.2 * len(set_order), 13) + 1.6, 3.6)
    axes = np.atleast_1d(fig.subplots(1, len(set_order), sharey=True, squeeze=False)[0])
    x = np.arange(len(layer_order))
    for ax, label_set in zip(axes, set_order):
        rows = sets == label_set
        pos = np.array([layer_order.index(l) for l in layers[rows]])
        order = np.argsort(pos)
        for term in TERMS:
            if term not in cols:
                continue
            y = np.asarray(cols[term], float)[rows][order]
            ax.plot(pos[order], y, marker="o", ms=3, color=COLORS[term], label=names[term])
            faint = not_significant(cols, term, alpha)[rows][order]
            if faint.any():
                ax.plot(pos[order][faint], y[faint], ls="none", marker="o", ms=5, mfc="white", mec="0.55", zorder=3)
            lo, hi = f"{term}_lo", f"{term}_hi"
            if lo in cols and hi in cols:
                ax.fill_between(pos[order], np.asarray(cols[lo], float)[rows][order],
                                np.asarray(cols[hi], float)[rows][order], color=COLORS[term], alpha=0.2, lw=0)
            if f"{term}_perm_hi" in cols:
                ax.plot(pos[order], np.asarray(cols[f"{term}_perm_hi"], float)[rows][order], ls=":", lw=1, color=COLORS[term])
        ax.set_title(f"labels: {label_set}")
        ax.set_xticks(x, layer_order, rotation=45 if len(layer_order) > 8 else 0, fontsize=8)
        ax.set_xlabel("layer")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("bits")
    handles, labels = axes[0].get_legend_handles_labels()
    if any(f"{t}_p" in cols for t in TERMS):
        from matplotlib.lines import Line2D

        handles.append(Line2D([], [], ls="none", marker="o", ms=5, mfc="white", mec="0.55"))
        labels.append(f"not significant (p > {alpha:g})")
    if any(f"{t}_perm_hi" in cols for t in TERMS):
        from matplotlib.lines import Line2D

        handles.append(Line2D([], [], ls=":", lw=1, color="0.3"))
        labels.append("label-permutation baseline")
    fig.legend(handles, labels, fontsize=8, loc="outside right upper")
    return _save(fig, path)


ABLATION_KINDS = {
    "layer-wise mean, Flax": "at each layer, that modality's activations were replaced by their data-set mean inside "
                             "the model and the rest of the model was run (layer-wise mean ablation)",
    "input-level": "that modality's input was replaced before the model (input-level ablation), so the drop is the "
                   "same at every layer",
    "stored predictions": "computed from stored predictions of the model with that modality ablated at each layer",
    "per-layer predict": "a per-layer predictor was run on the layer's embeddings with that modality's replaced",
    "kind not recorded": "the table does not record which ablation was run",
}


def ablation_kind(cols, meta=None) -> str | None:
    """Which ablation a table's ``ablation_drop_1/2`` come from, or None when it has no (finite) drops.

    Reads the ``ablation_kind`` column, else ``meta["ablation"]``, else says ``"kind not recorded"``.
    """
    drops = [np.asarray(cols[c], float) for c in ("ablation_drop_1", "ablation_drop_2") if c in cols]
    if len(drops) < 2 or not any(np.isfinite(d).any() for d in drops):
        return None
    named = [str(k) for k in np.asarray(cols.get("ablation_kind", [])).tolist() if str(k)]
    if named:
        return "; ".join(dict.fromkeys(named))
    return str((meta or {}).get("ablation") or "kind not recorded")


def share_stem(cols) -> tuple[str, str]:
    """``(column stem, axis label)`` of the per-modality score the contribution figure draws."""
    if "contribution_1" in cols and "contribution_2" in cols:
        return "contribution", "PID share U_i / I(X1,X2;Y)"
    if "mutual_info_1" in cols and "mutual_info_2" in cols:
        return "mutual_info", "I(X_i; Y), bits"
    return "unique", "unique information U_i, bits"


def plot_contribution(table, path=None, modalities=None, alpha: float = ALPHA) -> Path:
    """Each modality's PID share next to the accuracy lost by ablating it, per layer, one panel per label set.

    Per layer and modality, a solid bar is the PID share ``contribution_i`` (falling back to
    ``mutual_info_i`` or ``unique_i`` in bits) and, when the table has ablation drops, a hatched
    bar beside it is ``ablation_drop_i``; the title says which ablation (``ablation_kind`` column
    or ``table.meta["ablation"]``) or that no ablation was run. A share whose ``unique_i_p``
    is above ``alpha`` is faded with a grey edge (not distinguishable from 0).

    Returns:
      ``path``, or the Figure when ``path`` is None.
    """
    from matplotlib.patches import Patch

    cols = as_columns(table)
    layers, sets = _keys(cols)
    layer_order, set_order = _ordered(layers), _ordered(sets)
    m1, m2 = modalities or ("modality 1", "modality 2")
    stem, ylabel = share_stem(cols)
    kind = ablation_kind(cols, getattr(table, "meta", None))
    fig = _figure(min(4.6 * len(set_order), 14) + 2.2, 3.6)
    axes = np.atleast_1d(fig.subplots(1, len(set_order), sharey=True, squeeze=False)[0])
    x = np.arange(len(layer_order))
    bars = 4 if kind else 2
    width = 0.8 / bars
    faint_any = False
    for ax, label_set in zip(axes, set_order):
        rows = np.flatnonzero(sets == label_set)
        pos = np.array([layer_order.index(l) for l in layers[rows]])
        drop_ax = ax.twinx() if kind and stem != "contribution" else ax
        for j, (suffix, color) in enumerate((("_1", COLORS["unique_1"]), ("_2", COLORS["unique_2"]))):
            offset = (j * (bars // 2) - (bars - 1) / 2) * width
            share = ax.bar(pos + offset, np.asarray(cols[stem + suffix], float)[rows], width, color=color)
            if stem != "mutual_info":
                for bar, off in zip(share, not_significant(cols, "unique" + suffix, alpha)[rows]):
                    if off:
                        bar.set_alpha(0.35)
                        bar.set_edgecolor("0.45")
                        faint_any = True
            if kind:
                drops = np.asarray(cols["ablation_drop" + suffix], float)[rows]
                drop_ax.bar(pos + offset + width, drops, width, color=color, alpha=0.5, hatch="///", edgecolor="0.2",
                            lw=0.5)
                for at in (pos + offset + width)[np.isnan(drops)]:
                    drop_ax.text(at, 0.0, "not ablated", rotation=90, ha="center", va="bottom", fontsize=6,
                                 color="0.4")
        ax.axhline(0.0, color="0.3", lw=0.6)
        ax.set_xticks(x, layer_order, fontsize=8, rotation=45 if len(layer_order) > 8 else 0)
        ax.set_title(f"labels: {label_set}")
        ax.set_xlabel("layer")
        ax.grid(alpha=0.3, axis="y")
        if drop_ax is not ax:
            drop_ax.set_ylabel("accuracy drop when ablated")
    axes[0].set_ylabel(f"{ylabel}  |  accuracy drop" if kind and stem == "contribution" else ylabel)
    handles = [Patch(color=COLORS["unique_1"], label=f"{m1}: PID share" if stem == "contribution" else m1),
               Patch(color=COLORS["unique_2"], label=f"{m2}: PID share" if stem == "contribution" else m2)]
    if kind:
        handles[1:1] = [Patch(facecolor=COLORS["unique_1"], alpha=0.5, hatch="///", edgecolor="0.2",
                              label=f"{m1}: accuracy drop")]
        handles.append(Patch(facecolor=COLORS["unique_2"], alpha=0.5, hatch="///", edgecolor="0.2",
                             label=f"{m2}: accuracy drop"))
    if faint_any:
        handles.append(Patch(facecolor="0.8", edgecolor="0.45", label=f"share not significant (p > {alpha:g})"))
    fig.legend(handles=handles, fontsize=8, loc="outside right upper")
    # below the panels: a title would run under the legend placed outside on the right
    fig.supxlabel(f"hatched: accuracy drop when ablated ({kind})" if kind else "no ablation was run: PID shares only",
                  fontsize=8, color="0.3")
    return _save(fig, path)


def plot_heatmap(table, path=None, modalities=None, alpha: float = ALPHA) -> Path:
    """Four heat maps (R, U1, U2, S): rows are label sets, columns layers, values in bits.

    Cells whose ``<term>_p`` is above ``alpha`` are hatched (not significant).

    Returns:
      ``path``, or the Figure when ``path`` is None.
    """
    cols = as_columns(table)
    layers, sets = _keys(cols)
    layer_order, set_order = _ordered(layers), _ordered(sets)
    names = _names(modalities)
    fig = _figure(min(3.0 + 0.35 * len(layer_order), 14), 1.6 + 0.9 * len(set_order) * 2)
    axes = fig.subplots(2, 2, squeeze=False).ravel()
    for ax, term in zip(axes, TERMS):
        grid = np.full((len(set_order), len(layer_order)), np.nan)
        if term in cols:
            for l, s, v in zip(layers, sets, np.asarray(cols[term], float)):
                grid[set_order.index(s), layer_order.index(l)] = v
        im = ax.imshow(grid, aspect="auto", cmap="viridis", interpolation="nearest")
        for l, st, off in zip(layers, sets, not_significant(cols, term, alpha)):
            if off:
                ax.add_patch(_hatch_cell(layer_order.index(l), set_order.index(st)))
        ax.set_title(names[term], fontsize=9)
        ax.set_xticks(np.arange(len(layer_order)), layer_order, fontsize=7, rotation=45 if len(layer_order) > 8 else 0)
        ax.set_yticks(np.arange(len(set_order)), set_order, fontsize=8)
        fig.colorbar(im, ax=ax, label="bits", shrink=0.9)
    return _save(fig, path)


def _hatch_cell(x: int, y: int):
    from matplotlib.patches import Rectangle

    return Rectangle((x - 0.5, y - 0.5), 1, 1, fill=False, hatch="xx", edgecolor="0.85", lw=0)


PLOTS = {
    "layer_profile": plot_layer_profile,
    "contribution": plot_contribution,
    "heatmap": plot_heatmap,
}
__all__ = ["ABLATION_KINDS", "ALPHA", "PLOTS", "TERM_SYMBOLS", "ablation_kind", "not_significant", "plot_contribution",
           "plot_heatmap", "plot_layer_profile", "share_stem"]
