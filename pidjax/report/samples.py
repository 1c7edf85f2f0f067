"""The figure of a per-sample (token-level) analysis: how PID terms spread over examples, per layer."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pidjax.report.plots import COLORS, _figure, _names, _ordered, _save
from pidjax.report.tables import TERMS, as_columns


def plot_samples(table, path=None, modalities=None) -> Path:
    """Median and interquartile range over examples of R, U1, U2, S (bits), against layer.

    Args:
      table: per-sample rows ``{column: array (rows,)}`` with ``layer``, ``example`` and the
        four PID terms, one row per (layer, example) as ``pidjax analyze --per-sample`` writes.
      path: PNG to write, or None to return the Figure.
      modalities: ``(name 1, name 2)`` for the legend.

    Returns:
      ``path``, or the matplotlib Figure when ``path`` is None.

    Raises:
      ValueError: a table without ``layer`` or a PID term.

    Example:
      >>> plot_samples(samples, "out/samples.png", ("text", "image"))  # doctest: +SKIP
      PosixPath('out/samples.png')
    """
    cols = as_columns(table)
    missing = [c for c in ("layer", *TERMS) if c not in cols]
    if missing:
        raise ValueError(f"the per-sample table lacks column(s) {', '.join(missing)}")
    layers = np.asarray(cols["layer"]).astype(str)
    order = _ordered(layers)
    names = _names(modalities)
    fig = _figure(min(0.5 * len(order), 9) + 4.5, 3.4)
    ax = fig.subplots()
    x = np.arange(len(order))
    for shift, term in zip((-0.15, -0.05, 0.05, 0.15), TERMS):
        values = np.asarray(cols[term], float)
        q = np.array([np.nanpercentile(values[layers == l], [25, 50, 75]) for l in order])
        ax.errorbar(x + shift, q[:, 1], yerr=[q[:, 1] - q[:, 0], q[:, 2] - q[:, 1]], marker="o", ms=3, lw=1,
                    capsize=2, color=COLORS[term], label=names[term])
    n = int(np.sum(layers == order[0]))
    ax.set_title(f"per-sample PID of {n} examples: median and quartiles", fontsize=9)
    ax.set_xticks(x, order, rotation=45 if len(order) > 8 else 0, fontsize=8)
    ax.set_xlabel("layer (per-example values are biased upwards: compare examples with each other)", fontsize=8)
    ax.set_ylabel("bits")
    ax.grid(alpha=0.3)
    fig.legend(fontsize=8, loc="outside right upper")
    return _save(fig, path)
