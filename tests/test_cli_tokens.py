"""``pidjax analyze`` on token-level files: fused arrays, ``--drop-empty`` and ``--per-sample``.

Every run here has the same shapes (N, tokens, states, rows), so the kernel compiles once and
each later run takes about a second.
"""

import json
from pathlib import Path

import numpy as np
import pytest

from pidjax.io import save_embeddings
from tests.helpers import run_cli

N, T, D = 24, 16, 3
EMPTY = [3, 7, 11]  # examples whose image mask keeps no token
FAST = ["--states", "2", "--permutations", "5", "--no-check", "--quiet"]
SAMPLE = ["--per-sample", "--sample-states", "2", "--sample-target", "tok"]


def _data(seed=0):
    """Fused tokens of 2 layers: text = tokens 0-7, image = tokens 8-15; the target follows image tokens."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, N)
    tok = rng.integers(0, 2, (N, T))
    fused = {}
    for i in range(2):
        x = rng.normal(size=(N, T, D)).astype(np.float32)
        x[..., 0] += 2.0 * tok
        x[..., 1] += (1 + i) * y[:, None]
        fused[str(i)] = x
    text = np.zeros((N, T), np.int8)
    text[:, :8] = 1
    image = np.zeros((N, T), np.int8)
    image[:, 8:] = 1
    image[EMPTY] = 0
    return fused, {"text": text, "image": image}, y, tok


def _embedded(tok):
    """The target as a 2-d embedding per token (discretised by --per-sample)."""
    rng = np.random.default_rng(5)
    return (np.eye(2)[tok] * 4 + rng.normal(scale=0.1, size=tok.shape + (2,))).astype(np.float32)


def _partial(tok):
    """The target with HF's ignore index -100 on some tokens, and on every token of example 0."""
    out = tok.copy()
    out[:, 12:] = -100
    out[0] = -100
    return out


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("tokens")
    fused, masks, y, tok = _data()
    keep = np.ones(N, bool)
    keep[EMPTY] = False
    paths = {
        "fused": save_embeddings(root / "fused", fused=fused, masks=masks, labels=y, predictions=1 - y,
                                 targets={"tok": tok, "emb": _embedded(tok), "partial": _partial(tok)}),
        "prefiltered": save_embeddings(root / "pre.npz", fused={k: v[keep] for k, v in fused.items()},
                                       masks={k: v[keep] for k, v in masks.items()}, labels=y[keep],
                                       predictions=1 - y[keep], targets={"tok": tok[keep]}),
        # the same tokens stored per modality: text = tokens 0-7, image = tokens 8-15
        "separate": save_embeddings(root / "separate.npz",
                                    {k: {"text": v[:, :8], "image": v[:, 8:]} for k, v in fused.items()},
                                    masks={"image": masks["image"][:, 8:]}, labels=y, predictions=1 - y,
                                    targets={"tok": tok[:, 8:]}),
        "pooled": save_embeddings(root / "pooled.npz", {k: {"text": v.mean(1), "image": v.mean(1)} for k, v in fused.items()},
                                  labels=y),
    }
    proj = {"proj": {"text": fused["0"].mean(1), "image": fused["1"].mean(1)}}  # a layer without tokens
    paths["with_proj"] = save_embeddings(root / "proj.npz", proj, fused=fused, masks=masks, labels=y,
                                         targets={"tok": tok})
    align = np.stack([np.broadcast_to(np.arange(8), (N, 8)), np.broadcast_to(np.arange(8, 16), (N, 8))], -1)
    np.save(root / "align.npy", align.astype(np.int64))
    paths["align"] = root / "align.npy"
    np.save(root / "bad_align.npy", align[:5].astype(np.int64))
    paths["bad_align"] = root / "bad_align.npy"
    return paths


def _doc(path):
    return json.loads(Path(path).read_text())


# ------------------------------------------------------------------ --drop-empty


def test_empty_masks_stop_analyze_naming_mask_example_count_and_the_option(files, tmp_path, capsys):
    code, _, err = run_cli(["analyze", files["fused"], "--out", tmp_path / "o", *FAST], capsys)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1, err
    assert "mask.image keeps no token for example 3" in lines[0] and "3 of 24 examples" in lines[0]
    assert "--drop-empty" in lines[0] and "Traceback" not in err
    assert not (tmp_path / "o" / "layers").exists()  # checked up front, before any layer


