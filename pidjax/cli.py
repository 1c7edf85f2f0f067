"""The ``pidjax`` command: ``demo``, ``extract``, ``analyze``, ``decompose`` and ``bench``.

Exit codes: 0 success; 2 a usage or input mistake (one line on stderr, no traceback); 3 the
run finished but some decomposition did not reach its certified tolerance; 1 an internal
error (a bug: the traceback is printed); 130 interrupted (an ``analyze`` run can be resumed).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import traceback
import warnings
from pathlib import Path

EXIT_OK, EXIT_INTERNAL, EXIT_USAGE, EXIT_NOT_CONVERGED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


class UserError(Exception):
    """A mistake in the command line or the inputs; printed as one line, exit code 2."""


# --------------------------------------------------------------------------- parser

MAIN_EPILOG = """\
examples:
  pidjax demo --quick                          # built-in model, end to end, report in ./pidjax-demo
  pidjax extract ckpt/ --data rows.csv --layout clip --out emb  # Hugging Face model -> embeddings
  pidjax analyze emb.npz --labels labels --out runs/emb
  pidjax analyze emb_dir/ --labels labels,predictions --modalities text,image --states 8 --bootstrap 200 --out runs/x
  pidjax decompose tables.npz                  # joint tables P(x1, x2, y) in, R/U1/U2/S (bits) out
  pidjax bench --suite quick                   # side-by-side benchmark (needs the repository checkout)

exit codes: 0 ok, 2 usage or input error, 3 some result did not converge (flagged), 1 internal error.
Files: see docs/file-format.md. Every command has its own --help.
"""

ANALYZE_EPILOG = """\
EMBEDDINGS is a .npz or .safetensors file, or a folder of them, with arrays named
  layer.<layer>.<modality>   (N, D) or (N, tokens, D)     e.g. layer.03.text, layer.03.image
  fused.<layer>              (N, tokens, D)                one array for every modality with a mask
  mask.<modality>            (N, tokens), optional         token mask for mean pooling
  labels, labels.<name>, predictions   (N,)                label sets
  ablated.<layer>.<modality> (N,)                          predictions with that modality mean-ablated
  targets.<name>             (N, tokens) or (N, tokens, d) per-token target for --per-sample
Files are memory-mapped and read one layer at a time.

--labels picks label sets: names stored in EMBEDDINGS (comma separated), or a separate file
(.npy, .npz, .safetensors, .txt/.csv with one label per line). Default: every label set found.

An example whose mask keeps no token cannot be pooled: analyze stops and names it, unless
--drop-empty leaves such examples out of every layer and label set (the count is printed and
pinned in the manifest).

--per-sample also decomposes each example on its own, from its token pairs (needs token-level
arrays): --pairing states which token goes with which (position, order, or an (N, P, 2) .npy
alignment) and Y per pair is a targets.<name> array read at one token of the pair
(--sample-target, --sample-target-at). Rows go to OUT/samples.csv and OUT/samples.json.

The sweep is resumable: results are written to OUT/layers/ (and OUT/samples/) as each layer
finishes; run the same command again after an interruption and it continues where it stopped.
OUT/manifest.json records input hashes, settings, versions and the seed.

examples:
  pidjax analyze emb.npz --labels labels --out runs/a
  pidjax analyze emb.safetensors --labels predictions --states 6,10 --bootstrap 100 --permutations 50 --out runs/b
  pidjax analyze emb_dir/ --labels y.npy --modalities image,text --layers 0,6,12 --out runs/c
  pidjax analyze emb.npz --out runs/a --restart      # throw away runs/a and start again
  pidjax analyze emb.npz --states 8 --bias shuffle --bootstrap 200 --interval percentile --out runs/d
  pidjax analyze llava_emb/ --modalities image,text --drop-empty --out runs/e
  pidjax analyze llava_emb/ --modalities image,text --per-sample --pairing order --sample-target next_token --out runs/f

Reported terms are bias-corrected (--bias; raw values in <term>_plugin); with --permutations > 0 every
term gets a permutation p-value <term>_p, and the report marks terms with p > --alpha as not significant.

