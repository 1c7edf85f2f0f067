"""The plain-PyTorch fallback in docs/huggingface.md runs as written and agrees with `pidjax extract`."""

import re
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from pidjax.adapters._hf_checkpoint import extract_rows, load_checkpoint  # noqa: E402
from pidjax.adapters._rows import Rows  # noqa: E402
from pidjax.adapters.torch import layout_for  # noqa: E402
from pidjax.io import load_embeddings  # noqa: E402
import tests.torch_tiny as tiny  # noqa: E402
from tests.torch_tiny import build_clip, build_llava, make_image  # noqa: E402

DOC = Path(__file__).resolve().parent.parent / "docs" / "huggingface.md"
torch_thread = pytest.fixture(scope="module", autouse=True)(tiny.one_torch_thread)
N = 12


def _fallback():
    """The python block of the doc that defines the dump functions, executed."""
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    code = next(b for b in blocks if "def dump_two_towers" in b)
    namespace = {}
    exec(compile(code, str(DOC), "exec"), namespace)
    return namespace


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("rows")
    paths, texts = [], []
    for i in range(N):
        paths.append(folder / f"{i}.png")
        make_image(0.2 + 0.05 * i, seed=i).save(paths[-1])
        texts.append(["a photo of a cat", "the dog", "a bird on the car"][i % 3])
    return Rows(texts, paths, {"labels": np.arange(N) % 2}, folder / "rows.csv")


def _compare(ours, theirs):
    emb_a, emb_b = load_embeddings(ours), load_embeddings(theirs)
    assert list(emb_a.layers) == list(emb_b.layers)
    for layer, mods in emb_b.layers.items():
        for mod, arr in mods.items():
            np.testing.assert_allclose(np.asarray(emb_a.layers[layer][mod]), np.asarray(arr), rtol=1e-4, atol=1e-5,
                                       err_msg=f"layer {layer} {mod}")


def test_two_tower_fallback_matches_pidjax_extract(data, tmp_path):
    model, processor = load_checkpoint(build_clip(tmp_path / "clip", text_layers=2, vision_layers=3))
    extract_rows(model, processor, data, "clip", tmp_path / "ours", batch_size=5, progress=False)
    rows = [(t, make_image(0.2 + 0.05 * i, seed=i), y) for i, (t, y) in enumerate(zip(data.texts, data.label_sets["labels"]))]
    _fallback()["dump_two_towers"](model, processor, rows, tmp_path / "theirs", batch_size=5)
    _compare(tmp_path / "ours", tmp_path / "theirs")


def test_image_token_fallback_matches_pidjax_extract(data, tmp_path):
    model, processor = load_checkpoint(build_llava(tmp_path / "llava"))
    extract_rows(model, processor, data, "llava", tmp_path / "ours", batch_size=5, progress=False)
    layout = layout_for("llava")
    rows = [(layout.prompt(t, processor), make_image(0.2 + 0.05 * i, seed=i), y)
            for i, (t, y) in enumerate(zip(data.texts, data.label_sets["labels"]))]
    _fallback()["dump_image_tokens"](model, processor, rows, tmp_path / "theirs", batch_size=5)
    _compare(tmp_path / "ours", tmp_path / "theirs")
