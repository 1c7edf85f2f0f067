"""The ``pidjax`` command: ``demo``, ``analyze``, ``decompose`` and ``bench``.

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
  mask.<modality>            (N, tokens), optional         token mask for mean pooling
  labels, labels.<name>, predictions   (N,)                label sets
Files are memory-mapped and read one layer at a time.

--labels picks label sets: names stored in EMBEDDINGS (comma separated), or a separate file
(.npy, .npz, .safetensors, .txt/.csv with one label per line). Default: every label set found.

The sweep is resumable: results are written to OUT/layers/ as each layer finishes; run the
same command again after an interruption and it continues where it stopped. OUT/manifest.json
records input hashes, settings, versions and the seed.

examples:
  pidjax analyze emb.npz --labels labels --out runs/a
  pidjax analyze emb.safetensors --labels predictions --states 6,10 --bootstrap 100 --permutations 50 --out runs/b
  pidjax analyze emb_dir/ --labels y.npy --modalities image,text --layers 0,6,12 --out runs/c
  pidjax analyze emb.npz --out runs/a --restart      # throw away runs/a and start again
  pidjax analyze emb.npz --states 8 --bias shuffle --bootstrap 200 --interval percentile --out runs/d

Reported terms are bias-corrected (--bias; raw values in <term>_plugin); with --permutations > 0 every
term gets a permutation p-value <term>_p, and the report marks terms with p > --alpha as not significant.

writes: OUT/results.json, OUT/results.csv, OUT/*.png, OUT/report.html, OUT/manifest.json
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


def _resolve_labels(emb, spec) -> dict:
    """``{label set name: (N,) int codes}`` from --labels."""
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
        codes, classes = label_codes(values)
        if codes.shape[0] != emb.n_samples:
            raise UserError(f"label set {name!r} has {codes.shape[0]} labels but the embeddings have N={emb.n_samples} examples")
        if len(classes) < 2:
            raise UserError(f"label set {name!r} has a single class; the decomposition needs at least two")
        out[name] = codes
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
    """``pidjax analyze``: resumable layer sweep of saved embeddings, then the report."""
    import numpy as np

    from pidjax.io import layer_embeddings, load_embeddings, select_modalities
    from pidjax.resume import finish_sweep, hash_inputs, layer_seed, start_sweep, write_layer

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
    emb = load_embeddings(args.embeddings)
    m1, m2 = select_modalities(emb, args.modalities)
    labels = _resolve_labels(emb, args.labels)
    layers = list(emb.layers)
    if args.layers:
        wanted = [s.strip() for s in args.layers.split(",") if s.strip()]
        unknown = [w for w in wanted if w not in emb.layers]
        if unknown:
            raise UserError(f"unknown layer {unknown[0]!r}; the embeddings have {', '.join(layers[:12])}"
                            + (" ..." if len(layers) > 12 else ""))
        layers = wanted
    dtype = _setup_jax(args)

    sources = [args.embeddings] + ([args.labels] if args.labels and Path(args.labels).is_file() else [])
    inputs = hash_inputs(sources)
    settings = {"modalities": [m1, m2], "layers": layers, "label_sets": list(labels),
                "states": states if states == "auto" else list(states),
                "discretizer": args.discretizer, "components": args.components, "scaling": args.scaling,
                "bootstrap": args.bootstrap, "permutations": args.permutations, "bias": args.bias,
                "splits": args.splits, "interval": args.interval, "confidence": args.confidence, "alpha": args.alpha,
                "check": not args.no_check, "method": args.method, "dtype": dtype}
    done = start_sweep(out, inputs, settings, args.seed, restart=args.restart)
    if done:
        _info(args, f"resuming: {len(done)} of {len(layers)} layers already in {out}")
    die_after = int(os.environ.get("PIDJAX_TEST_KILL_AFTER", "0") or 0)  # test hook: SIGKILL mid-sweep
    written, seen_notes = 0, []
    pending = [(index, layer) for index, layer in enumerate(layers) if index not in done]
    for index, layer in _progress(pending, args, desc="layers", unit="layer", total=len(layers), initial=len(done)):
        e1, e2 = layer_embeddings(emb, layer, (m1, m2))
        rows, notes = _analyze_layer(e1, e2, labels, {**settings, "layer": layer}, layer_seed(args.seed, layer))
        for row in rows:
            row["layer"] = layer
        for note in notes:
            if note not in seen_notes:
                seen_notes.append(note)
                _info(args, f"pidjax analyze: warning: layer {layer}: {note}")
        write_layer(out, index, layer, rows)
        done[index] = rows
        written += 1
        if die_after and written >= die_after:
            os.kill(os.getpid(), signal.SIGKILL)
    all_rows = [row for index in sorted(done) for row in done[index]]
    columns = list(dict.fromkeys(k for row in all_rows for k in row))
    table = {c: np.array([_nan(row.get(c)) for row in all_rows]) for c in columns}
    try:
        from pidjax.analysis import contribution_scores

        table = dict(contribution_scores(table))  # per-row shares U_i / I(X1,X2;Y), R and S shares
    except ImportError:
        pass
    manifest = finish_sweep(out, {"embeddings": str(args.embeddings), "n_samples": emb.n_samples})
    from pidjax.report import write_csv, write_json, write_report

    title = args.title or f"pidjax: {Path(args.embeddings).name} ({m1} vs {m2})"
    if args.no_report:
        write_json(table, out / "results.json", manifest)
        write_csv(table, out / "results.csv")
    else:
        write_report(table, out, title=title, meta=manifest, modalities=(m1, m2))
    _summarise(table, args, out)
    if "converged" in table and not table["converged"].astype(bool).all():
        print(f"pidjax analyze: {int((~table['converged'].astype(bool)).sum())} rows did not reach the solver "
              "tolerance (see the bound column)", file=sys.stderr)
        return EXIT_NOT_CONVERGED
    return EXIT_OK


def _nan(v):
    return float("nan") if v is None else v


def _summarise(table, args, out: Path):
    if args.quiet:
        return
    print(f"wrote {out / 'results.json'} and {out / 'results.csv'}"
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
