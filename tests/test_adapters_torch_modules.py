"""`extract_modules`: embeddings of a plain torch.nn.Module through forward hooks on named modules."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

from pidjax.adapters.torch import extract_modules  # noqa: E402

B, T, N = 4, 5, 10


class TwoStreams(nn.Module):
    """Text ids (B, T) with a mask, an image vector (B, 4); logits (B, 2) from both, pooled."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(12, 6)
        self.text_enc = nn.Linear(6, 8)
        self.image_enc = nn.Sequential(nn.Linear(4, 8), nn.Tanh())
        self.head = nn.Linear(16, 2)

    def forward(self, ids, image, text_mask):
        t = self.text_enc(self.embed(ids))
        m = text_mask.unsqueeze(-1).float()
        pooled = (t * m).sum(1) / m.sum(1)
        return self.head(torch.cat([pooled, self.image_enc(image)], -1))


@pytest.fixture
def model():
    torch.manual_seed(0)
    return TwoStreams().train()  # left in training mode: the extractor must restore it


def _batches(n=N, empty=None):
    g = torch.Generator().manual_seed(1)
    out = []
    for start in range(0, n, B):
        rows = min(B, n - start)
        mask = torch.rand(rows, T, generator=g) > 0.3
        mask[:, 0] = True
        if empty is not None and start <= empty < start + rows:
            mask[empty - start] = False
        out.append({"ids": torch.randint(0, 12, (rows, T), generator=g), "image": torch.randn(rows, 4, generator=g),
                    "text_mask": mask, "labels": torch.arange(start, start + rows) % 2})
    return out


LAYERS = {"enc": (("text_enc", "text_mask"), "image_enc"), "embed": ("embed", "image_enc.0")}


def test_pooled_outputs_and_predictions_equal_a_hand_written_forward(model):
    batches = _batches()
    ex = extract_modules(model, batches, LAYERS, modality_names=("text", "image"), progress=False)
    with torch.no_grad():
        ids = torch.cat([b["ids"] for b in batches])
        mask = torch.cat([b["text_mask"] for b in batches])
        image = torch.cat([b["image"] for b in batches])
        text = model.text_enc(model.embed(ids))
        by_hand = np.stack([text[i, mask[i]].mean(0).numpy() for i in range(N)])
        logits = model.head(torch.cat([torch.from_numpy(by_hand), model.image_enc(image)], -1))
    np.testing.assert_allclose(ex.layers["enc"][0], by_hand, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ex.layers["enc"][1], model.image_enc(image).detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ex.layers["embed"][0], model.embed(ids).mean(1).detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ex.layers["embed"][1], model.image_enc[0](image).detach().numpy(), rtol=1e-5,
                               atol=1e-6)
    assert ex.predictions.tolist() == logits.argmax(-1).tolist() and ex.labels.tolist() == (np.arange(N) % 2).tolist()
    assert ex.meta["modules"]["enc.text"] == "text_enc" and ex.meta["masks"] == {"enc.text": "text_mask"}


def test_streamed_files_equal_the_arrays_in_memory(model, tmp_path):
    batches = _batches()
    mem = extract_modules(model, batches, LAYERS, modality_names=("text", "image"), progress=False)
    disk = extract_modules(model, batches, LAYERS, modality_names=("text", "image"), progress=False,
                           out_dir=tmp_path / "emb")
    assert sorted(p.name for p in (tmp_path / "emb").iterdir()) == [
        "labels.npy", "layer.embed.image.npy", "layer.embed.text.npy", "layer.enc.image.npy", "layer.enc.text.npy",
        "predictions.npy"]
    for layer in LAYERS:
        for i, name in enumerate(("text", "image")):
            np.testing.assert_array_equal(np.load(tmp_path / "emb" / f"layer.{layer}.{name}.npy"), mem.layers[layer][i])
            np.testing.assert_array_equal(disk.layers[layer][i], mem.layers[layer][i])


def _untouched(model):
    return model.training and all(not m._forward_hooks for m in model.modules())


@pytest.mark.parametrize("layers, batches, message", [
    ({"x": ("text_encoder", "image_enc")}, None, "no module 'text_encoder'; modules include embed, text_enc"),
    ({"x": (("text_enc", "nope"), "image_enc")}, None, "no token mask 'nope'"),
    ({"x": (("text_enc", "text_mask"), "image_enc")}, "empty", "keeps no token for example 6"),
    ({"x": "text_enc"}, None, "must be a pair"),
])
def test_bad_input_is_named_and_leaves_the_model_untouched(model, tmp_path, layers, batches, message):
    with pytest.raises(ValueError, match=message):
        extract_modules(model, _batches(empty=6) if batches else _batches(), layers, progress=False,
                        out_dir=tmp_path / "emb")
    assert _untouched(model)
    assert not (tmp_path / "emb").exists() or not any((tmp_path / "emb").iterdir())  # nothing half-written


def test_model_is_left_as_found_after_success(model):
    extract_modules(model, _batches(), LAYERS, progress=False)
    assert _untouched(model)
