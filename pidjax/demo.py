"""The end-to-end demo: train the built-in model on the bundled digits, decompose every layer, write a report.

``python -m pidjax.demo [--out DIR] [--quick] [--seed N]`` (what ``make demo`` runs):

1. split each 8x8 digit into its top and bottom halves, the two modalities;
2. train the cross-attention two-stream transformer (or load it from the user cache, keyed
   by its settings) and measure its accuracy on held-out digits;
3. pull every layer's per-modality embeddings out with :mod:`pidjax.adapters`;
4. decompose each layer (:func:`pidjax.analysis.layer_sweep`) for two label sets, the true
   digit and the model's prediction: bias-corrected terms, permutation p-values, bootstrap
   intervals, states chosen per layer by cross-validation, and the discretisation check;
5. add modality contribution scores next to the layer-wise ablation baseline
   (:func:`pidjax.adapters.ablate_layers`): at each layer, one modality's tokens are replaced by
   their mean over the training digits and the held-out accuracy is measured again;
6. write ``results.json``, ``results.csv``, PNG plots and ``report.html`` (:mod:`pidjax.report`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

SPLIT = "top_bottom"
MODALITIES = ("top half", "bottom half")


def _settings(quick: bool, seed: int) -> dict:
    """Model, training and analysis settings; ``quick`` trades resolution for speed."""
    return {
        "model": {"dim": 24 if quick else 32, "depth": 2 if quick else 3, "heads": 4, "mlp_ratio": 2,
                  "fusion": "cross"},
        "train": {"steps": 200 if quick else 500, "batch_size": 128, "learning_rate": 3e-3, "seed": seed},
        "test_fraction": 0.25,
        "sweep": {"n_states": "auto", "n_components": 16, "n_bootstrap": 10 if quick else 40,
                  "n_permutations": 20 if quick else 100, "bias": "shuffle-extrapolation", "method": None,
                  "tol": 1e-5, "seed": seed},
    }


def cache_dir() -> Path:
    """Where trained demo models are kept: ``$PIDJAX_CACHE_DIR``, else ``$XDG_CACHE_HOME/pidjax``, else ``~/.cache/pidjax``."""
    if os.environ.get("PIDJAX_CACHE_DIR"):
        return Path(os.environ["PIDJAX_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pidjax"


def trained_model(config, train_data, train_settings: dict, *, cache: Path | None, log=print):
    """A model trained with ``train_settings``, loaded from ``cache`` when the same one was trained before.

    Returns:
      ``(model, seconds spent training (0.0 when loaded), checkpoint path or None)``.
    """
    from pidjax.models import build_model, load_checkpoint, save_checkpoint, train

    key = hashlib.sha256(json.dumps([config.to_dict(), train_settings, int(train_data.y.shape[0])],
                                    sort_keys=True).encode()).hexdigest()[:16]
    path = None if cache is None else Path(cache) / f"demo-{config.fusion}-{key}.msgpack"
    if path is not None and path.is_file():
        try:
            model = load_checkpoint(path)
            log(f"loaded the trained model from {path}")
            return model, 0.0, path
        except ValueError as exc:
            log(f"ignoring an unusable cached model ({exc}); training again")
    log(f"training the {config.fusion}-fusion model ({train_settings['steps']} steps)...")
    result = train(build_model(config, seed=train_settings["seed"]), train_data, **train_settings)
    if path is not None:
        try:
            save_checkpoint(path, result.model)
        except OSError as exc:
            log(f"could not cache the model at {path} ({exc})")
            path = None
    return result.model, result.seconds, path


def run_demo(out_dir="pidjax-demo", quick: bool = False, seed: int = 0, *, use_cache: bool = True,
             progress: bool = True, log=print) -> dict:
    """Train (or load) the built-in model on the bundled digits, sweep every layer and write a report folder.

    Args:
      out_dir: folder for ``results.json``, ``results.csv``, the PNG plots and ``report.html``.
      quick: a smaller model, fewer steps and fewer resamples (about half the time).
      seed: seeds the split, the training and the analysis.
      use_cache: load/store the trained model under :func:`cache_dir`.
      progress: show progress bars.
      log: where the running commentary goes (``print`` by default).

    Returns:
      ``{"report", "json", "csv", "layer_profile", ...: paths, "table": the PID table,
      "accuracy": held-out accuracy, "train_seconds", "seconds" (whole run), "checkpoint",
      "summary": the printed summary}``.

    Raises:
      ValueError: ``out_dir`` exists as a file.

    Example:
      >>> result = run_demo("demo-out", quick=True)  # doctest: +SKIP
      >>> result["accuracy"] > 0.9  # doctest: +SKIP
      True
    """
    from pidjax.adapters import ablate_layers, extract_embeddings
    from pidjax.analysis import contribution_scores, layer_sweep
    from pidjax.data import batches, load_digits_views, train_test_split
    from pidjax.models import ModelConfig, accuracy, layer_spec
    from pidjax.report import write_report

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"output folder {out} exists and is a file")
    start = time.perf_counter()
    s = _settings(quick, seed)
    data = load_digits_views(SPLIT)
    train_data, test_data = train_test_split(data, s["test_fraction"], seed=seed)
    config = ModelConfig(*data.x1.shape[1:], *data.x2.shape[1:], n_classes=data.n_classes, **s["model"])
    model, train_seconds, checkpoint = trained_model(config, train_data, s["train"],
                                                     cache=cache_dir() if use_cache else None, log=log)
    held_out = accuracy(model, test_data)
    log(f"held-out accuracy: {held_out:.3f} on {test_data.n_samples} digits")

    # every digit goes through the model once; the PID uses all of them (more samples, less bias)
    extraction = extract_embeddings(model, batches(data, 512), layer_spec(config), progress=progress)
    label_sets = {"label": extraction.labels, "prediction": extraction.predictions}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = layer_sweep(extraction.layers, label_sets, progress=progress, **s["sweep"])
    # the accuracy baseline per layer: means from the training digits, accuracy on the held-out ones
    ablation = ablate_layers(model, lambda: batches(test_data, 512), layer_spec(config),
                             mean_batches=lambda: batches(train_data, 512), progress=progress)
    table = contribution_scores(table, ablation=ablation)
    seconds = time.perf_counter() - start
    meta = {
        "data": data.name, "n_samples": int(data.n_samples), "modalities": list(MODALITIES),
        "model": config.to_dict(), "train": s["train"], "sweep": s["sweep"],
        "held_out_accuracy": held_out, "held_out_samples": int(test_data.n_samples),
        "ablation": ablation.kind,
        "ablation_data": "each layer's tokens of one modality replaced by their per-position mean over the "
                         "training digits; accuracy on the held-out digits",
        "train_seconds": round(train_seconds, 2), "checkpoint": str(checkpoint) if checkpoint else None,
        "warnings": sorted({str(w.message) for w in caught})[:20],
    }
    paths = write_report(table, out, title="pidjax demo: digits, top vs bottom half", meta=meta,
                         modalities=MODALITIES)
    seconds = time.perf_counter() - start
    summary = _summary(table, held_out, test_data.n_samples, train_seconds, seconds, paths["html"])
    log(summary)
    return {**{k: Path(v) for k, v in paths.items()}, "report": Path(paths["html"]), "table": table,
            "accuracy": held_out, "train_seconds": train_seconds, "seconds": seconds, "checkpoint": checkpoint,
            "summary": summary}


def _summary(table, held_out: float, n_test: int, train_seconds: float, seconds: float, report) -> str:
    rows = [i for i, s in enumerate(table["label_set"]) if s == "label"]
    alpha = float(getattr(table, "meta", {}).get("alpha", 0.05))
    lines = [f"pidjax demo: cross-attention two-stream transformer on digits (modality 1 = top half, "
             f"2 = bottom half); held-out accuracy {held_out:.3f} ({n_test} digits); "
             f"training {train_seconds:.0f} s, total {seconds:.0f} s",
             f"{'layer':<10}{'states':>8}{'R':>9}{'U1':>9}{'U2':>9}{'S':>9}{'S plug-in':>11}{'drop 1':>8}{'drop 2':>8}"
             "  bits, label = true digit; drop i: accuracy lost when modality i is mean-ablated at that layer"]

    def cell(term, i):
        p = table.get(f"{term}_p")
        mark = "" if p is None or p[i] <= alpha else "~"
        return f"{table[term][i] + 0.0:8.3f}{mark or ' '}"

    for i in rows:
        states = f"{table['states_1'][i]}x{table['states_2'][i]}"
        lines.append(f"{str(table['layer'][i]):<10}{states:>8}" + "".join(cell(t, i) for t in
                     ("redundancy", "unique_1", "unique_2", "synergy")) + f"{table['synergy_plugin'][i]:11.3f}"
                     + "".join(f"{table[f'ablation_drop_{w}'][i]:8.3f}" for w in (1, 2)))
    lines.append(f"bias-corrected ({getattr(table, 'meta', {}).get('bias', '?')}); '~' marks a term whose label-"
                 f"permutation p-value is above {alpha:g} (not distinguishable from noise)")
    lost = [str(table["layer"][i]) for i in rows if table.get("states_lose_information", np.zeros(len(rows) + 1, bool))[i]]
    if lost:
        lines.append(f"discretisation check: the states of layer(s) {', '.join(lost)} lose information a probe decodes")
    lines.append(f"report: {report}")
    return "\n".join(lines)


def main(argv=None) -> int:
    """Command line entry: ``python -m pidjax.demo [--out DIR] [--quick] [--seed N] [--no-cache]``."""
    parser = argparse.ArgumentParser(prog="python -m pidjax.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="pidjax-demo", help="report folder (default ./pidjax-demo)")
    parser.add_argument("--quick", action="store_true", help="smaller model and fewer resamples")
    parser.add_argument("--seed", type=int, default=0, help="seed of split, training and analysis")
    parser.add_argument("--no-cache", action="store_true", help="train even when a cached model exists")
    args = parser.parse_args(argv)
    try:
        run_demo(args.out, quick=args.quick, seed=args.seed, use_cache=not args.no_cache)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