def test_drop_empty_reports_the_count_and_equals_analysing_prefiltered_data(files, tmp_path, capsys):
    out, ref = tmp_path / "dropped", tmp_path / "prefiltered"
    code, _, err = run_cli(["analyze", files["fused"], "--drop-empty", "--out", out, *FAST[:-1]], capsys)
    assert code == 0, err
    assert "dropped 3 of 24 examples whose mask.image keeps no token" in err
    code, _, err = run_cli(["analyze", files["prefiltered"], "--out", ref, *FAST], capsys)
    assert code == 0, err
    rows, expect = _doc(out / "results.json")["rows"], _doc(ref / "results.json")["rows"]
    assert {(r["layer"], r["label_set"]) for r in rows} == {(l, s) for l in "01" for s in ("labels", "predictions")}
    assert rows == expect and all(r["n_samples"] == N - 3 for r in rows)
    manifest = _doc(out / "manifest.json")
    assert manifest["settings"]["dropped_examples"]["count"] == 3 and manifest["settings"]["dropped_examples"]["of"] == N
    assert manifest["dropped_examples"]["indices"] == EMPTY and manifest["n_samples"] == N - 3
    assert "dropped_examples" not in _doc(ref / "manifest.json")["settings"]  # nothing dropped, nothing pinned
    code, _, err = run_cli(["analyze", files["fused"], "--drop-empty", "--out", out, *FAST[:-1]], capsys)
    assert code == 0 and "resuming: 2 of 2 layers" in err
    assert _doc(out / "results.json")["rows"] == rows


def test_resuming_with_another_dropped_set_is_refused(files, tmp_path, capsys):
    out = tmp_path / "o"
    assert run_cli(["analyze", files["fused"], "--drop-empty", "--out", out, *FAST], capsys)[0] == 0
    manifest = _doc(out / "manifest.json")
    manifest["settings"]["dropped_examples"]["count"] = 2  # as if another choice had been made
    (out / "manifest.json").write_text(json.dumps(manifest))
    code, _, err = run_cli(["analyze", files["fused"], "--drop-empty", "--out", out, *FAST], capsys)
    assert code == 2 and "settings.dropped_examples" in err and "--restart" in err


# ------------------------------------------------------------------ --per-sample


def test_per_sample_writes_one_row_per_example_and_layer_and_states_the_pairing(files, tmp_path, capsys):
    out = tmp_path / "o"
    code, _, err = run_cli(["analyze", files["fused"], "--drop-empty", "--out", out, "--pairing", "order",
                            "--sample-target-at", "image", *SAMPLE, *FAST[:-1]], capsys)
    assert code == 0, err
    assert "per-sample: pairs by order: the k-th text token with the k-th image token" in err
    assert "Y = targets.tok at the image token of each pair" in err
    doc = _doc(out / "samples.json")
    rows = doc["rows"]
    kept = [i for i in range(N) if i not in EMPTY]
    assert [(r["layer"], r["example"]) for r in rows] == [(l, i) for l in "01" for i in kept]
    assert doc["columns"][:2] == ["layer", "example"]
    for r in rows:
        assert r["pairing"] == "order" and r["target"] == "targets.tok" and r["n_pairs"] == 8
        total = r["redundancy"] + r["unique_1"] + r["unique_2"] + r["synergy"]
        assert total == pytest.approx(r["mutual_info_joint"], abs=1e-6)
        assert {"synergy_plugin", "synergy_p", "bound", "converged", "states_1"} <= set(r)
    assert doc["meta"]["per_sample"]["pairing"].startswith("order: the k-th text token")
    assert _doc(out / "manifest.json")["settings"]["per_sample"]["pairing"] == "order"
    header = (out / "samples.csv").read_text().splitlines()[0].split(",")
    assert header[:3] == ["layer", "example", "redundancy"] and len((out / "samples.csv").read_text().splitlines()) == 1 + len(rows)
    assert (out / "samples.png").is_file() and (out / "results.json").is_file()
    page = (out / "report.html").read_text()
    assert "id='plot-samples'" in page and "Per-sample PID: median and quartiles" in page  # embedded in the report
    # the image tokens carry the target: U2 (image) dominates U1 (text) in most examples
    u1 = np.array([r["unique_2_plugin"] - r["unique_1_plugin"] for r in rows])
    assert np.median(u1) > 0


