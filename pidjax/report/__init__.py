"""Reports of a layer sweep: JSON and CSV of every number, PNG plots, one self-contained HTML page.

A table is a tidy ``{column: 1-D array}`` (or a pandas DataFrame) with one row per
(layer, label set): ``layer``, ``label_set``, ``redundancy``, ``unique_1``, ``unique_2``,
``synergy`` in bits, and whatever else the analysis adds (``*_lo``/``*_hi`` intervals,
``*_perm_hi`` baselines, ``contribution_1/2``, ``ablation_drop_1/2``, ...). Needs the
``report`` extra (matplotlib, pandas).
"""

from __future__ import annotations

from pathlib import Path

from pidjax.report.html import render_html
from pidjax.report.plots import ALPHA, PLOTS, plot_contribution, plot_heatmap, plot_layer_profile
from pidjax.report.tables import TERMS, as_columns, read_json, records, to_dataframe, write_csv, write_json


def write_report(table, out_dir, *, title: str = "pidjax report", meta: dict | None = None,
                 modalities=None, extra_images: dict | None = None) -> dict[str, Path]:
    """Write ``results.json``, ``results.csv``, the PNG plots and ``report.html`` into ``out_dir``.

    Args:
      table: ``{column: array (rows,)}`` or a DataFrame; needs ``layer`` and the four PID terms
        (bits), ``label_set`` when there are several label sets.
      out_dir: folder to write into (created when missing).
      title: heading of the HTML page.
      meta: settings/manifest to store in the JSON and show on the page.
      modalities: ``(name 1, name 2)`` used in plot legends.
      extra_images: ``{name: (PNG path, caption)}`` of figures made elsewhere (e.g. the
        per-sample plot), embedded after the standard plots.

    Returns:
      ``{"json", "csv", "layer_profile", "contribution", "heatmap", "html": path}``.

    Raises:
      ValueError: a table whose columns differ in length or that lacks ``layer`` or a PID term;
        ``out_dir`` that exists as a file.

    Example:
      >>> paths = write_report(table, "out", title="my model")  # doctest: +SKIP
      >>> paths["html"]  # doctest: +SKIP
      PosixPath('out/report.html')
    """
    cols = as_columns(table)
    missing = [c for c in ("layer", *TERMS) if c not in cols]
    if missing:
        raise ValueError(f"the table lacks column(s) {', '.join(missing)}")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"output folder {out} exists and is a file")
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": write_json(cols, out / "results.json", meta), "csv": write_csv(cols, out / "results.csv")}
    images = {}
    alpha = float((meta or {}).get("alpha", ALPHA))
    for name, plot in PLOTS.items():
        images[name] = plot(cols, out / f"{name}.png", modalities=modalities, alpha=alpha)
    paths.update(images)
    extra = {name: Path(path) for name, (path, _) in (extra_images or {}).items()}
    page = render_html(cols, {**images, **extra}, title=title, meta=meta, modalities=modalities,
                       captions={name: caption for name, (_, caption) in (extra_images or {}).items()})
    (out / "report.html").write_text(page)
    paths["html"] = out / "report.html"
    return paths


__all__ = [
    "PLOTS",
    "TERMS",
    "as_columns",
    "plot_contribution",
    "plot_heatmap",
    "plot_layer_profile",
    "read_json",
    "records",
    "render_html",
    "to_dataframe",
    "write_csv",
    "write_json",
    "write_report",
]
