"""torch adapter: pooled vectors equal the models' own hidden states pooled by hand, masks, streaming,
mean ablation against a hand-written hook, clear errors, and a user's model left as it was."""

import json
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from torch_tiny import BUILDERS, make_image  # noqa: E402

from pidjax.adapters.torch import LAYOUTS, extract_torch, layout_for, special_token_ids  # noqa: E402

TEXTS = ["a photo of a cat", "the dog", "what animal is this ?", "a red car on the blue dog"]
BRIGHT = [0.1, 0.4, 0.7, 0.9]
LABELS = [0, 1, 1, 0]
AUTO = {"clip": "AutoModel", "vilt": "AutoModelForVisualQuestionAnswering", "llava": "AutoModelForImageTextToText",
        "idefics3": "AutoModelForImageTextToText"}


class Family:
    """A tiny model reloaded from its folder, its processor and two batches of two examples."""

    def __init__(self, name, folder):
        self.name, self.folder = name, folder
        self.processor = transformers.AutoProcessor.from_pretrained(folder)
        self.model = self.load()
        self.layout = layout_for(self.model)
        self.batches = [self.encode(TEXTS[i:i + 2], BRIGHT[i:i + 2], LABELS[i:i + 2]) for i in (0, 2)]

    def load(self):
        return getattr(transformers, AUTO[self.name]).from_pretrained(self.folder).eval()

    def encode(self, texts, brightness, labels=None, **kwargs):
        prompts = [layout_for(self.name).prompt(t, self.processor) for t in texts]
        images = [make_image(b, seed=i) for i, b in enumerate(brightness)]
        batch = dict(self.processor(text=prompts, images=images, padding=True, return_tensors="pt", **kwargs))
        if labels is not None:
            batch["labels"] = torch.tensor(labels)
        return batch


@pytest.fixture(scope="module")
def families(tmp_path_factory):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the models are tiny: a second thread only spins on a shared machine
    root = tmp_path_factory.mktemp("tiny")
    yield {name: Family(name, build(root / name)) for name, build in BUILDERS.items()}
    torch.set_num_threads(threads)


def _ids(batch):
    return batch["input_ids"].tolist()


def _pool_by_hand(hidden, positions):
    """Mean of ``hidden[b, p]`` over the hand-picked positions ``positions[b]`` of each example."""
    return np.stack([np.mean([hidden[b, p].double().numpy() for p in pos], axis=0) for b, pos in enumerate(positions)])


def _no_hooks(model):
    return all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


# --------------------------------------------------------------------------- imports and layouts


def test_import_pidjax_does_not_import_torch():
    code = "import sys, pidjax, pidjax.adapters; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=120)


def test_layout_for_names_aliases_and_models(families):
    assert set(LAYOUTS) == {"two-tower", "image-tokens", "segments"}
    for alias, name in [("clip", "two-tower"), ("LLaVA", "image-tokens"), ("idefics3", "image-tokens"),
                        ("smolvlm", "image-tokens"), ("paligemma", "image-tokens"), ("vilt", "segments")]:
        assert layout_for(alias).name == name
    expected = {"clip": "two-tower", "vilt": "segments", "llava": "image-tokens", "idefics3": "image-tokens"}
    for fam, name in expected.items():
        assert layout_for(families[fam].model).name == name
    with pytest.raises(ValueError, match="two-tower, image-tokens, segments"):
        layout_for("blip")
    with pytest.raises(ValueError, match="cannot tell the layout of a Linear"):
        layout_for(torch.nn.Linear(2, 2))


def test_prompts_put_the_image_token_in_once(families):
    lay = layout_for("llava")
    assert lay.prompt("a cat", families["llava"].processor) == "<image>\na cat"
    assert lay.prompt("<image> a cat", families["llava"].processor) == "<image> a cat"
    assert layout_for("clip").prompt("a cat") == layout_for("vilt").prompt("a cat") == "a cat"


# --------------------------------------------------------------------------- two-tower


