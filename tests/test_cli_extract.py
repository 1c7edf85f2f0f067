"""`pidjax extract` end to end on tiny Hugging Face checkpoints saved to disk, then `pidjax analyze`.

The data sets are built so the answer is known: the text says "cat" or "dog" (bit w), the
image is bright or dark (bit b). With w and b independent, the label w XOR b is pure synergy
(1 bit) and the pair (w, b) is one unique bit per modality; with b = w, the label w is one
redundant bit. A random-init model keeps both bits separable at its embedding layer, so
extraction + analysis must return these values.
"""

import json
import shutil

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

import tests.torch_tiny as tiny  # noqa: E402
from tests.helpers import run_cli  # noqa: E402
from tests.torch_tiny import build_clip, build_vilt, make_image  # noqa: E402

torch_thread = pytest.fixture(scope="module", autouse=True)(tiny.one_torch_thread)
N = 160
ANALYZE = ["--states", "2", "--permutations", "20", "--no-check", "--no-report", "-q"]


def write_rows(folder, shared: bool, n=N, seed=0):
    """A rows.csv data set with known labels: xor, copy (4 classes) or, when shared, the word."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    (folder / "img").mkdir()
    w = rng.integers(0, 2, n)
    b = w.copy() if shared else rng.integers(0, 2, n)
    lines = ["text,image,label.xor,label.copy,label.word"]
    for i in range(n):
        make_image(0.8 if b[i] else 0.2, seed=i).save(folder / "img" / f"{i}.png")
        lines.append(f"a photo of a {'cat' if w[i] else 'dog'},img/{i}.png,{w[i] ^ b[i]},{2 * w[i] + b[i]},{w[i]}")
    (folder / "rows.csv").write_text("\n".join(lines) + "\n")
    return folder


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory):
    return build_clip(tmp_path_factory.mktemp("ckpt") / "clip", text_layers=2, vision_layers=3)


@pytest.fixture(scope="module")
def vilt_dir(tmp_path_factory):
    return build_vilt(tmp_path_factory.mktemp("ckpt") / "vilt")


@pytest.fixture(scope="module")
def independent(tmp_path_factory):
    return write_rows(tmp_path_factory.mktemp("data") / "independent", shared=False)


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    return write_rows(tmp_path_factory.mktemp("data") / "shared", shared=True, seed=1)


def _results(run):
    doc = json.loads((run / "results.json").read_text())
    return {(r["layer"], r["label_set"]): r for r in doc["rows"]}


def _extract_and_analyze(ckpt, data, layout, tmp_path, capsys, labels, extra=()):
    emb, run = tmp_path / "emb", tmp_path / "run"
    code, _, err = run_cli(["extract", ckpt, "--data", data, "--layout", layout, "--out", emb, "-q", *extra], capsys)
    assert code == 0, err
    code, _, err = run_cli(["analyze", emb, "--labels", labels, "--layers", "00", "--modalities", "text,image",
                            "--out", run, *ANALYZE], capsys)
    assert code == 0, err
    return emb, _results(run)


def test_clip_extract_then_analyze_recovers_synergy_and_unique_bits(clip_dir, independent, tmp_path, capsys):
    emb, res = _extract_and_analyze(clip_dir, independent, "clip", tmp_path, capsys, "xor,copy")
    xor, copy = res[("00", "xor")], res[("00", "copy")]
    assert xor["synergy"] == pytest.approx(1.0, abs=0.1)
    for term in ("redundancy", "unique_1", "unique_2"):
        assert abs(xor[term]) < 0.1, term
    assert copy["unique_1"] == pytest.approx(1.0, abs=0.1) and copy["unique_2"] == pytest.approx(1.0, abs=0.1)
    assert abs(copy["redundancy"]) < 0.1 and abs(copy["synergy"]) < 0.1
    files = {p.name for p in emb.iterdir()}
    assert {"layer.00.text.npy", "layer.00.image.npy", "layer.proj.text.npy", "labels.xor.npy",
            "extraction.json"} <= files
    assert not (tmp_path / "emb.partial").exists()


def test_clip_extract_then_analyze_recovers_a_redundant_bit(clip_dir, shared, tmp_path, capsys):
    _, res = _extract_and_analyze(clip_dir, shared, "clip", tmp_path, capsys, "word")
    word = res[("00", "word")]
    assert word["redundancy"] == pytest.approx(1.0, abs=0.1)
    assert max(abs(word["unique_1"]), abs(word["unique_2"]), abs(word["synergy"])) < 0.1


def test_vilt_fused_stream_extract_recovers_synergy(vilt_dir, independent, tmp_path, capsys):
    _, res = _extract_and_analyze(vilt_dir, independent, "vilt", tmp_path, capsys, "xor")
    assert res[("00", "xor")]["synergy"] == pytest.approx(1.0, abs=0.1)


def test_missing_image_stops_before_anything_is_written(clip_dir, independent, tmp_path, capsys):
    data = tmp_path / "data"
    shutil.copytree(independent, data)
    (data / "img" / "5.png").unlink()
    out = tmp_path / "emb"
    code, _, err = run_cli(["extract", clip_dir, "--data", data, "--layout", "clip", "--out", out, "-q"], capsys)
    assert code == 2 and "row 6: image" in err and "5.png does not exist" in err
    assert not out.exists() and not (tmp_path / "emb.partial").exists()


def test_checkpoint_folder_missing_files_is_named(clip_dir, independent, tmp_path, capsys):
    broken = tmp_path / "ckpt"
    shutil.copytree(clip_dir, broken)
    for weights in broken.glob("model*.safetensors"):
        weights.unlink()
    code, _, err = run_cli(["extract", broken, "--data", independent, "--layout", "clip", "--out", tmp_path / "e"],
                           capsys)
    assert code == 2 and "lacks model.safetensors" in err
    code, _, err = run_cli(["extract", tmp_path / "nowhere", "--data", independent, "--layout", "clip",
                            "--out", tmp_path / "e"], capsys)
    assert code == 2 and "no such checkpoint folder" in err


def test_layout_that_does_not_fit_the_model_says_what_it_expected(clip_dir, independent, tmp_path, capsys):
    code, _, err = run_cli(["extract", clip_dir, "--data", independent, "--layout", "llava",
                            "--out", tmp_path / "e", "-q"], capsys)
    assert code == 2 and "error:" in err and "image" in err
    assert not (tmp_path / "e").exists()
    code, _, err = run_cli(["extract", clip_dir, "--data", independent, "--layout", "nonsense",
                            "--out", tmp_path / "e"], capsys)
    assert code == 2 and "two-tower" in err


def test_bad_options_are_usage_errors(clip_dir, independent, tmp_path, capsys):
    for extra, message in ((["--pairing", "0-1"], "--pairing"), (["--batch-size", "0"], "--batch-size")):
        code, _, err = run_cli(["extract", clip_dir, "--data", independent, "--layout", "clip",
                                "--out", tmp_path / "e", *extra], capsys)
        assert code == 2 and message in err
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x.npy").write_bytes(b"")
    code, _, err = run_cli(["extract", clip_dir, "--data", independent, "--layout", "clip",
                            "--out", tmp_path / "full"], capsys)
    assert code == 2 and "--overwrite" in err
    code, _, err = run_cli(["extract", clip_dir, "--data", independent, "--layout", "clip",
                            "--out", tmp_path / "full", "--overwrite"], capsys)
    assert code == 2 and "holds no extraction.json" in err and (tmp_path / "full" / "x.npy").is_file()


@pytest.mark.parametrize("family, build, n_image", [("llava", "build_llava", 16), ("idefics3", "build_idefics3", 4),
                                                    ("paligemma", "build_paligemma", 16)])
def test_image_token_models_extract_tokens_and_ablation_that_analyze_reads(family, build, n_image, independent,
                                                                           tmp_path, capsys):
    ckpt = getattr(tiny, build)(tmp_path / family)
    data = tmp_path / "data"
    shutil.copytree(independent, data)
    lines = (data / "rows.csv").read_text().splitlines()
    # a label in words, as a generative model answers, so predictions are decoded to compare
    words = ["dog", "cat"]
    (data / "rows.csv").write_text("\n".join([lines[0] + ",label"] + [
        f"{line},{words[int(line.rsplit(',', 1)[1])]}" for line in lines[1:41]]) + "\n")
    emb, run = tmp_path / "emb", tmp_path / "run"
    code, _, err = run_cli(["extract", ckpt, "--data", data, "--layout", family, "--out", emb, "--tokens",
                            "--ablation", "--batch-size", "8", "-q"], capsys)
    assert code == 0, err
    meta = json.loads((emb / "extraction.json").read_text())
    assert meta["n_rows"] == 40 and meta["layout"] == "image-tokens"
    layers = sorted(p.name[len("fused."):-len(".npy")] for p in emb.glob("fused.*.npy"))
    assert layers and {f"mask.{m}.npy" for m in ("text", "image")} <= {p.name for p in emb.iterdir()}
    ablated = np.load(emb / f"ablated.{layers[-1]}.image.npy")
    predictions = np.load(emb / "predictions.npy")
    assert ablated.shape == predictions.shape == (40,) and predictions.dtype.kind == "U"
    text_mask, image_mask = np.load(emb / "mask.text.npy"), np.load(emb / "mask.image.npy")
    assert not (text_mask & image_mask).any() and (image_mask.sum(1) == n_image).all()
    assert (text_mask.sum(1) == 5).all()  # "a photo of a cat|dog": no BOS, template or image token
    code, _, err = run_cli(["analyze", emb, "--labels", "word", "--layers", layers[0], "--modalities", "text,image",
                            "--out", run, *ANALYZE], capsys)
    assert code == 0, err
    assert meta["accuracy"]["00"]["ablation_drop_2"] == pytest.approx(
        float(np.mean(predictions == np.load(emb / "labels.npy")))
        - float(np.mean(np.load(emb / "ablated.00.image.npy") == np.load(emb / "labels.npy"))))
    row = _results(run)[("00", "word")]
    accuracy = float(np.mean(predictions == np.array([w for w in np.load(emb / "labels.npy")])))
    assert row["accuracy"] == pytest.approx(accuracy)
    for i, mod in ((1, "text"), (2, "image")):
        ablated_accuracy = float(np.mean(np.load(emb / f"ablated.00.{mod}.npy") == np.load(emb / "labels.npy")))
        assert row[f"ablation_drop_{i}"] == pytest.approx(accuracy - ablated_accuracy)
    code, _, err = run_cli(["analyze", emb, "--labels", "word", "--layers", "00", "--no-ablation",
                            "--out", tmp_path / "run2", *ANALYZE], capsys)
    assert code == 0, err
    assert "ablation_drop_1" not in _results(tmp_path / "run2")[("00", "word")]


def test_analyze_ablation_without_a_stored_one_is_an_error_or_a_note(clip_dir, independent, tmp_path, capsys):
    emb = tmp_path / "emb"
    code, _, err = run_cli(["extract", clip_dir, "--data", independent, "--layout", "clip", "--out", emb, "-q",
                            "--layers", "00", "--no-projections"], capsys)
    assert code == 0, err
    code, _, err = run_cli(["analyze", emb, "--labels", "xor", "--ablation", "--out", tmp_path / "r",
                            *ANALYZE[:-1]], capsys)
    assert code == 2 and "no ablated.<layer>.<modality>" in err
    code, _, err = run_cli(["analyze", emb, "--labels", "xor", "--out", tmp_path / "r", *ANALYZE[:-1]], capsys)
    assert code == 0 and "no ablation was run" in err


def test_model_factory_is_imported_and_called(clip_dir, independent, tmp_path, capsys, monkeypatch):
    (tmp_path / "my_factory.py").write_text(
        "from transformers import CLIPModel, CLIPProcessor\n"
        f"FOLDER = {str(clip_dir)!r}\n"
        "def make():\n"
        "    return CLIPModel.from_pretrained(FOLDER), CLIPProcessor.from_pretrained(FOLDER)\n"
        "def no_processor():\n"
        "    return CLIPModel.from_pretrained(FOLDER)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    code, _, err = run_cli(["extract", "my_factory:make", "--data", independent, "--layout", "clip", "--layers", "00",
                            "--out", tmp_path / "emb", "-q"], capsys)
    assert code == 0, err
    assert np.load(tmp_path / "emb" / "layer.00.text.npy").shape[0] == N
    for spec, message in (("my_factory:no_processor", "returned no processor"), ("my_factory:absent", "no callable"),
                          ("no_such_module_x:make", "cannot import")):
        code, _, err = run_cli(["extract", spec, "--data", independent, "--layout", "clip", "--out", tmp_path / "e2"],
                               capsys)
        assert code == 2 and message in err, (spec, err)


def test_token_arrays_of_prompts_of_different_lengths_are_padded_to_the_longest(independent, tmp_path, capsys):
    ckpt = tiny.build_llava(tmp_path / "llava")
    data = tmp_path / "data"
    shutil.copytree(independent, data)
    lines = (data / "rows.csv").read_text().splitlines()[:13]
    # the last batch holds the longest prompt: the first batch alone would fix a shorter length
    lines[-1] = lines[-1].replace("a photo of a", "a photo of a bird on the car with a", 1)
    (data / "rows.csv").write_text("\n".join(lines) + "\n")
    emb = tmp_path / "emb"
    code, _, err = run_cli(["extract", ckpt, "--data", data, "--layout", "llava", "--out", emb, "--tokens",
                            "--batch-size", "4", "-q"], capsys)
    assert code == 0, err
    text = np.load(emb / "mask.text.npy")
    assert text.sum(1).tolist() == [5] * 11 + [11] and np.load(emb / "fused.00.npy").shape[:2] == text.shape
