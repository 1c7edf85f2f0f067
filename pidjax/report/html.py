"""One self-contained HTML page: the plots as base64 PNGs, every number, and the run's manifest."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

import numpy as np

from pidjax.report.plots import ABLATION_KINDS, ALPHA, ablation_kind, not_significant, share_stem
from pidjax.report.tables import TERMS, as_columns, records

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}
h1{font-size:1.5em;margin-bottom:.2em} h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ddd}
.note{color:#555;font-size:.9em} figure{margin:1em 0} img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.85em;color:#555} .scroll{overflow-x:auto;max-height:480px;overflow-y:auto}
table{border-collapse:collapse;font-size:.78em;font-variant-numeric:tabular-nums}
th,td{border:1px solid #ddd;padding:2px 6px;text-align:right;white-space:nowrap} th{background:#f4f4f4;position:sticky;top:0}
.warn{color:#a00} td.ns{color:#aaa;background:#fafafa} pre{background:#f8f8f8;padding:.8em;overflow-x:auto;font-size:.8em}
"""

# After load, record how many images decoded, so a headless browser test can read it from the DOM.
_SCRIPT = """
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (im) { return im.complete && im.naturalWidth > 0; }).length;
  document.body.setAttribute('data-images-total', String(imgs.length));
  document.body.setAttribute('data-images-loaded', String(ok));
});
"""

CAPTIONS = {
    "layer_profile": "Layer profile: redundancy R, unique U1/U2 and synergy S (bits) per layer; shaded bands are "
    "bootstrap intervals, dotted lines the label-permutation baseline (upper quantile) when computed.",
    # render_html writes the contribution caption with contribution_caption, which knows the ablation
    "contribution": "Each modality's PID share per layer.",
    "heatmap": "Heat maps of each term across layers (columns) and label sets (rows), in bits.",
}


_MODES = {"mean": "its mean over examples", "zero": "zeros", "shuffle": "a shuffle across examples"}


def contribution_caption(cols, meta: dict | None = None) -> str:
    """The contribution figure's caption: what the bars are and which ablation (if any) was run.

    Example:
      >>> contribution_caption({"contribution_1": [0.1], "contribution_2": [0.2]}).split(". ")[1]
      'No ablation was run, so no accuracy drop is shown beside it.'
    """
    stem, _ = share_stem(cols)
    what = {"contribution": "Each modality's PID share U_i / I(X1,X2;Y)",
            "mutual_info": "Each modality's information I(X_i; Y) in bits",
            "unique": "Each modality's unique information U_i in bits"}[stem]
    kind = ablation_kind(cols, meta)
    if kind is None:
        return (f"{what} per layer, one panel per label set. No ablation was run, so no accuracy drop is shown "
                "beside it.")
    how = "; ".join(ABLATION_KINDS.get(k, f"{k} ablation") for k in kind.split("; "))
    mode = _MODES.get((meta or {}).get("ablation_mode"))
    if mode and kind in ("input-level", "per-layer predict"):
        how += f" (replaced by {mode})"
    return (f"{what} (solid) next to the accuracy lost when that modality is ablated (hatched), per layer and label "
            f"set: {how}. Drops are fractions of accuracy against the true labels, so they are the same in every "
            "label-set panel; layers marked 'not ablated' have no drop.")


def _fmt(v) -> str:
    if v is None:
        return "&ndash;"
    if isinstance(v, bool):
        return "yes" if v else "<span class=warn>no</span>"
    if isinstance(v, float):
        return f"{v:.4g}"
    return html.escape(str(v))