def test_per_sample_is_the_same_for_fused_order_alignment_and_separate_position(files, tmp_path, capsys):
    common = ["--drop-empty", *SAMPLE, *FAST, "--no-report"]
    runs = {
        "order": ["analyze", files["fused"], "--pairing", "order", "--sample-target-at", "image"],
        "align": ["analyze", files["fused"], "--pairing", files["align"], "--sample-target-at", "image"],
        "separate": ["analyze", files["separate"], "--pairing", "position"],
    }
    got = {}
    for name, argv in runs.items():
        code, _, err = run_cli([*argv, "--out", tmp_path / name, *common], capsys)
        assert code == 0, (name, err)
        got[name] = [{k: v for k, v in r.items() if k != "pairing"} for r in _doc(tmp_path / name / "samples.json")["rows"]]
    assert got["order"] == got["align"] == got["separate"]
    assert _doc(tmp_path / "align" / "samples.json")["rows"][0]["pairing"] == "file:align.npy"
    assert "align.npy" in _doc(tmp_path / "align" / "manifest.json")["inputs"]
    assert _doc(tmp_path / "order" / "results.json")["rows"] == _doc(tmp_path / "separate" / "results.json")["rows"]


def test_per_sample_resumes_a_missing_layer_to_identical_rows(files, tmp_path, capsys):
    out = tmp_path / "o"
    argv = ["analyze", files["fused"], "--drop-empty", "--pairing", "order", "--out", out, *SAMPLE, *FAST, "--no-report"]
    assert run_cli(argv, capsys)[0] == 0
    first = (out / "samples.csv").read_text()
    (out / "samples" / "00001.json").unlink()
    layer_file = (out / "layers" / "00001.json").read_text()
    code, _, err = run_cli([a for a in argv if a != "--quiet"], capsys)
    assert code == 0 and "resuming: 1 of 2 layers" in err, err
    assert (out / "samples.csv").read_text() == first and (out / "layers" / "00001.json").read_text() == layer_file
    code, _, _ = run_cli([*argv[:-len(FAST) - 1], "--sample-states", "3", *FAST, "--no-report"], capsys)
    assert code == 2  # another per-sample setting is not mixed into the folder


PER_SAMPLE_MISTAKES = {
    "pooled arrays": (lambda f: [f["pooled"], "--pairing", "position", "--per-sample"],
                      "--per-sample needs token-level arrays (N, T, D) with masks; layer.0.text is pooled"),
    "no pairing": (lambda f: [f["fused"], "--drop-empty", "--per-sample"], "--per-sample needs --pairing"),
    "pairing without per-sample": (lambda f: [f["fused"], "--drop-empty", "--pairing", "order"],
                                   "--pairing only applies with --per-sample"),
    "position over disjoint fused masks": (lambda f: [f["fused"], "--drop-empty", "--pairing", "position", *SAMPLE],
                                           "has a valid token pair under --pairing position with a target (text and "
                                           "image tokens of a fused array never share a position: use --pairing order"),
    "label as target": (lambda f: [f["fused"], "--drop-empty", "--pairing", "order", "--per-sample",
                                   "--sample-target", "labels"], "every per-sample term would be 0"),
    "unknown target": (lambda f: [f["fused"], "--drop-empty", "--pairing", "order", "--per-sample",
                                  "--sample-target", "colour"], "unknown --sample-target 'colour'"),
    "target at a third modality": (lambda f: [f["fused"], "--drop-empty", "--pairing", "order", *SAMPLE,
                                              "--sample-target-at", "audio"], "--sample-target-at 'audio'"),
    "alignment of another N": (lambda f: [f["fused"], "--drop-empty", "--pairing", f["bad_align"], *SAMPLE],
                               "expected integer (N=24, P, 2)"),
    "alignment not a file": (lambda f: [f["fused"], "--drop-empty", "--pairing", "diagonal", *SAMPLE],
                             "--pairing must be 'position', 'order' or an existing .npy file"),
}


