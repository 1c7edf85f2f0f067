"""The ``pidjax`` command end to end: files made here, exit codes, one-line errors, resuming."""

import importlib.util
import json
import os
import signal
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from pidjax.canonical import distribution
from pidjax.io import save_embeddings
from tests.helpers import run_cli

REPO = Path(__file__).resolve().parent.parent
N = 120


def run_process(argv, env=None, timeout=240):
    """Run ``python -m pidjax.cli argv`` in a fresh process."""
    env = {**os.environ, "JAX_PLATFORMS": "cpu", **(env or {})}
    return subprocess.run([sys.executable, "-m", "pidjax.cli", *map(str, argv)], capture_output=True, text=True,
                          env=env, timeout=timeout, cwd=REPO)


def make_layers(n=N, n_layers=3, seed=0):
    """Layers whose text embedding grows more informative about y with depth; image is tokenised."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    layers = {}
    for i in range(n_layers):
        text = rng.normal(size=(n, 6)) + (1.5 * i) * np.eye(3)[y] @ rng.normal(size=(3, 6))
        image = rng.normal(size=(n, 4, 5)) + np.eye(3)[y][:, None, :] @ rng.normal(size=(3, 5))
        layers[str(i)] = {"text": text.astype(np.float32), "image": image.astype(np.float32)}
    mask = np.ones((n, 4), np.int8)
    mask[::3, 3] = 0
    return layers, y, mask


@pytest.fixture(scope="module")
def emb_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("emb")
    layers, y, mask = make_layers()
    pred = np.where(np.arange(N) % 5 == 0, (y + 1) % 3, y)
    paths = {
        "npz": save_embeddings(root / "e.npz", layers, masks={"image": mask}, labels=y, predictions=pred),
        "safetensors": save_embeddings(root / "e.safetensors", layers, masks={"image": mask}, labels=y, predictions=pred),
        "folder": save_embeddings(root / "folder", layers, masks={"image": mask}, labels=y, predictions=pred),
    }
    np.save(root / "y.npy", y)
    paths["labels_file"] = root / "y.npy"
    return paths


ANALYZE = ["--states", "3", "--permutations", "20", "--quiet"]
needs_analysis = pytest.mark.skipif(importlib.util.find_spec("pidjax.analysis") is None,
                                    reason="pidjax.analysis (the layer sweep) is not in this checkout yet")


def _rows(out_dir):
    return json.loads((Path(out_dir) / "results.json").read_text())["rows"]


# ------------------------------------------------------------------ help


def test_help_teaches_with_examples(capsys):
    code, out, _ = run_cli(["--help"], capsys)
    assert code == 0 and "examples:" in out and "pidjax analyze" in out and "exit codes" in out
    code, out, _ = run_cli(["analyze", "--help"], capsys)
    assert code == 0 and "layer.<layer>.<modality>" in out and "resum" in out and "--bootstrap" in out
    code, out, _ = run_cli(["decompose", "--help"], capsys)
    assert code == 0 and "--normalize" in out and "x1,x2,y,p" in out


def test_installed_entry_point_runs():
    script = Path(sys.executable).with_name("pidjax")
    if not script.exists():
        pytest.skip("the pidjax script is not installed next to this interpreter (pip install -e .)")
    out = subprocess.run([script, "--version"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.startswith("pidjax ")


# ------------------------------------------------------------------ decompose


def test_decompose_reports_canonical_values_from_npz_csv_and_json(tmp_path, capsys):
    np.savez(tmp_path / "t.npz", xor=distribution("xor"), pair=np.stack([distribution("rdn"), distribution("unq")]))
    P = distribution("and") * 8
    lines = ["x1,x2,y,count"] + [f"{i},{j},{k},{P[i, j, k]:g}" for i, j, k in np.ndindex(P.shape) if P[i, j, k]]
    (tmp_path / "and.csv").write_text("\n".join(lines) + "\n")
    (tmp_path / "copy.json").write_text(json.dumps({"copy": distribution("copy").tolist()}))
    code, out, err = run_cli(["decompose", tmp_path / "t.npz", tmp_path / "and.csv", tmp_path / "copy.json",
                              "--normalize", "--out", tmp_path / "pid.json", "-q"], capsys)
    assert code == 0, err
    assert "xor" in out and "pair[1]" in out
    rows = {(r["table"], r["index"]): r for r in _rows_from(tmp_path / "pid.json")}
    expect = {("xor", ""): "xor", ("pair", "0"): "rdn", ("pair", "1"): "unq", ("and", ""): "and", ("copy", ""): "copy"}
    from pidjax.canonical import KNOWN_VALUES

    for key, name in expect.items():
        got = [rows[key][t] for t in ("redundancy", "unique_1", "unique_2", "synergy")]
        np.testing.assert_allclose(got, KNOWN_VALUES[name], atol=1e-5)


def _rows_from(path):
    return json.loads(Path(path).read_text())["rows"]


def test_decompose_flags_non_convergence_with_exit_code_3(tmp_path, capsys):
    np.save(tmp_path / "and.npy", distribution("and"))
    code, out, err = run_cli(["decompose", tmp_path / "and.npy", "--max-iters", "1", "--method", "ipfp",
                              "--format", "csv", "-q"], capsys)
    assert code == 3 and "did not reach" in err and out.startswith("file,table,index")


def test_decompose_counts_without_normalize_is_a_user_error(tmp_path, capsys):
    np.save(tmp_path / "c.npy", distribution("xor") * 10)
    code, _, err = run_cli(["decompose", tmp_path / "c.npy", "-q"], capsys)
    assert code == 2 and "--normalize" in err and "Traceback" not in err


# ------------------------------------------------------------------ analyze


@needs_analysis
@pytest.mark.parametrize("kind", ["npz", "safetensors", "folder"])
def test_analyze_end_to_end_on_each_file_layout(emb_files, tmp_path, capsys, kind):
    out = tmp_path / "run"
    code, _, err = run_cli(["analyze", emb_files[kind], "--labels", "labels,predictions", "--out", out, *ANALYZE], capsys)
    assert code == 0, err
    rows = _rows(out)
    assert [(r["layer"], r["label_set"]) for r in rows] == [(l, s) for l in "012" for s in ("labels", "predictions")]
    for r in rows:
        total = r["redundancy"] + r["unique_1"] + r["unique_2"] + r["synergy"]
        assert total == pytest.approx(r["mutual_info_joint"], abs=1e-6)
    for name in ("results.csv", "report.html", "layer_profile.png", "heatmap.png", "manifest.json"):
        assert (out / name).is_file(), name
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["complete"] and manifest["seed"] == 0 and manifest["settings"]["states"] == [3, 3]
    assert all(len(h) == 64 for h in manifest["inputs"].values()) and "jax" in manifest["versions"]


@needs_analysis
def test_analyze_results_do_not_depend_on_the_file_layout(emb_files, tmp_path, capsys):
    results = []
    for kind in ("npz", "safetensors", "folder"):
        code, _, err = run_cli(["analyze", emb_files[kind], "--labels", "labels", "--out", tmp_path / kind, *ANALYZE], capsys)
        assert code == 0, err
        results.append([{k: v for k, v in r.items()} for r in _rows(tmp_path / kind)])
    assert results[0] == results[1] == results[2]


@needs_analysis
def test_analyze_with_a_separate_labels_file_and_chosen_layers(emb_files, tmp_path, capsys):
    out = tmp_path / "run"
    code, _, err = run_cli(["analyze", emb_files["npz"], "--labels", emb_files["labels_file"], "--layers", "2,0",
                            "--modalities", "image,text", "--out", out, *ANALYZE, "--no-report"], capsys)
    assert code == 0, err
    rows = _rows(out)
    assert [r["layer"] for r in rows] == ["2", "0"] and {r["label_set"] for r in rows} == {"y"}
    assert not (out / "report.html").exists()


@needs_analysis
def test_rerun_with_other_settings_refuses_to_mix_results(emb_files, tmp_path, capsys):
    out = tmp_path / "run"
    assert run_cli(["analyze", emb_files["npz"], "--labels", "labels", "--out", out, *ANALYZE], capsys)[0] == 0
    code, _, err = run_cli(["analyze", emb_files["npz"], "--labels", "labels", "--out", out, "--seed", "1", *ANALYZE], capsys)
    assert code == 2 and "different seed" in err and "--restart" in err
    code, _, err = run_cli(["analyze", emb_files["npz"], "--labels", "labels", "--out", out, "--seed", "1", "--restart", *ANALYZE], capsys)
    assert code == 0, err
    assert json.loads((out / "manifest.json").read_text())["seed"] == 1


@needs_analysis
def test_sweep_killed_mid_way_resumes_to_identical_results(emb_files, tmp_path, capsys):
    args = ["analyze", emb_files["npz"], "--labels", "labels,predictions", "--out"]
    reference = tmp_path / "reference"
    assert run_cli([*args, reference, *ANALYZE], capsys)[0] == 0

    killed = tmp_path / "killed"
    first = run_process([*args, killed, *ANALYZE], env={"PIDJAX_TEST_KILL_AFTER": "2"})
    assert first.returncode == -signal.SIGKILL, first.stderr[-2000:]
    assert sorted(p.name for p in (killed / "layers").iterdir()) == ["00000.json", "00001.json"]
    assert not (killed / "results.json").exists()
    before = {p.name: p.read_text() for p in (killed / "layers").iterdir()}

    second = run_process([*args, killed, "--states", "3", "--permutations", "20"])
    assert second.returncode == 0, second.stderr[-2000:]
    assert "resuming: 2 of 3 layers" in second.stderr
    assert {p: (killed / "layers" / p).read_text() for p in before} == before  # finished layers untouched
    assert _rows(killed) == _rows(reference)


USER_MISTAKES = {
    "missing file": (lambda d, e: ["analyze", d / "nope.npz", "--out", d / "o"], "no such file"),
    "corrupt file": (lambda d, e: ["analyze", d / "junk.npz", "--out", d / "o"], "not a readable .npz"),
    "layers with different N": (lambda d, e: ["analyze", d / "ragged.npz", "--out", d / "o"], "same N"),
    "unknown modality": (lambda d, e: ["analyze", e["npz"], "--modalities", "text,audio", "--out", d / "o"], "unknown modality 'audio'"),
    "unknown label set": (lambda d, e: ["analyze", e["npz"], "--labels", "colour", "--out", d / "o"], "unknown label set 'colour'"),
    "labels not matching N": (lambda d, e: ["analyze", e["npz"], "--labels", d / "short.npy", "--out", d / "o"], "N=120"),
    "missing labels file": (lambda d, e: ["analyze", e["npz"], "--labels", d / "none.npy", "--out", d / "o"], "no such labels file"),
    "output folder is a file": (lambda d, e: ["analyze", e["npz"], "--out", d / "afile"], "is a file"),
    "unknown layer": (lambda d, e: ["analyze", e["npz"], "--layers", "7", "--out", d / "o"], "unknown layer '7'"),
    "bad --states": (lambda d, e: ["analyze", e["npz"], "--states", "x", "--out", d / "o"], "--states"),
    "unknown method": (lambda d, e: ["decompose", d / "ok.npy", "--method", "magic"], "unknown --method"),
    "table with 2 axes": (lambda d, e: ["decompose", d / "flat.npy"], "(..., m, n, k)"),
    "negative table": (lambda d, e: ["decompose", d / "neg.npy"], "negative"),
    "bench outside a checkout": (lambda d, e: ["bench", "--repo", d], "benchmarks/ not found"),
}


@pytest.fixture
def mistakes_dir(tmp_path):
    (tmp_path / "junk.npz").write_bytes(b"garbage")
    np.savez(tmp_path / "ragged.npz", **{"layer.0.a": np.zeros((5, 2)), "layer.0.b": np.zeros((5, 2)),
                                         "layer.1.a": np.zeros((4, 2)), "layer.1.b": np.zeros((4, 2))})
    np.save(tmp_path / "short.npy", np.zeros(7, int))
    (tmp_path / "afile").write_text("x")
    np.save(tmp_path / "ok.npy", distribution("xor"))
    np.save(tmp_path / "flat.npy", np.ones((2, 2)))
    np.save(tmp_path / "neg.npy", -distribution("xor"))
    return tmp_path


@pytest.mark.parametrize("mistake", list(USER_MISTAKES))
def test_user_mistakes_get_one_line_and_exit_code_2(mistake, mistakes_dir, emb_files, capsys):
    make_argv, message = USER_MISTAKES[mistake]
    code, _, err = run_cli([*make_argv(mistakes_dir, emb_files), "-q"] if mistake != "bench outside a checkout"
                           else make_argv(mistakes_dir, emb_files), capsys)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2, err
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in err, err
    assert lines[0].startswith("pidjax ") and "error:" in lines[0]


def test_user_mistake_in_a_real_process_has_no_traceback(tmp_path):
    out = run_process(["analyze", tmp_path / "missing.safetensors", "--out", tmp_path / "o"])
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines() == [f"pidjax analyze: error: no such file or folder: {tmp_path / 'missing.safetensors'}"]


def test_usage_errors_exit_2(capsys):
    code, _, err = run_cli(["analyze"], capsys)
    assert code == 2 and "usage:" in err
    code, _, err = run_cli(["frobnicate"], capsys)
    assert code == 2


def test_internal_errors_exit_1_with_traceback(emb_files, tmp_path, capsys, monkeypatch):
    import pidjax.cli

    def broken(*a, **k):
        raise ZeroDivisionError("bug")

    monkeypatch.setattr(pidjax.cli, "_analyze_layer", broken)
    code, _, err = run_cli(["analyze", emb_files["npz"], "--out", tmp_path / "o", *ANALYZE], capsys)
    assert code == 1 and "Traceback" in err and "internal error" in err


# ------------------------------------------------------------------ demo and bench dispatch


def test_demo_calls_run_demo(tmp_path, capsys, monkeypatch):
    calls = []

    def run_demo(out_dir, quick=False, seed=0):
        calls.append((str(out_dir), quick, seed))
        return {"html": str(Path(out_dir) / "report.html")}

    monkeypatch.setitem(sys.modules, "pidjax.demo", types.SimpleNamespace(run_demo=run_demo))
    code, _, err = run_cli(["demo", "--out", tmp_path / "d", "--quick", "--seed", "4"], capsys)
    assert code == 0 and calls == [(str(tmp_path / "d"), True, 4)] and "report.html" in err


def test_bench_runs_the_repository_suite(tmp_path, capsys):
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "benchmarks" / "__init__.py").write_text("")
    (tmp_path / "benchmarks" / "run.py").write_text(
        "import sys, pathlib\npathlib.Path('called.txt').write_text(' '.join(sys.argv[1:]))\n"
    )
    code, _, err = run_cli(["bench", "--repo", tmp_path, "--suite", "smoke"], capsys)
    assert code == 0, err
    assert (tmp_path / "called.txt").read_text() == "--suite smoke"


@needs_analysis
def test_every_estimation_option_is_reachable_from_analyze(emb_files, tmp_path, capsys):
    from pidjax.analysis import BIAS_CORRECTIONS
    from pidjax.analysis.bootstrap import INTERVALS
    from pidjax.cli import build_parser
    from pidjax.discretize import SCALINGS

    sub = next(a for a in build_parser()._actions if a.dest == "command").choices["analyze"]
    choices = {a.dest: tuple(a.choices) for a in sub._actions if a.choices}
    assert set(choices["bias"]) == set(BIAS_CORRECTIONS) and set(choices["interval"]) == set(INTERVALS)
    assert set(choices["scaling"]) == set(SCALINGS)
    out = tmp_path / "opts"
    code, _, err = run_cli(["analyze", emb_files["npz"], "--labels", "labels", "--out", out, "--states", "auto",
                            "--bias", "shuffle", "--splits", "2", "--interval", "percentile", "--confidence", "0.9",
                            "--alpha", "0.1", "--scaling", "standardize", "--bootstrap", "4", "--permutations", "9",
                            "--no-check", "--no-report", "--quiet"], capsys)
    assert code == 0, err
    settings = json.loads((out / "manifest.json").read_text())["settings"]
    assert (settings["bias"], settings["splits"], settings["interval"], settings["scaling"], settings["check"]) == (
        "shuffle", 2, "percentile", "standardize", False)
    assert (settings["confidence"], settings["alpha"], settings["states"]) == (0.9, 0.1, "auto")
    row = _rows(out)[0]
    assert {"synergy_plugin", "synergy_p", "synergy_lo", "label_entropy"} <= set(row) and "probe_info_1" not in row
    assert row["synergy_p"] >= 0.1  # 9 permutations: p-values are multiples of 1/10
    code, _, err = run_cli(["analyze", emb_files["npz"], "--out", tmp_path / "bad", "--bias", "shuffle",
                            "--permutations", "0"], capsys)
    assert code == 2 and "--permutations" in err