def _clip_by_hand(model, batches, include_special=False):
    """Text and image hidden states of each tower, pooled over positions picked from input_ids by hand."""
    cfg = model.config.text_config
    special = {cfg.bos_token_id, cfg.eos_token_id, cfg.pad_token_id}
    text, image, proj = [], [], []
    with torch.no_grad():
        for batch in batches:
            t = model.text_model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                                 output_hidden_states=True)
            v = model.vision_model(pixel_values=batch["pixel_values"], output_hidden_states=True)
            keep = [[p for p, i in enumerate(row) if batch["attention_mask"][b, p] and
                     (include_special or i not in special)] for b, row in enumerate(_ids(batch))]
            patches = [list(range(0 if include_special else 1, v.last_hidden_state.shape[1]))] * len(keep)
            text.append([_pool_by_hand(h, keep) for h in t.hidden_states])
            image.append([_pool_by_hand(h, patches) for h in v.hidden_states])
            te = model.text_projection(t.pooler_output)
            ie = model.visual_projection(v.pooler_output)
            proj.append((te / te.norm(dim=-1, keepdim=True), ie / ie.norm(dim=-1, keepdim=True)))
    text = [np.concatenate([b[j] for b in text]) for j in range(len(text[0]))]
    image = [np.concatenate([b[j] for b in image]) for j in range(len(image[0]))]
    proj = tuple(np.concatenate([p[k].numpy() for p in proj]) for k in (0, 1))
    return text, image, proj


def test_clip_relative_pairing_equals_both_towers_by_hand(families):
    fam = families["clip"]
    ex = extract_torch(fam.model, fam.batches, "clip", progress=False)
    text, image, proj = _clip_by_hand(fam.model, fam.batches)
    assert (len(text), len(image)) == (3, 4)  # towers of different depth: 2 and 3 blocks
    assert list(ex.layers) == ["00", "01", "02", "proj"]
    pairs = {"00": (0, 0), "01": (1, 2), "02": (2, 3)}  # round_half_up(j * 3 / 2)
    for name, (i, j) in pairs.items():
        np.testing.assert_allclose(ex.layers[name][0], text[i], atol=1e-5)
        np.testing.assert_allclose(ex.layers[name][1], image[j], atol=1e-5)
        assert ex.meta["layers"][name]["text"]["hidden_state"] == i
        assert ex.meta["layers"][name]["image"]["hidden_state"] == j
    assert ex.meta["unpaired"] == {"text": [], "image": [1]}
    np.testing.assert_allclose(ex.layers["proj"][0], proj[0], atol=1e-5)
    np.testing.assert_allclose(ex.layers["proj"][1], proj[1], atol=1e-5)
    assert ex.predictions is None and ex.labels.tolist() == LABELS


def test_clip_explicit_pairing_and_special_tokens_kept(families):
    fam = families["clip"]
    ex = extract_torch(fam.model, fam.batches, "two-tower", pairing=[(0, 1), (2, 3), (-1, 0)], projections=False,
                       include_special=True, progress=False)
    text, image, _ = _clip_by_hand(fam.model, fam.batches, include_special=True)
    assert list(ex.layers) == ["t0-v1", "t2-v3", "t2-v0"]
    for name, (i, j) in {"t0-v1": (0, 1), "t2-v3": (2, 3), "t2-v0": (2, 0)}.items():
        np.testing.assert_allclose(ex.layers[name][0], text[i], atol=1e-5)
        np.testing.assert_allclose(ex.layers[name][1], image[j], atol=1e-5)
    assert ex.meta["unpaired"] == {"text": [1], "image": [2]}
    with pytest.raises(ValueError, match="image hidden-state index 4 out of range"):
        extract_torch(fam.model, fam.batches, "clip", pairing=[(0, 4)], progress=False)