def _estimation_note(cols, meta: dict) -> str:
    """One sentence on how the numbers were estimated: the correction and the significance marks."""
    bias = meta.get("bias") or (meta.get("sweep") or {}).get("bias")
    said = []
    if any(f"{t}_plugin" in cols for t in TERMS):
        said.append(f"Terms are bias-corrected ({bias or 'see bias'}); the raw plug-in values are in the *_plugin "
                    "columns.")
    else:
        said.append("Terms are plug-in estimates, biased upwards at small N.")
    if any(f"{t}_p" in cols for t in TERMS):
        alpha = float(meta.get("alpha", ALPHA))
        said.append(f"Grey cells, hollow markers and hatching mark terms whose label-permutation p-value is above "
                    f"{alpha:g}: not distinguishable from label noise.")
    if "states_lose_information" in cols and np.asarray(cols["states_lose_information"]).astype(bool).any():
        said.append("Some layers' states carry much less than a linear probe decodes from the embeddings "
                    "(states_lose_information): their PID understates what the embeddings hold.")
    return " ".join(said)


def render_html(table, images: dict[str, Path], *, title: str = "pidjax report", meta: dict | None = None,
                modalities=None, captions: dict | None = None) -> str:
    """The report page as a string; ``images`` maps a plot name to a PNG path to embed.

    ``captions`` gives (or replaces) the caption of a plot by name.

    Returns:
      HTML text with no external references (images are ``data:`` URIs).
    """
    cols = as_columns(table)
    rows = records(cols)
    m1, m2 = modalities or ("modality 1", "modality 2")
    captions = dict(CAPTIONS, contribution=contribution_caption(cols, {**getattr(table, "meta", {}), **(meta or {})}),
                    **(captions or {}))
    parts = [
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>",
        f"<title>{html.escape(title)}</title><style>{_CSS}</style><script>{_SCRIPT}</script></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p class=note>Partial information decomposition (BROJA) of what modality 1 (<b>{html.escape(str(m1))}</b>) "
        f"and modality 2 (<b>{html.escape(str(m2))}</b>) carry about the labels, in bits. R: shared by both; "
        "U1, U2: only in one; S: only in the two together.</p>",
        f"<p class=note>{html.escape(_estimation_note(cols, meta or {}))}</p>",
    ]
    if "converged" in cols and not np.asarray(cols["converged"]).astype(bool).all():
        bad = int((~np.asarray(cols["converged"]).astype(bool)).sum())
        parts.append(f"<p class=warn>{bad} row(s) did not reach the solver tolerance; see the bound column.</p>")
    for name, path in images.items():
        data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
        parts.append(
            f"<h2>{html.escape(name.replace('_', ' '))}</h2><figure><img id='plot-{html.escape(name)}' "
            f"alt='{html.escape(name)}' src='data:image/png;base64,{data}'>"
            f"<figcaption>{html.escape(captions.get(name, ''))}</figcaption></figure>"
        )
    first = [c for c in ("layer", "label_set", *TERMS) if c in cols]
    order = first + [c for c in cols if c not in first]
    parts.append(f"<h2>numbers</h2><p class=note>{len(rows)} rows; the same numbers are in results.json and results.csv.</p>")
    parts.append("<div class=scroll><table id=numbers><thead><tr>")
    parts.extend(f"<th>{html.escape(c)}</th>" for c in order)
    parts.append("</tr></thead><tbody>")
    alpha = float((meta or {}).get("alpha", ALPHA))
    faint = {t: not_significant(cols, t, alpha) for t in (*TERMS, "mutual_info_1", "mutual_info_2", "mutual_info_joint")}
    for i, row in enumerate(rows):
        cells = []
        for c in order:
            off = c in faint and faint[c][i]
            cells.append(f"<td class=ns title='not significant (p > {alpha:g})'>{_fmt(row[c])}</td>" if off
                         else f"<td>{_fmt(row[c])}</td>")
        parts.append("<tr>" + "".join(cells) + "</tr>")
    parts.append("</tbody></table></div>")
    if meta:
        parts.append("<h2>how this was made</h2><pre>" + html.escape(json.dumps(meta, indent=1, default=str)) + "</pre>")
    parts.append("</body></html>")
    return "".join(parts)