writes: OUT/results.json, OUT/results.csv, OUT/*.png, OUT/report.html, OUT/manifest.json;
with --per-sample also OUT/samples.json, OUT/samples.csv, OUT/samples.png
"""

EXTRACT_EPILOG = """\
DATA is a rows file with a header: text, image (a path relative to the file) and optionally
label and label.<name>; or a folder holding rows.csv / rows.jsonl / metadata.csv. Every image
is checked before the model runs. The folder is written as OUT.partial and renamed when done.

examples:
  pidjax extract ckpt/clip --data rows.csv --layout clip --out emb/clip
  pidjax extract ckpt/llava --data rows.jsonl --layout llava --prompt "USER: {image}\\n{text} ASSISTANT:" --out emb/llava
  pidjax extract ckpt/vilt --data data/ --layout vilt --tokens --ablation --out emb/vilt
  pidjax analyze emb/clip --labels labels --out runs/clip
"""

DECOMPOSE_EPILOG = """\
TABLES: files of joint tables P(x1, x2, y) with shape (..., m, n, k):
  .npy (one array), .npz / .safetensors (one array per key), .json ({"name": nested list}),
  .csv / .tsv in long form with columns x1,x2,y,p (or count) and an optional table column.
Use --normalize for counts. Values are in bits; 'bound' certifies the error of every term.

examples:
  pidjax decompose tables.npz
  pidjax decompose counts.csv --normalize --out pid.json
  pidjax decompose many.npy --method ipfp --tol 1e-8 --format csv > pid.csv
"""


def _common(parser: argparse.ArgumentParser, seed=True):
    g = parser.add_argument_group("run options")
    if seed:
        g.add_argument("--seed", type=int, default=0, help="seed for every random choice (default 0)")
    g.add_argument("--device", default="auto", choices=("auto", "cpu", "gpu", "tpu"),
                   help="JAX platform to run on (default: JAX's choice)")
    g.add_argument("--dtype", default="auto", choices=("auto", "float32", "float64"),
                   help="solver precision (default float64 on CPU, float32 on accelerators)")
    g.add_argument("-q", "--quiet", action="store_true", help="no progress bars or summaries on stderr")
    g.add_argument("--debug", action="store_true", help="show tracebacks for every error")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``pidjax`` command."""
    from pidjax import __version__

    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="pidjax", formatter_class=fmt, epilog=MAIN_EPILOG,
        description="How much does each modality contribute, layer by layer, and is it unique, "
        "shared (redundant) or synergistic? Exact BROJA partial information decomposition, in bits.",
    )
    parser.add_argument("--version", action="version", version=f"pidjax {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("demo", formatter_class=fmt, help="run the built-in model end to end and write a report",
                       description="Train the small built-in two-modality model on the data shipped with "
                       "pidjax, decompose every layer and write a report.",
                       epilog="examples:\n  pidjax demo --quick\n  pidjax demo --out my-demo --seed 1\n")
    p.add_argument("--out", default="pidjax-demo", help="output folder (default ./pidjax-demo)")
    p.add_argument("--quick", action="store_true", help="smaller settings, about a minute on a laptop")
    _common(p)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("extract", formatter_class=fmt, help="embeddings of a PyTorch / Hugging Face model, per layer",
                       description="Run a local Hugging Face checkpoint (or a model factory) over a data set of "
                       "(text, image, label) rows and write the per-layer, per-modality embeddings folder that "
                       "`pidjax analyze` reads. Needs the 'torch' extra.",
                       epilog=EXTRACT_EPILOG)
    p.add_argument("model", metavar="MODEL",
                   help="checkpoint folder (save_pretrained of model and processor) or 'package.module:factory'")
    p.add_argument("--data", required=True, help="rows file (.csv/.tsv/.jsonl: text, image, label) or a folder holding one")
    p.add_argument("--layout", required=True,
                   help="two-tower (clip), image-tokens (llava, idefics3, smolvlm, paligemma) or segments (vilt)")
    p.add_argument("--out", required=True, help="embeddings folder to write")
    p.add_argument("--batch-size", type=int, default=16, help="rows per forward pass (default 16)")
    p.add_argument("--prompt", default=None,
                   help="text template with {text} and, for image-tokens, {image} (default: the layout's own prompt, "
                   "the image token before the text for image-tokens)")
    p.add_argument("--layers", default=None, help="comma-separated layer names to keep (default: all)")
    p.add_argument("--pairing", default="relative",
                   help="two towers of different depth: 'relative' (default) or explicit 'text:image,...' index pairs")
    p.add_argument("--no-projections", action="store_true", help="two towers: leave out the projected embeddings")
    p.add_argument("--tokens", action="store_true", help="also store token arrays and masks (fused once per layer)")
    p.add_argument("--include-special", action="store_true",
                   help="count special and template tokens (BOS, CLS, image markers) in the modalities")
    p.add_argument("--ablation", action="store_true",
                   help="also store the model's predictions with each modality mean-ablated at each layer")
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    p.add_argument("--torch-device", default="cpu", help="torch device for the model (default cpu; e.g. cuda)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars or summaries on stderr")
    p.add_argument("--debug", action="store_true", help="show tracebacks for every error")
    p.set_defaults(func=cmd_extract)

    p = sub.add_parser("analyze", formatter_class=fmt, help="PID of every layer of saved embeddings",
                       description="Decompose what two modalities carry about the labels at every layer "
                       "of saved embeddings (from any framework), with intervals and baselines.",
                       epilog=ANALYZE_EPILOG)
    p.add_argument("embeddings", metavar="EMBEDDINGS", help=".npz/.safetensors file or folder of them")
    p.add_argument("--labels", default=None, help="label set names in EMBEDDINGS (comma separated) or a labels file")
    p.add_argument("--out", required=True, help="output folder (results, plots, report, manifest)")
    p.add_argument("--modalities", default=None, help="the two modalities, 'first,second' (default: the file's two)")
    p.add_argument("--layers", default=None, help="comma-separated layer names to analyse (default: all)")
    p.add_argument("--states", default="auto",
                   help="discrete states per modality: 'auto' (default: per layer, the counts with the most "
                   "cross-validated information about the labels), 'k' or 'k1,k2'")
    p.add_argument("--bootstrap", type=int, default=0, help="bootstrap resamples for intervals (default 0: none)")
    p.add_argument("--permutations", type=int, default=100,
                   help="label permutations for p-values and the shuffle correction (default 100)")
    est = p.add_argument_group("estimation")
    est.add_argument("--bias", default="shuffle-extrapolation",
                     choices=("shuffle-extrapolation", "extrapolation", "shuffle", "none"),
                     help="bias correction of the reported terms (default shuffle-extrapolation; the plug-in "
                     "values stay in <term>_plugin; see docs/estimation.md)")
    est.add_argument("--splits", type=int, default=8, help="random half/quarter splits for the extrapolation (default 8)")
    est.add_argument("--interval", default="centered", choices=("centered", "percentile", "basic"),
                     help="bootstrap interval kind (default centered: the bootstrap spread placed at the corrected estimate)")
    est.add_argument("--confidence", type=float, default=0.95, help="interval coverage (default 0.95)")
    est.add_argument("--alpha", type=float, default=0.05, help="significance level marked in the report (default 0.05)")
    est.add_argument("--no-check", action="store_true",
                     help="skip the discretisation check (states against a cross-validated probe of the embeddings)")
    p.add_argument("--discretizer", default="kmeans", choices=("kmeans", "quantile"),
                   help="embeddings to states: PCA + k-means, or quantile bins of the first component")
    p.add_argument("--scaling", default="center", choices=("center", "standardize", "whiten"),
                   help="feature scaling before PCA (default center: keep relative variances)")
    p.add_argument("--components", type=int, default=32, help="principal components kept before k-means (default 32)")
    p.add_argument("--method", default=None, help="solver (default: the kernel's default; see pidjax.METHODS)")
    p.add_argument("--restart", action="store_true", help="discard results already in OUT instead of resuming")
    p.add_argument("--no-report", action="store_true", help="write results.json/.csv only, no plots or HTML")
    p.add_argument("--title", default=None, help="title of the HTML report")
    abl = p.add_mutually_exclusive_group()
    abl.add_argument("--ablation", action="store_true",
                     help="put the layer-wise ablation stored in EMBEDDINGS (ablated.<layer>.<modality>, from "
                     "`pidjax extract --ablation`) beside the PID shares; an error if there is none "
                     "(default: used when present)")
    abl.add_argument("--no-ablation", action="store_true", help="ignore a stored ablation")
    p.add_argument("--ablation-labels", default="labels",
                   help="the label set the ablation's accuracy is measured against (default labels)")
    p.add_argument("--drop-empty", action="store_true",
                   help="leave out examples whose mask keeps no token of a chosen modality (default: stop and name them)")
    per = p.add_argument_group("per-sample (token-level) analysis")
    per.add_argument("--per-sample", action="store_true",
                     help="also decompose every example on its own from its token pairs (OUT/samples.csv, .json)")
    per.add_argument("--pairing", default=None, metavar="position|order|FILE.npy",
                     help="REQUIRED with --per-sample, which token of modality 1 goes with which of modality 2: "
                     "'position' (token t with token t), 'order' (the k-th token of each modality's mask), or an "
                     "(N, P, 2) integer .npy of token index pairs, -1 for padding")
    per.add_argument("--sample-target", default=None, metavar="NAME",
                     help="Y of each pair: the array targets.NAME, (N, tokens) integer codes (negative: no target) "
                     "or (N, tokens, d) embeddings (default: the file's only targets.* array)")
    per.add_argument("--sample-target-at", default=None, metavar="MODALITY",
                     help="read the target at this modality's token of each pair (default: modality 2)")
    per.add_argument("--sample-states", default="8", help="token states per modality, 'k' or 'k1,k2' (default 8)")
    per.add_argument("--sample-target-states", type=int, default=8,
                     help="states of embedding targets (N, tokens, d) (default 8)")
    _common(p)
    p.set_defaults(func=cmd_analyze)

    p = sub.add_parser("decompose", formatter_class=fmt, help="PID of joint tables P(x1, x2, y)",
                       description="Decompose joint distribution tables into redundancy, unique and "
                       "synergistic information (bits), with a certified error bound.",
                       epilog=DECOMPOSE_EPILOG)
    p.add_argument("tables", metavar="TABLES", nargs="+", help="table files")
    p.add_argument("--normalize", action="store_true", help="rescale each table to sum to 1 (for counts)")
    p.add_argument("--method", default=None, help="solver (default: the kernel's default)")
    p.add_argument("--tol", type=float, default=None, help="certified tolerance in bits (default 1e-6 in float64)")
    p.add_argument("--max-iters", type=int, default=20_000, help="iteration cap per table (default 20000)")
    p.add_argument("--out", default=None, help="also write the results to this .json or .csv file")
    p.add_argument("--format", default="text", choices=("text", "json", "csv"), help="stdout format (default text)")
    _common(p, seed=False)
    p.set_defaults(func=cmd_decompose)

    p = sub.add_parser("bench", formatter_class=fmt, help="side-by-side benchmark against reference solvers",
                       description="Run the benchmark suite of the repository (benchmarks/) against the "
                       "reference solvers; needs a checkout of the repository and the 'bench' extra.",
                       epilog="examples:\n  pidjax bench\n  pidjax bench --suite smoke --out /tmp/bench\n")
    p.add_argument("--suite", default="quick", choices=("smoke", "quick", "full"), help="which suite (default quick)")
    p.add_argument("--out", default=None, help="output folder (default benchmarks/results/local/...)")
    p.add_argument("--repo", default=None, help="repository root holding benchmarks/ (default: found automatically)")
    p.add_argument("--debug", action="store_true", help="show tracebacks for every error")
    p.set_defaults(func=cmd_bench)
    return parser


# --------------------------------------------------------------------------- helpers


def _setup_jax(args) -> str:
    """Apply --device/--dtype before any computation; return the dtype name to solve in."""
    import jax

    if args.device != "auto":
        platform = {"gpu": "cuda"}.get(args.device, args.device)
        jax.config.update("jax_platforms", platform)
    try:
        backend = jax.default_backend()
    except RuntimeError:
        raise UserError(f"--device {args.device}: no such device is available to JAX here") from None
    dtype = args.dtype if args.dtype != "auto" else ("float64" if backend == "cpu" else "float32")
    if dtype == "float64":
        jax.config.update("jax_enable_x64", True)
    return dtype


def _progress(iterable, args, **kw):
    from tqdm.auto import tqdm

    return tqdm(iterable, disable=args.quiet, file=sys.stderr, dynamic_ncols=True, **kw)


def _info(args, text: str):
    if not args.quiet:
        print(text, file=sys.stderr)


def _parse_states(text: str):
    if str(text).strip() == "auto":
        return "auto"
    try:
        parts = [int(p) for p in str(text).split(",")]
    except ValueError:
        raise UserError(f"--states must be an integer or two integers 'k1,k2'; got {text!r}") from None
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2 or min(parts) < 2:
        raise UserError(f"--states needs one or two integers >= 2; got {text!r}")
    return parts[0], parts[1]


def _check_method(method):
    import pidjax

    if method is not None and method not in pidjax.METHODS:
        raise UserError(f"unknown --method {method!r}; choose from {', '.join(pidjax.METHODS)}")


def _check_out_dir(path: Path):
    if path.exists() and not path.is_dir():
        raise UserError(f"output folder {path} exists and is a file; choose another --out")


# --------------------------------------------------------------------------- decompose


def cmd_decompose(args) -> int:
    """``pidjax decompose``: PID of each table in each file; print and optionally save."""
    import numpy as np

    from pidjax.io import load_tables

    _check_method(args.method)
    if args.out and Path(args.out).suffix.lower() not in (".json", ".csv"):
        raise UserError(f"--out must end in .json or .csv; got {args.out}")
    tables = []
    for path in args.tables:
        for name, arr in load_tables(path).items():
            tables.append((path, name, arr))
    dtype = _setup_jax(args)
    import pidjax

    kw = {"tol": args.tol, "max_iters": args.max_iters, "normalize": args.normalize, "dtype": dtype}
    if args.method:
        kw["method"] = args.method
    cols: dict[str, list] = {k: [] for k in ("file", "table", "index", "m", "n", "k", *_RESULT_FIELDS)}
    for path, name, arr in _progress(tables, args, desc="tables", unit="table", leave=False):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                res = pidjax.decompose(arr, **kw)
        except ValueError as exc:
            hint = " (use --normalize for counts)" if "sum" in str(exc) and not args.normalize else ""
            msg = str(exc).replace("; pass normalize=True to rescale", "")
            raise UserError(f"{path}: table {name!r}: {msg}{hint}") from None
        batch = arr.shape[:-3]
        for idx in np.ndindex(*batch) if batch else [()]:
            cols["file"].append(str(path))
            cols["table"].append(name)
            cols["index"].append(",".join(map(str, idx)))
            for axis, key in zip(arr.shape[-3:], ("m", "n", "k")):
                cols[key].append(int(axis))
            for field in _RESULT_FIELDS:
                val = np.asarray(getattr(res, field))[idx]
                cols[field].append(bool(val) if field == "converged" else int(val) if field == "iterations" else float(val))
    table = {k: np.asarray(v) for k, v in cols.items()}
    if args.out:
        from pidjax.report.tables import write_csv, write_json

        out = Path(args.out)
        if out.parent and not out.parent.exists():
            raise UserError(f"folder {out.parent} does not exist for --out {out}")
        (write_json(table, out, {"command": "decompose", **{k: v for k, v in kw.items()}})
         if out.suffix.lower() == ".json" else write_csv(table, out))
    _print_tables(table, args.format)
    bad = int((~table["converged"]).sum())
    if bad:
        print(f"pidjax decompose: {bad} of {len(table['converged'])} tables did not reach the tolerance "
              "(see bound; raise --max-iters)", file=sys.stderr)
        return EXIT_NOT_CONVERGED
    return EXIT_OK


_RESULT_FIELDS = ("redundancy", "unique_1", "unique_2", "synergy", "mutual_info_1", "mutual_info_2",
                  "mutual_info_joint", "bound", "iterations", "converged")


def _print_tables(table: dict, fmt: str):
    from pidjax.report.tables import records

    rows = records(table)
    if fmt == "json":
        print(json.dumps(rows, indent=1))
        return
    if fmt == "csv":
        import csv

        writer = csv.writer(sys.stdout)
        writer.writerow(list(table))
        for r in rows:
            writer.writerow(list(r.values()))
        return
    head = f"{'table':<24} {'R':>9} {'U1':>9} {'U2':>9} {'S':>9} {'I(X1X2;Y)':>10} {'bound':>9}  ok"
    print(head)
    def f(v):
        return round(v, 6) + 0.0  # no "-0.000000"

    for r in rows:
        name = r["table"] + (f"[{r['index']}]" if r["index"] else "")
        print(f"{name[:24]:<24} {f(r['redundancy']):9.6f} {f(r['unique_1']):9.6f} {f(r['unique_2']):9.6f} "
              f"{f(r['synergy']):9.6f} {f(r['mutual_info_joint']):10.6f} {r['bound']:9.1e}  {'yes' if r['converged'] else 'NO'}")
    print("(bits; each term is certified within 'bound')")


# --------------------------------------------------------------------------- analyze


def _resolve_labels(emb, spec, keep=None) -> dict:
    """``{label set name: (N,) int codes}`` from --labels; with ``keep`` ((N,) bool), the codes
    of the kept examples only (coded after the cut, so no class is left without examples)."""
    import numpy as np

    from pidjax.io import label_codes, read_labels

    if spec is None:
        if not emb.label_sets:
            raise UserError("the embeddings hold no labels: pass --labels FILE or store a 'labels' array")
        chosen = dict(emb.label_sets)
    elif Path(spec).is_file():
        chosen = read_labels(spec)
    else:
        chosen = {}
        for name in [s.strip() for s in spec.split(",") if s.strip()]:
            key = name[len("labels."):] if name.startswith("labels.") else name
            if key not in emb.label_sets:
                looks_like_file = any(c in name for c in "/\\") or Path(name).suffix
                if looks_like_file:
                    raise UserError(f"no such labels file: {name}")
                have = ", ".join(emb.label_sets) or "none"
                raise UserError(f"unknown label set {name!r}; the embeddings have: {have}")
            chosen[key] = emb.label_sets[key]
        if not chosen:
            raise UserError("--labels is empty")
    out = {}
    for name, values in chosen.items():
        values = np.asarray(values)
        if values.ndim == 1 and values.shape[0] != emb.n_samples:
            raise UserError(f"label set {name!r} has {values.shape[0]} labels but the embeddings have N={emb.n_samples} examples")
        codes, classes = label_codes(values if keep is None or values.ndim != 1 else values[keep])
        if len(classes) < 2:
            kept = "" if keep is None else " among the examples kept"
            if spec is None and len(chosen) > 1:  # found, not asked for: leave it out and say so
                print(f"pidjax analyze: note: label set {name!r} has a single class{kept} ('{classes[0]}') and "
                      "carries no information; left out", file=sys.stderr)
                continue
            raise UserError(f"label set {name!r} has a single class{kept}; the decomposition needs at least two")
        out[name] = codes
    if not out:
        raise UserError("every label set has a single class; the decomposition needs at least two")
    return out


def _analyze_layer(e1, e2, labels: dict, settings: dict, seed: int) -> tuple[list[dict], list[str]]:
    """The analysis of one layer: JSON-ready rows (one per label set) and the warnings raised."""
    try:
        from pidjax.analysis import layer_sweep
    except ImportError:
        from pidjax.analysis.sweep import layer_sweep
    from pidjax.report.tables import records

    kwargs = {"method": settings["method"]} if settings.get("method") else {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = layer_sweep(
            {settings["layer"]: (e1, e2)},
            labels,
            n_states=settings["states"] if settings["states"] == "auto" else tuple(settings["states"]),
            discretizer=settings["discretizer"],
            n_components=settings["components"],
            scaling=settings["scaling"],
            n_bootstrap=settings["bootstrap"],
            n_permutations=settings["permutations"],
            bias=settings["bias"],
            n_splits=settings["splits"],
            interval_method=settings["interval"],
            confidence=settings["confidence"],
            alpha=settings["alpha"],
            check_discretization=settings["check"],
            seed=seed,
            **kwargs,
        )
    notes = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    return records(table), notes


def cmd_analyze(args) -> int:
    """``pidjax analyze``: resumable layer sweep of saved embeddings (and per-sample PID), then the report."""
    from pidjax.io import layer_embeddings, load_embeddings, select_modalities, subset_examples
    from pidjax.resume import SAMPLE_DIR, finish_sweep, hash_inputs, layer_seed, read_rows, start_sweep, write_layer

    out = Path(args.out)
    _check_out_dir(out)
    states = _parse_states(args.states)
    if args.bootstrap < 0 or args.permutations < 0:
        raise UserError("--bootstrap and --permutations must be >= 0")
    if args.components < 1:
        raise UserError("--components must be >= 1")
    if "shuffle" in args.bias and args.permutations < 1:
        raise UserError(f"--bias {args.bias} subtracts the label-permutation mean: give --permutations >= 1 "
                        "(default 100), or --bias extrapolation / none")
    if args.splits < 1:
        raise UserError("--splits must be >= 1")
    if not 0 < args.confidence < 1 or not 0 < args.alpha < 1:
        raise UserError("--confidence and --alpha must be between 0 and 1")
    _check_method(args.method)
    _check_sample_options(args)
    emb = load_embeddings(args.embeddings)
    m1, m2 = select_modalities(emb, args.modalities)
    keep, dropped = _examples_to_keep(emb, (m1, m2), args)
    labels = _resolve_labels(emb, args.labels, keep)
    layers = list(emb.layers)
    if args.layers:
        wanted = [s.strip() for s in args.layers.split(",") if s.strip()]
        unknown = [w for w in wanted if w not in emb.layers]
        if unknown:
            raise UserError(f"unknown layer {unknown[0]!r}; the embeddings have {', '.join(layers[:12])}"
                            + (" ..." if len(layers) > 12 else ""))
        layers = wanted
    n_file = emb.n_samples
    if keep is not None:
        emb = subset_examples(emb, keep)
    plan = _sample_plan(emb, args, (m1, m2), layers, keep, n_file) if args.per_sample else None
    dtype = _setup_jax(args)

    sources = [args.embeddings] + ([args.labels] if args.labels and Path(args.labels).is_file() else [])
    if plan is not None and plan["file"]:
        sources.append(plan["file"])
    inputs = hash_inputs(sources)
    settings = {"modalities": [m1, m2], "layers": layers, "label_sets": list(labels),
                "states": states if states == "auto" else list(states),
                "discretizer": args.discretizer, "components": args.components, "scaling": args.scaling,
                "bootstrap": args.bootstrap, "permutations": args.permutations, "bias": args.bias,
                "splits": args.splits, "interval": args.interval, "confidence": args.confidence, "alpha": args.alpha,
                "check": not args.no_check, "method": args.method, "dtype": dtype}
    if dropped:  # only when some example is left out, so runs that drop nothing resume either way
        settings["dropped_examples"] = {k: dropped[k] for k in ("count", "of", "masks", "sha256")}
    if plan is not None:
        settings["per_sample"] = plan["settings"]
    done = start_sweep(out, inputs, settings, args.seed, restart=args.restart)
    done_samples = read_rows(out, SAMPLE_DIR) if plan is not None else {}
    if plan is None:
        for name in ("samples.json", "samples.csv", "samples.png"):  # left by an earlier run: not this one's
            (out / name).unlink(missing_ok=True)
    sampled = set(plan["layers"]) if plan is not None else set()
    pending = [(index, layer) for index, layer in enumerate(layers)
               if index not in done or (layer in sampled and index not in done_samples)]
    if len(pending) < len(layers):
        _info(args, f"resuming: {len(layers) - len(pending)} of {len(layers)} layers already in {out}")
    if plan is not None:
        _info(args, plan["summary"])
    die_after = int(os.environ.get("PIDJAX_TEST_KILL_AFTER", "0") or 0)  # test hook: SIGKILL mid-sweep
    written, seen_notes = 0, []

    def note(layer, text):
        if text not in seen_notes:
            seen_notes.append(text)
            _info(args, f"pidjax analyze: warning: layer {layer}: {text}")

    for index, layer in _progress(pending, args, desc="layers", unit="layer", total=len(layers),
                                  initial=len(layers) - len(pending)):
        if index not in done:
            e1, e2 = layer_embeddings(emb, layer, (m1, m2))
            rows, notes = _analyze_layer(e1, e2, labels, {**settings, "layer": layer}, layer_seed(args.seed, layer))
            for row in rows:
                row["layer"] = layer
            for text in notes:
                note(layer, text)
            write_layer(out, index, layer, rows)
            done[index] = rows
        if layer in sampled and index not in done_samples:
            rows, notes = _sample_layer(emb, layer, (m1, m2), plan, settings, layer_seed(args.seed, f"samples:{layer}"))
            for text in notes:
                note(layer, f"per-sample: {text}")
            write_layer(out, index, layer, rows, part=SAMPLE_DIR)
            done_samples[index] = rows
        written += 1
        if die_after and written >= die_after:
            os.kill(os.getpid(), signal.SIGKILL)
    table = _table([row for index in sorted(done) for row in done[index]])
    from pidjax.analysis import contribution_scores

    ablation = _stored_ablation(emb, (m1, m2), layers, args)
    # per-row shares U_i / I(X1,X2;Y), R and S shares; the accuracy drops beside them when stored
    table = dict(contribution_scores(table, ablation=ablation) if ablation else contribution_scores(table))
    extra = {"embeddings": str(args.embeddings), "n_samples": emb.n_samples}
    if dropped:
        extra.update(n_samples_in_file=n_file, dropped_examples=dropped)
    manifest = finish_sweep(out, extra)
    from pidjax.report import write_csv, write_json, write_report

    title = args.title or f"pidjax: {Path(args.embeddings).name} ({m1} vs {m2})"
    samples, extra_images = {}, {}
    if plan is not None:
        samples = _table([row for index in sorted(done_samples) for row in done_samples[index]])
        write_json(samples, out / "samples.json", {**manifest, "per_sample": plan["stated"]})
        write_csv(samples, out / "samples.csv")
        if not args.no_report:
            from pidjax.report.samples import plot_samples

            extra_images["samples"] = (plot_samples(samples, out / "samples.png", modalities=(m1, m2)),
                                       f"Per-sample PID: median and quartiles over examples per layer. {plan['summary']}")
    if args.no_report:
        write_json(table, out / "results.json", manifest)
        write_csv(table, out / "results.csv")
    else:
        write_report(table, out, title=title, meta=manifest, modalities=(m1, m2), extra_images=extra_images)
    _summarise(table, args, out, per_sample=plan is not None)
    bad = [f"{int((~t['converged'].astype(bool)).sum())} {what}" for what, t in (("rows", table), ("per-sample rows", samples))
           if "converged" in t and not t["converged"].astype(bool).all()]
    if bad:
        print(f"pidjax analyze: {' and '.join(bad)} did not reach the solver tolerance (see the bound column)", file=sys.stderr)
        return EXIT_NOT_CONVERGED
    return EXIT_OK


def _table(rows: list[dict]) -> dict:
    import numpy as np

    columns = list(dict.fromkeys(k for row in rows for k in row))
    return {c: np.array([_nan(row.get(c)) for row in rows]) for c in columns}


def _examples_to_keep(emb, modalities, args):
    """``(keep (N,) bool or None, record)``: the examples whose chosen masks keep a token.

    Without --drop-empty an empty mask stops the run here, once, before any layer is read.
    """
    import hashlib

    import numpy as np

    from pidjax.io import empty_masks

    empty = empty_masks(emb, modalities)
    if not empty:
        return None, {}
    n = emb.n_samples
    bad = np.unique(np.concatenate(list(empty.values())))
    named = (next(iter(empty)) if len(empty) == 1
             else " or ".join(f"{key} ({len(rows)})" for key, rows in empty.items()))
    if not args.drop_empty:
        first = int(bad[0])
        which = next(key for key, rows in empty.items() if first in rows)
        raise UserError(f"{which} keeps no token for example {first}; {len(bad)} of {n} examples have a mask that "
                        f"keeps no token ({named}): pass --drop-empty to leave them out")
    if len(bad) == n:
        raise UserError(f"every one of the {n} examples has a mask that keeps no token ({named}): nothing to analyse")
    keep = np.ones(n, bool)
    keep[bad] = False
    _info(args, f"dropped {len(bad)} of {n} examples whose {named} keeps no token")
    record = {"count": int(len(bad)), "of": int(n), "masks": {k: int(len(v)) for k, v in empty.items()},
              "sha256": hashlib.sha256(bad.astype(np.int64).tobytes()).hexdigest()}
    if len(bad) <= 1000:
        record["indices"] = bad.astype(int).tolist()
    return keep, record


def _check_sample_options(args):
    given = [f"--{k.replace('_', '-')}" for k in ("pairing", "sample_target", "sample_target_at")
             if getattr(args, k) is not None]
    if not args.per_sample:
        if given:
            raise UserError(f"{given[0]} only applies with --per-sample")
        return
    if args.pairing is None:
        raise UserError("--per-sample needs --pairing position|order|FILE.npy: nothing in two tokenised modalities "
                        "says which token goes with which, so the rule must be stated")
    if args.sample_target_states < 2:
        raise UserError("--sample-target-states must be >= 2")
    try:
        auto = _parse_states(args.sample_states) == "auto"
    except UserError as exc:
        raise UserError(str(exc).replace("--states", "--sample-states")) from None
    if auto:
        raise UserError("--sample-states needs one or two integers >= 2 ('auto' is for the layer sweep)")


def _sample_plan(emb, args, modalities, layers, keep, n_file) -> dict:
    """What --per-sample needs that no layer changes: the token pairs of every example, the target
    of each pair, which examples have a valid pair, and the sentences that state the choices.

    Returns:
      ``{"pairs" (E, P, 2) int64 (-1: no pair), "targets" (E, P) codes or (E, P, d) floats,
      "mask_1"/"mask_2" (E, T1)/(E, T2) bool, "rows" (E,) the kept examples' indices in ``emb``,
      "examples" (E,) their indices in the file, "layers" (the token-level ones of the chosen
      layers), "stated", "settings", "summary", "file"}``.
    """
    import hashlib

    import numpy as np

    from pidjax.analysis.profiles import token_pairs

    m1, m2 = modalities
    n = emb.n_samples
    pooled = [(layer, mod) for layer in layers for mod in modalities if len(emb.layers[layer][mod].shape) != 3]
    if pooled and (args.layers or len({layer for layer, _ in pooled}) == len(layers)):
        layer, mod = pooled[0]
        raise UserError(f"--per-sample needs token-level arrays (N, T, D) with masks; layer.{layer}.{mod} is pooled, "
                        f"shape {tuple(emb.layers[layer][mod].shape)}" + (" (leave it out of --layers)" if args.layers else ""))
    skipped = list(dict.fromkeys(layer for layer, _ in pooled))  # e.g. a two-tower "proj" layer
    layers = [layer for layer in layers if layer not in skipped]
    axes = {}
    for layer in layers:
        for mod in modalities:
            shape = tuple(emb.layers[layer][mod].shape)
            if axes.setdefault(mod, (layer, shape[1]))[1] != shape[1]:
                first, t = axes[mod]
                raise UserError(f"--per-sample needs the same token count at every layer: layer.{first}.{mod} has "
                                f"{t} tokens, layer.{layer}.{mod} has {shape[1]} (choose layers with --layers)")
    t1, t2 = axes[m1][1], axes[m2][1]
    masks = [np.asarray(emb.masks[m]) != 0 if m in emb.masks else np.ones((n, t), bool)
             for m, t in ((m1, t1), (m2, t2))]
    fused = all(emb.layers[layer][m1] is emb.layers[layer][m2] for layer in layers)
    rows_all = np.arange(n)
    path = None
    if args.pairing == "position":
        if t1 != t2:
            raise UserError(f"--pairing position pairs token t of {m1} with token t of {m2}, but they have {t1} and "
                            f"{t2} tokens: use --pairing order or an alignment FILE.npy")
        pairs = token_pairs("position", *masks)
        stated = f"position: token t of {m1} with token t of {m2}"
    elif args.pairing == "order":
        pairs = token_pairs("order", *masks)
        stated = (f"order: the k-th {m1} token with the k-th {m2} token, counted along each modality's mask "
                  "(tokens past the shorter one are unpaired)")
    else:
        path = Path(args.pairing)
        if path.suffix.lower() != ".npy" or not path.is_file():
            raise UserError(f"--pairing must be 'position', 'order' or an existing .npy file; got {args.pairing!r}")
        from pidjax.io import open_arrays

        pairs = np.asarray(next(iter(open_arrays(path).values())))
        if pairs.ndim != 3 or pairs.shape[0] != n_file or pairs.shape[2] != 2 or not np.issubdtype(pairs.dtype, np.integer):
            raise UserError(f"--pairing {path}: expected integer (N={n_file}, P, 2) token index pairs "
                            f"({m1} token, {m2} token), -1 for padding; got {pairs.dtype} {pairs.shape}")
        for side, (mod, t) in enumerate(((m1, t1), (m2, t2))):
            if (pairs[..., side] >= t).any():
                raise UserError(f"--pairing {path}: a pair refers to {mod} token {int(pairs[..., side].max())} but "
                                f"{mod} has {t} tokens{' (indices count along the fused token axis)' if fused else ''}")
        pairs = pairs.astype(np.int64)[keep] if keep is not None else pairs.astype(np.int64)
        stated = f"alignment {path.name}: (N, P, 2) index pairs ({m1} token, {m2} token)"
    name, at = _sample_target(emb, args, modalities)
    side = modalities.index(at)
    target = emb.targets[name]
    t_at = (t1, t2)[side]
    if target.shape[1] != t_at:
        raise UserError(f"targets.{name} has {target.shape[1]} tokens but {at} has {t_at}: the target of a pair is "
                        f"read at its {at} token (--sample-target-at)")
    safe = np.where(pairs >= 0, pairs, 0)
    y = np.asarray(target)[rows_all[:, None], safe[..., side]]
    valid = (pairs >= 0).all(-1) & masks[0][rows_all[:, None], safe[..., 0]] & masks[1][rows_all[:, None], safe[..., 1]]
    if y.ndim == 2:
        if np.issubdtype(y.dtype, np.floating):
            if not np.all(np.isfinite(y[valid]) & (y[valid] == np.round(y[valid]))):
                raise UserError(f"targets.{name} is (N, tokens) but not integer codes: store integer codes, or "
                                "(N, tokens, d) embeddings to discretise")
            y = y.astype(np.int64)
        if np.issubdtype(y.dtype, np.integer):
            valid &= y >= 0
        classes, codes = np.unique(y[valid], return_inverse=True)
        targets = np.zeros(y.shape, np.int64)
        targets[valid] = codes
        k = len(classes)
        stated_y = f"targets.{name} at the {at} token of each pair ({k} codes; negative codes: no target)"
    else:
        valid &= np.isfinite(y).all(-1)
        targets = np.where(valid[..., None], y, 0).astype(np.float32)
        k = args.sample_target_states
        stated_y = f"targets.{name} at the {at} token of each pair (embeddings, discretised into {k} states)"
    pairs = np.where(valid[..., None], pairs, -1)
    counts = valid.sum(1)
    empty = np.flatnonzero(counts == 0)
    kept_in_file = rows_all if keep is None else np.flatnonzero(keep)
    record = {}
    if empty.size:
        where = f"under --pairing {args.pairing}" + (" with a target" if y.ndim == 2 else "")
        hint = (f" ({m1} and {m2} tokens of a fused array never share a position: use --pairing order or an "
                "alignment)" if fused and args.pairing == "position" else "")
        if empty.size == n:
            raise UserError(f"per-sample: none of the {n} examples has a valid token pair {where}{hint}")
        if not args.drop_empty:
            raise UserError(f"per-sample: example {int(kept_in_file[empty[0]])} has no valid token pair {where} "
                            f"({empty.size} of {n} examples){hint}: check --pairing and the targets, or pass "
                            "--drop-empty to leave them out of the per-sample table")
        record = {"dropped_no_pair": int(empty.size),
                  "sha256": hashlib.sha256(kept_in_file[empty].astype(np.int64).tobytes()).hexdigest()}
    if y.ndim == 2 and k < 2:
        raise UserError(f"targets.{name} takes a single value on every valid pair: every term would be 0")
    rows = np.flatnonzero(counts > 0)
    sample_states = _parse_states(args.sample_states)
    cells = sample_states[0] * sample_states[1] * k
    summary = (f"per-sample: pairs by {stated}; Y = {stated_y}; {rows.size} examples with "
               f"{int(counts[rows].min())}-{int(counts[rows].max())} valid pairs each for {cells} cells: per-example "
               "values are strongly biased upwards, compare examples with each other")
    if empty.size:
        summary += f"; left out {empty.size} examples with no valid pair"
    if skipped:
        summary += f"; pooled layers without tokens skipped: {', '.join(skipped)}"
    settings = {"pairing": args.pairing if path is None else f"file:{path.name}", "target": name, "target_at": at,
                "states": list(sample_states), "target_states": k if y.ndim == 3 else None, **record}
    return {"pairs": pairs[rows], "targets": targets[rows], "mask_1": masks[0][rows], "mask_2": masks[1][rows],
            "rows": rows, "examples": kept_in_file[rows], "layers": layers,
            "stated": {"pairing": stated, "target": stated_y, **record},
            "settings": settings, "summary": summary, "file": str(path) if path else None,
            "pairing_name": args.pairing if path is None else f"file:{path.name}", "target_name": f"targets.{name}",
            "states": sample_states, "target_states": int(args.sample_target_states)}


def _sample_target(emb, args, modalities) -> tuple[str, str]:
    """``(target name, modality whose token reads it)`` from --sample-target / --sample-target-at."""
    have = ", ".join(f"targets.{k}" for k in emb.targets) or "none"
    name = args.sample_target
    if name is None:
        if len(emb.targets) != 1:
            raise UserError("--per-sample needs a per-token target Y: store targets.<name> (N, tokens) codes or "
                            f"(N, tokens, d) embeddings and pass --sample-target NAME (targets found: {have})")
        name = next(iter(emb.targets))
    name = name[len("targets."):] if name.startswith("targets.") else name
    if name not in emb.targets:
        label = name[len("labels."):] if name.startswith("labels.") else name
        if label in emb.label_sets:
            raise UserError(f"--sample-target {name}: a label set is one value per example, the same for every pair "
                            "of that example, so every per-sample term would be 0; store a per-token targets.<name>")
        raise UserError(f"unknown --sample-target {name!r}; the embeddings have: {have}")
    at = args.sample_target_at or modalities[1]
    if at not in modalities:
        raise UserError(f"--sample-target-at {at!r} must be one of the two modalities, {modalities[0]} or {modalities[1]}")
    return name, at


def _sample_layer(emb, layer, modalities, plan: dict, settings: dict, seed: int) -> tuple[list[dict], list[str]]:
    """Per-sample PID of one layer: JSON-ready rows (one per example) and the warnings raised."""
    import numpy as np

    from pidjax.analysis import sample_profiles
    from pidjax.report.tables import records

    m1, m2 = modalities
    a1, a2 = emb.layers[layer][m1], emb.layers[layer][m2]
    x1 = np.asarray(a1[plan["rows"]], np.float32)
    x2 = x1 if a2 is a1 else np.asarray(a2[plan["rows"]], np.float32)  # a fused layer is read once
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = sample_profiles(x1, x2, plan["targets"], pairing=plan["pairs"], n_states=plan["states"],
                                n_targets=plan["target_states"], mask_1=plan["mask_1"], mask_2=plan["mask_2"],
                                bias=settings["bias"], n_permutations=settings["permutations"],
                                n_splits=settings["splits"], seed=seed, method=settings.get("method"))
    notes = [str(w.message) for w in caught if issubclass(w.category, UserWarning)
             and not str(w.message).startswith("sample-level PID pairs tokens by")]  # stated once, up front
    rows = []
    for example, row in zip(plan["examples"], records(table)):
        row.pop("example", None)
        rows.append({"layer": layer, "example": int(example), **row,
                     "pairing": plan["pairing_name"], "target": plan["target_name"]})
    return rows, notes


def _nan(v):
    return float("nan") if v is None else v


def _stored_ablation(emb, modalities, layers, args):
    """The per-layer accuracy drops of a stored layer-wise ablation, or ``None`` (then said so)."""
    import numpy as np

    from pidjax.analysis import ablation_from_predictions

    stored = {layer: emb.ablated[layer] for layer in layers if layer in emb.ablated}
    if args.no_ablation:
        return None
    if not stored:
        if args.ablation:
            raise UserError("--ablation: the embeddings hold no ablated.<layer>.<modality> predictions for the "
                            "analysed layers; extract them with `pidjax extract ... --ablation`")
        _info(args, "no ablation was run (none stored in the embeddings); the report shows PID shares only")
        return None
    name = args.ablation_labels
    for what in (name, "predictions"):
        if what not in emb.label_sets:
            raise UserError(f"the stored ablation needs label sets {name!r} and 'predictions' in the embeddings; "
                            f"{what!r} is missing (choose one with --ablation-labels, or --no-ablation)")
    m1, m2 = modalities
    missing = [f"{layer}.{m}" for layer, mods in stored.items() for m in (m1, m2) if m not in mods]
    if missing:
        raise UserError(f"the stored ablation lacks ablated.{missing[0]} (--no-ablation ignores it)")
    scores = ablation_from_predictions({layer: {1: np.asarray(mods[m1]), 2: np.asarray(mods[m2])}
                                        for layer, mods in stored.items()},
                                       np.asarray(emb.label_sets["predictions"]), np.asarray(emb.label_sets[name]))
    _info(args, f"layer-wise ablation stored for {len(stored)} of {len(layers)} layers: accuracy drops against "
          f"{name!r} beside the PID shares")
    return scores


def _summarise(table, args, out: Path, per_sample: bool = False):
    if args.quiet:
        return
    print(f"wrote {out / 'results.json'} and {out / 'results.csv'}"
          + (f", {out / 'samples.json'} and {out / 'samples.csv'}" if per_sample else "")
          + ("" if args.no_report else f"; report: {out / 'report.html'}"), file=sys.stderr)


# --------------------------------------------------------------------------- demo and bench


def cmd_demo(args) -> int:
    """``pidjax demo``: the built-in model end to end."""
    _check_out_dir(Path(args.out))
    _setup_jax(args)
    try:
        from pidjax.demo import run_demo
    except ImportError as exc:
        raise UserError(f"the demo is not available in this installation ({exc})") from None
    result = run_demo(args.out, quick=args.quick, seed=args.seed)
    report = (result or {}).get("report") or (result or {}).get("html") if isinstance(result, dict) else None
    _info(args, f"demo written to {args.out}" + (f"; open {report}" if report else ""))
    return EXIT_OK


def _parse_pairing(text: str):
    if text == "relative":
        return "relative"
    try:
        pairs = [tuple(int(v) for v in part.split(":")) for part in text.split(",") if part.strip()]
    except ValueError:
        pairs = []
    if not pairs or any(len(p) != 2 for p in pairs):
        raise UserError(f"--pairing must be 'relative' or index pairs 'text:image,...' such as 0:0,1:2; got {text!r}")
    return pairs


def cmd_extract(args) -> int:
    """``pidjax extract``: a Hugging Face model over rows of (text, image, label) into an embeddings folder."""
    if args.batch_size < 1:
        raise UserError("--batch-size must be >= 1")
    pairing = _parse_pairing(args.pairing)
    out = Path(args.out)
    _check_out_dir(out)
    try:
        from pidjax.adapters._hf_checkpoint import extract_rows, load_checkpoint
        from pidjax.adapters._rows import read_rows
        from pidjax.adapters.torch import layout_for
    except ImportError as exc:
        raise UserError(f"pidjax extract needs torch and transformers: pip install 'pidjax[torch]' ({exc})") from None
    try:
        layout = layout_for(args.layout)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    rows = read_rows(args.data)
    _info(args, f"{len(rows.texts)} rows from {rows.source}; loading {args.model}")
    if args.quiet:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    model, processor = load_checkpoint(args.model)
    if args.torch_device != "cpu":
        model.to(args.torch_device)
    options = {"pairing": pairing, "projections": not args.no_projections, "tokens": args.tokens,
               "include_special": args.include_special, "ablation": args.ablation}
    if args.layers:
        options["layers"] = [s.strip() for s in args.layers.split(",") if s.strip()]
    result = extract_rows(model, processor, rows, layout, out, batch_size=args.batch_size, prompt=args.prompt,
                          overwrite=args.overwrite, progress=not args.quiet, **options)
    _info(args, f"wrote {len(result.layers)} layers of {len(rows.texts)} examples to {out}"
          + (" (with layer-wise ablation)" if args.ablation else "")
          + f"; next: pidjax analyze {out} --modalities text,image --out runs/{out.name}")
    return EXIT_OK


def find_repo(start=None) -> Path | None:
    """The repository root holding ``benchmarks/run.py``: next to the package, or above ``start``."""
    candidates = [Path(__file__).resolve().parent.parent]
    here = Path(start or os.getcwd()).resolve()
    candidates += [here, *here.parents]
    for root in candidates:
        if (root / "benchmarks" / "run.py").is_file():
            return root
    return None


def cmd_bench(args) -> int:
    """``pidjax bench``: run ``python -m benchmarks.run`` from the repository checkout."""
    root = Path(args.repo) if args.repo else find_repo()
    if root is None or not (root / "benchmarks" / "run.py").is_file():
        raise UserError("benchmarks/ not found: `pidjax bench` runs from a checkout of the pidjax repository "
                        "(pass --repo PATH, or run inside the checkout)")
    cmd = [sys.executable, "-m", "benchmarks.run", "--suite", args.suite]
    if args.out:
        _check_out_dir(Path(args.out))
        cmd += ["--out", str(Path(args.out).resolve())]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    proc = subprocess.run(cmd, cwd=root, env=env)
    if proc.returncode != 0:
        print(f"pidjax bench: the benchmark exited with status {proc.returncode}", file=sys.stderr)
        return EXIT_INTERNAL if proc.returncode > 0 else EXIT_INTERRUPTED
    return EXIT_OK


# --------------------------------------------------------------------------- entry point


def main(argv=None) -> int:
    """Run the ``pidjax`` command with ``argv`` (default ``sys.argv[1:]``); return the exit code.

    Example:
      >>> main(["decompose", "tables.npz"])  # doctest: +SKIP
      0
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    from pidjax.io import InputError

    try:
        return args.func(args)
    except KeyboardInterrupt:
        hint = " (run the same command again to resume)" if args.command == "analyze" else ""
        print(f"pidjax {args.command}: interrupted{hint}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (UserError, InputError, ValueError, OSError) as exc:
        if getattr(args, "debug", False):
            traceback.print_exc()
        msg = " ".join(str(exc).split()) or type(exc).__name__
        if isinstance(exc, OSError) and exc.filename and str(exc.filename) not in msg:
            msg = f"{exc.filename}: {msg}"
        print(f"pidjax {args.command}: error: {msg}", file=sys.stderr)
        return EXIT_USAGE
    except Exception:  # a bug in pidjax: show where
        traceback.print_exc()
        print(f"pidjax {args.command}: internal error (a bug; please report it with the traceback above)", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