def test_clip_token_masks_select_exactly_the_words_and_patches(families):
    fam = families["clip"]
    ex = extract_torch(fam.model, fam.batches, "clip", tokens=True, max_tokens=12, progress=False)
    words = {fam.processor.tokenizer.convert_tokens_to_ids(w) for w in ("a", "photo", "of", "the", "dog", "cat",
                                                                        "what", "animal", "is", "this", "?", "red",
                                                                        "car", "on", "blue")}
    hand = np.zeros((4, 12), bool)
    for row, ids in enumerate(_ids(fam.batches[0]) + _ids(fam.batches[1])):
        for p, i in enumerate(ids):
            hand[row, p] = i in words
    np.testing.assert_array_equal(ex.masks["text"], hand)
    assert ex.masks["image"].shape == (4, 17) and not ex.masks["image"][:, 0].any() and ex.masks["image"][:, 1:].all()
    for name in ("00", "01", "02"):
        for k, modality in enumerate(("text", "image")):
            tokens, mask = ex.tokens[name][k], ex.masks[modality]
            pooled = (tokens * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
            np.testing.assert_allclose(pooled, ex.layers[name][k], atol=1e-5)
    assert "proj" not in ex.tokens and ex.tokens["00"][0].shape == (4, 12, 16) and ex.tokens["02"][1].shape[1] == 17


# --------------------------------------------------------------------------- single-stream layouts


def _lm_by_hand(fam, special):
    """Hidden states of the multimodal base model, pooled over image-token and word positions picked by hand."""
    image_id = fam.model.config.image_token_id
    text, image = [], []
    with torch.no_grad():
        for batch in fam.batches:
            inputs = {k: v for k, v in batch.items() if k != "labels"}
            hidden = fam.model.model(**inputs, output_hidden_states=True, use_cache=False).hidden_states
            ids = _ids(batch)
            img = [[p for p, i in enumerate(row) if i == image_id] for row in ids]
            words = [[p for p, i in enumerate(row) if batch["attention_mask"][b, p] and i != image_id and
                      i not in special] for b, row in enumerate(ids)]
            text.append([_pool_by_hand(h, words) for h in hidden])
            image.append([_pool_by_hand(h, img) for h in hidden])
    n = len(text[0])
    return [np.concatenate([b[j] for b in text]) for j in range(n)], [np.concatenate([b[j] for b in image])
                                                                      for j in range(n)]


@pytest.mark.parametrize("name", ["llava", "idefics3"])
def test_image_tokens_pooled_vectors_equal_the_base_model_by_hand(families, name):
    fam = families[name]
    special = set(special_token_ids(fam.processor))
    ex = extract_torch(fam.model, fam.batches, fam.layout, special_ids=sorted(special), progress=False)
    text, image = _lm_by_hand(fam, special)
    assert list(ex.layers) == ["00", "01", "02"]
    for j, layer in enumerate(ex.layers):
        np.testing.assert_allclose(ex.layers[layer][0], text[j], atol=1e-5)
        np.testing.assert_allclose(ex.layers[layer][1], image[j], atol=1e-5)
    # predictions: the next token after the last attended position, from the model's own logits
    with torch.no_grad():
        expected = []
        for batch in fam.batches:
            logits = fam.model(**{k: v for k, v in batch.items() if k != "labels"}).logits
            last = batch["attention_mask"].sum(1) - 1  # right padding
            expected += logits[torch.arange(len(last)), last].argmax(-1).tolist()
    assert ex.predictions.tolist() == expected


def test_idefics3_template_tokens_are_neither_modality(families):
    fam = families["idefics3"]
    tok = fam.processor.tokenizer
    ex = extract_torch(fam.model, fam.batches, fam.layout, special_ids=special_token_ids(fam.processor), tokens=True,
                       max_tokens=20, progress=False)
    template = {tok.convert_tokens_to_ids(t) for t in ("<fake_token_around_image>", "<global-img>", "<s>", "<pad>")}
    image_id = tok.convert_tokens_to_ids("<image>")
    text_hand, image_hand = np.zeros((4, 20), bool), np.zeros((4, 20), bool)
    for row, ids in enumerate(_ids(fam.batches[0]) + _ids(fam.batches[1])):
        assert ids[:8] == [tok.bos_token_id] + tok.convert_tokens_to_ids(
            ["<fake_token_around_image>", "<global-img>"] + ["<image>"] * 4 + ["<fake_token_around_image>"])
        for p, i in enumerate(ids):
            image_hand[row, p] = i == image_id
            text_hand[row, p] = i not in template and i != image_id
    np.testing.assert_array_equal(ex.masks["image"], image_hand)
    np.testing.assert_array_equal(ex.masks["text"], text_hand)
    assert ex.masks["image"].sum(1).tolist() == [4, 4, 4, 4]
    # the default (config ids only) counts the template tokens as text: 3 more per example
    default = extract_torch(fam.model, fam.batches, fam.layout, tokens=True, max_tokens=20, progress=False)
    assert (default.masks["text"].sum(1) - ex.masks["text"].sum(1)).tolist() == [3, 3, 3, 3]


def test_vilt_segments_equal_the_encoder_by_hand(families):
    fam = families["vilt"]
    ex = extract_torch(fam.model, fam.batches, "vilt", tokens=True, max_tokens=40, progress=False)
    by_id = extract_torch(fam.model, fam.batches, "vilt", special_ids=special_token_ids(fam.processor),
                          progress=False)
    text, image, text_hand, image_hand = [], [], np.zeros((4, 40), bool), np.zeros((4, 40), bool)
    with torch.no_grad():
        for b0, batch in zip((0, 2), fam.batches):
            inputs = {k: v for k, v in batch.items() if k != "labels"}
            hidden = fam.model.vilt(**inputs, output_hidden_states=True).hidden_states
            n_text = batch["input_ids"].shape[1]
            words = [[p for p in range(n_text) if batch["attention_mask"][b, p]][1:-1] for b in range(2)]  # no CLS/SEP
            patches = [list(range(n_text + 1, hidden[0].shape[1]))] * 2  # after the image class token
            text.append([_pool_by_hand(h, words) for h in hidden])
            image.append([_pool_by_hand(h, patches) for h in hidden])
            for b in range(2):
                text_hand[b0 + b, words[b]] = True
                image_hand[b0 + b, patches[b]] = True
    for j, layer in enumerate(["00", "01", "02"]):
        # ViLT shuffles its patches in every forward pass: pooled vectors agree up to rounding
        np.testing.assert_allclose(ex.layers[layer][0], np.concatenate([t[j] for t in text]), atol=1e-5)
        np.testing.assert_allclose(ex.layers[layer][1], np.concatenate([t[j] for t in image]), atol=1e-5)
        np.testing.assert_allclose(by_id.layers[layer][0], ex.layers[layer][0], atol=1e-6)
    np.testing.assert_array_equal(ex.masks["text"], text_hand)
    np.testing.assert_array_equal(ex.masks["image"], image_hand)
    assert ex.tokens["01"][0] is ex.tokens["01"][1] and ex.tokens["01"][0].shape == (4, 40, 16)
    assert ex.predictions.shape == (4,) and set(ex.predictions.tolist()) <= {0, 1, 2}


# --------------------------------------------------------------------------- streaming


def test_streaming_equals_memory_and_fused_arrays_pool_back(families, tmp_path):
    fam = families["llava"]
    kwargs = dict(special_ids=special_token_ids(fam.processor), progress=False)
    mem = extract_torch(fam.model, fam.batches, fam.layout, **kwargs)
    disk = extract_torch(fam.model, fam.batches, fam.layout, out_dir=tmp_path / "pooled_run", **kwargs)
    files = sorted(p.name for p in (tmp_path / "pooled_run").iterdir())
    assert files == sorted([f"layer.{layer}.{m}.npy" for layer in ("00", "01", "02") for m in ("text", "image")]
                           + ["labels.npy", "predictions.npy", "extraction.json"])
    for layer in mem.layers:
        for k, m in enumerate(("text", "image")):
            np.testing.assert_array_equal(disk.layers[layer][k], mem.layers[layer][k])
            saved = np.load(tmp_path / "pooled_run" / f"layer.{layer}.{m}.npy")
            np.testing.assert_array_equal(saved, mem.layers[layer][k])
    np.testing.assert_array_equal(np.load(tmp_path / "pooled_run" / "labels.npy"), LABELS)
    np.testing.assert_array_equal(np.load(tmp_path / "pooled_run" / "predictions.npy"), mem.predictions)
    meta = json.loads((tmp_path / "pooled_run" / "extraction.json").read_text())
    assert meta["layout"] == "image-tokens" and meta["model_class"] == "LlavaForConditionalGeneration"
    assert meta["counts"]["examples"] == 4 and meta["counts"]["kept_tokens"]["image"] == 4 * 16

    tok = extract_torch(fam.model, fam.batches, fam.layout, out_dir=tmp_path / "tokens_run", tokens=True,
                        max_tokens=30, **kwargs)
    folder = tmp_path / "tokens_run"
    assert not list(folder.rglob("*.partial"))
    assert {p.name for p in folder.glob("fused.*.npy")} == {"fused.00.npy", "fused.01.npy", "fused.02.npy"}
    masks = {m: np.load(folder / f"mask.{m}.npy") for m in ("text", "image")}
    assert masks["text"].dtype == bool and masks["text"].shape == masks["image"].shape == (4, 30)
    for layer in ("00", "01", "02"):
        fused = np.load(folder / f"fused.{layer}.npy")
        assert fused.shape == (4, 30, 32)
        for k, m in enumerate(("text", "image")):
            pooled = (fused * masks[m][..., None]).sum(1) / masks[m].sum(1, keepdims=True)
            np.testing.assert_allclose(pooled, mem.layers[layer][k], atol=1e-5)
            np.testing.assert_array_equal(np.load(folder / "pooled" / f"layer.{layer}.{m}.npy"), tok.layers[layer][k])
    with pytest.raises(ValueError, match="already holds extraction files"):
        extract_torch(fam.model, fam.batches, fam.layout, out_dir=folder, **kwargs)


def test_a_longer_later_batch_needs_max_tokens(families):
    fam = families["clip"]
    short = fam.encode(["the dog", "a cat"], [0.2, 0.3])
    long = fam.encode(["a photo of a cat on the blue car", "dog"], [0.5, 0.6])
    with pytest.raises(ValueError, match="pass max_tokens="):
        extract_torch(fam.model, [short, long], "clip", tokens=True, progress=False)
    ok = extract_torch(fam.model, [short, long], "clip", tokens=True, max_tokens=long["input_ids"].shape[1],
                       progress=False)
    assert ok.masks["text"].shape == (4, long["input_ids"].shape[1])
    assert ok.masks["text"].sum(1).tolist() == [2, 2, 9, 1]


# --------------------------------------------------------------------------- ablation


def test_ablation_equals_a_hand_written_hook_and_changes_predictions(families):
    fam = families["llava"]
    special = special_token_ids(fam.processor)
    ex = extract_torch(fam.model, fam.batches, fam.layout, special_ids=special, ablation=True, progress=False)
    assert set(ex.ablated) == {"00", "01", "02"} and set(ex.ablated["01"]) == {"text", "image"}
    changed = [(layer, m) for layer in ex.ablated for m in ex.ablated[layer]
               if (ex.ablated[layer][m] != ex.predictions).any()]
    assert changed, "mean-ablating a modality never changed a prediction"
    for layer, stats in ex.ablation.items():
        full = np.mean(ex.predictions == np.array(LABELS))
        assert stats["accuracy"] == pytest.approx(full)
        assert stats["ablation_drop_1"] == pytest.approx(full - np.mean(ex.ablated[layer]["text"] == LABELS))
        assert stats["ablation_drop_2"] == pytest.approx(full - np.mean(ex.ablated[layer]["image"] == LABELS))

    # by hand: hidden state 1 (block 0's output), image tokens replaced by their mean over all examples
    image_id = fam.model.config.image_token_id
    blocks = fam.model.model.language_model.layers
    with torch.no_grad():
        states = [fam.model.model(**{k: v for k, v in b.items() if k != "labels"}, output_hidden_states=True,
                                  use_cache=False).hidden_states[1] for b in fam.batches]
        vectors = [states[i][b, p] for i, batch in enumerate(fam.batches) for b, row in enumerate(_ids(batch))
                   for p, t in enumerate(row) if t == image_id]
        mean = torch.stack(vectors).double().mean(0)
        expected = []
        for batch in fam.batches:
            mask = batch["input_ids"] == image_id
            handle = blocks[0].register_forward_hook(
                lambda mod, args, out: torch.where(mask[..., None], mean.to(out.dtype), out) if torch.is_tensor(out)
                else (torch.where(mask[..., None], mean.to(out[0].dtype), out[0]), *out[1:]))
            try:
                logits = fam.model(**{k: v for k, v in batch.items() if k != "labels"}).logits
            finally:
                handle.remove()
            last = batch["attention_mask"].sum(1) - 1
            expected += logits[torch.arange(len(last)), last].argmax(-1).tolist()
    assert ex.ablated["01"]["image"].tolist() == expected
    assert ex.meta["ablation"]["points"]["01"]["image"] == "model.language_model.layers.0 (output)"


def test_two_tower_ablation_needs_predict_and_replaces_a_whole_tower(families):
    fam = families["clip"]
    with pytest.raises(ValueError, match="pass predict="):
        extract_torch(fam.model, fam.batches, "clip", ablation=True, progress=False)

    def predict(output, batch):  # which of two fixed directions the image embedding is closer to
        return (output.image_embeds[:, 0] > output.image_embeds[:, 1]).long() * 2 + (
            output.text_embeds[:, 0] > output.text_embeds[:, 1]).long()

    ex = extract_torch(fam.model, lambda: iter(fam.batches), "clip", ablation=True, predict=predict, progress=False)
    assert set(ex.ablated) == {"00", "01", "02"}  # "proj" is not ablated
    # the text tower mean-ablated at any depth gives every example the same text embedding
    for layer in ex.ablated:
        assert len(set((ex.ablated[layer]["text"] % 2).tolist())) == 1
    assert "proj" in ex.layers and ex.meta["ablation"]["skipped"] == ["proj"]


def test_one_shot_iterators_are_refused_for_ablation(families):
    fam = families["vilt"]
    with pytest.raises(ValueError, match="re-iterable"):
        extract_torch(fam.model, iter(fam.batches), "vilt", ablation=True, progress=False)
    with pytest.raises(ValueError, match="re-iterable"):
        extract_torch(fam.model, (b for b in fam.batches), "vilt", ablation=True, progress=False)
    ex = extract_torch(fam.model, iter(fam.batches), "vilt", progress=False)  # fine without ablation
    assert ex.layers["00"][0].shape == (4, 16)


# --------------------------------------------------------------------------- bad input, the model untouched


def test_a_layout_that_does_not_match_the_model_says_what_it_expected(families):
    clip, llava, vilt = families["clip"], families["llava"], families["vilt"]
    with pytest.raises(ValueError, match=r"image_token_id.*CLIPModel has: text_model, vision_model"):
        extract_torch(clip.model, clip.batches, "image-tokens", progress=False)
    with pytest.raises(ValueError, match=r"text_model and vision_model.*LlavaForConditionalGeneration has: model"):
        extract_torch(llava.model, llava.batches, "two-tower", progress=False)
    with pytest.raises(ValueError, match=r"text_embeddings and patch_embeddings.*CLIPModel"):
        extract_torch(clip.model, clip.batches, "segments", progress=False)
    with pytest.raises(ValueError, match="pairing applies to the two-tower layout only"):
        extract_torch(vilt.model, vilt.batches, "vilt", pairing=[(0, 0)], progress=False)
    with pytest.raises(ValueError, match="no layer named '07'"):
        extract_torch(vilt.model, vilt.batches, "vilt", layers=["07"], progress=False)


def test_missing_image_tokens_name_the_example_and_leave_the_model_untouched(families, tmp_path):
    fam = families["llava"]
    model = fam.load()
    model.train()
    bad = {k: v.clone() for k, v in fam.batches[1].items()}
    image_id = model.config.image_token_id
    bad["input_ids"][1][bad["input_ids"][1] == image_id] = fam.processor.tokenizer.convert_tokens_to_ids("cat")
    with pytest.raises(ValueError, match=rf"example 3 has no image token \(id {image_id}"):
        extract_torch(model, [fam.batches[0], bad], fam.layout, out_dir=tmp_path / "run", tokens=True,
                      progress=False)
    assert all(m.training for m in model.modules()) and _no_hooks(model)
    assert not [p for p in (tmp_path / "run").rglob("*") if p.is_file()]  # no file that looks finished, no partial


def test_the_users_model_is_left_as_it_was(families):
    fam = families["idefics3"]
    model = fam.load()
    model.train()
    model.model.text_model.layers[1].mlp.eval()  # a mixed mode survives too
    seen = []
    own = model.model.text_model.layers[0].register_forward_hook(lambda *args: seen.append(1))
    ex = extract_torch(model, fam.batches, fam.layout, ablation=True, tokens=True, max_tokens=20, progress=False)
    assert ex.ablated is not None and seen  # the user's hook ran, and stays
    modes = {name: m.training for name, m in model.named_modules()}
    assert not modes["model.text_model.layers.1.mlp"] and all(v for n, v in modes.items() if ".layers.1.mlp" not in n)
    own.remove()
    assert _no_hooks(model)
    assert not any("_output_capturing_hooks_installed" in vars(m) for m in model.modules())
    # an error half-way (a bad later batch) leaves it the same way
    bad = dict(fam.batches[1])
    bad["input_ids"] = torch.full_like(bad["input_ids"], fam.processor.tokenizer.convert_tokens_to_ids("dog"))
    with pytest.raises(ValueError, match="example 2 has no image token"):
        extract_torch(model, [fam.batches[0], bad], fam.layout, ablation=True, progress=False)
    assert _no_hooks(model) and model.training