@pytest.mark.parametrize("mistake", list(PER_SAMPLE_MISTAKES))
def test_per_sample_mistakes_get_one_line_and_exit_code_2(mistake, files, tmp_path, capsys):
    make_argv, message = PER_SAMPLE_MISTAKES[mistake]
    code, _, err = run_cli(["analyze", *make_argv(files), "--out", tmp_path / "o", *FAST], capsys)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2, err
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in err, err


def test_position_pairing_of_unequal_token_counts_names_the_alternatives(tmp_path, capsys):
    rng = np.random.default_rng(0)
    layers = {"0": {"text": rng.normal(size=(N, 5, D)), "image": rng.normal(size=(N, 7, D))}}
    path = save_embeddings(tmp_path / "e.npz", layers, labels=np.arange(N) % 2, targets={"t": np.zeros((N, 7), int)})
    code, _, err = run_cli(["analyze", path, "--pairing", "position", "--per-sample", "--out", tmp_path / "o", *FAST], capsys)
    assert code == 2 and "they have 5 and 7 tokens: use --pairing order or an alignment FILE.npy" in err


def test_per_sample_targets_as_embeddings_are_discretised(files, tmp_path, capsys):
    argv = ["analyze", files["fused"], "--drop-empty", "--pairing", "order", "--per-sample", "--sample-states", "2",
            "--sample-target-states", "2", "--no-report"]
    code, _, err = run_cli([*argv, "--sample-target", "emb", "--out", tmp_path / "emb", *FAST[:-1]], capsys)
    assert code == 0, err
    assert "Y = targets.emb at the image token of each pair (embeddings, discretised into 2 states)" in err
    code, _, err = run_cli([*argv, "--sample-target", "tok", "--out", tmp_path / "tok", *FAST], capsys)
    assert code == 0, err
    emb, tok = (_doc(tmp_path / k / "samples.json")["rows"] for k in ("emb", "tok"))
    # two well separated clusters recover the codes up to their names, which PID does not see
    for a, b in zip(emb, tok):
        assert a["mutual_info_joint_plugin"] == pytest.approx(b["mutual_info_joint_plugin"], abs=1e-9)


def test_negative_targets_drop_pairs_and_drop_empty_leaves_out_examples_without_a_pair(files, tmp_path, capsys):
    argv = ["analyze", files["fused"], "--drop-empty", "--pairing", "order", "--per-sample", "--sample-states", "2",
            "--sample-target", "partial", "--no-report", *FAST[:-1]]
    code, _, err = run_cli([*argv, "--out", tmp_path / "o"], capsys)
    assert code == 0, err
    assert "left out 1 examples with no valid pair" in err
    rows = _doc(tmp_path / "o" / "samples.json")["rows"]
    assert 0 not in {r["example"] for r in rows} and {r["n_pairs"] for r in rows} == {4}
    assert _doc(tmp_path / "o" / "manifest.json")["settings"]["per_sample"]["dropped_no_pair"] == 1
    assert {r["n_samples"] for r in _doc(tmp_path / "o" / "results.json")["rows"]} == {N - 3}  # the sweep keeps it


def test_per_sample_skips_pooled_layers_it_was_not_asked_for(files, tmp_path, capsys):
    argv = ["analyze", files["with_proj"], "--drop-empty", "--pairing", "order", *SAMPLE, "--no-report"]
    code, _, err = run_cli([*argv, "--out", tmp_path / "o", *FAST[:-1]], capsys)
    assert code == 0, err
    assert "pooled layers without tokens skipped: proj" in err
    assert {r["layer"] for r in _doc(tmp_path / "o" / "samples.json")["rows"]} == {"0", "1"}
    assert {r["layer"] for r in _doc(tmp_path / "o" / "results.json")["rows"]} == {"0", "1", "proj"}
    code, _, err = run_cli([*argv, "--layers", "0,proj", "--out", tmp_path / "p", *FAST], capsys)
    assert code == 2 and "layer.proj.text is pooled" in err and "leave it out of --layers" in err
