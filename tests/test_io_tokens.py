"""Token-level files: fused arrays stored once, empty masks and subsets, ablation and target keys."""

import numpy as np
import pytest

from pidjax.io import (
    InputError,
    empty_masks,
    layer_embeddings,
    load_embeddings,
    nonempty_examples,
    pool,
    save_embeddings,
    subset_examples,
    write_safetensors,
)

N, T, D = 12, 7, 3


def _fused(n=N, t=T, d=D, n_layers=2, seed=0):
    """Fused token arrays and two disjoint masks: text = the first 3 tokens (ragged), image = the last 4."""
    rng = np.random.default_rng(seed)
    tokens = {str(i): rng.normal(size=(n, t, d)).astype(np.float32) for i in range(n_layers)}
    text = np.zeros((n, t), np.int8)
    image = np.zeros((n, t), np.int8)
    text[:, :3] = rng.random((n, 3)) < 0.8
    text[:, 0] = 1
    image[:, 3:] = 1
    return tokens, {"text": text, "image": image}


@pytest.mark.parametrize("target", ["e.npz", "e.safetensors", "folder_npz", "folder_safetensors"])
def test_fused_round_trip_pools_like_separately_stored_copies(tmp_path, target):
    tokens, masks = _fused()
    y = np.arange(N) % 2
    fmt = "safetensors" if target.endswith("safetensors") else "npz"
    save_embeddings(tmp_path / target, fused=tokens, masks=masks, labels=y, file_format=fmt)
    if target == "folder_npz":
        assert sorted(p.name for p in (tmp_path / target).iterdir()) == ["fused.0.npy", "fused.1.npy", "meta.npz"]
    emb = load_embeddings(tmp_path / target)
    copies = {layer: {m: arr for m in masks} for layer, arr in tokens.items()}
    save_embeddings(tmp_path / "copies.npz", copies, masks=masks, labels=y)
    ref = load_embeddings(tmp_path / "copies.npz")
    assert emb.fused == ("0", "1") and ref.fused == ()
    assert set(emb.modalities) == {"text", "image"} and emb.n_samples == N
    for layer in emb.layers:
        assert emb.layers[layer]["text"] is emb.layers[layer]["image"]  # one memory map, never a copy
        got = layer_embeddings(emb, layer, ("text", "image"))
        want = layer_embeddings(ref, layer, ("text", "image"))
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w)
        text = masks["text"].astype(bool)
        expect = (tokens[layer] * text[..., None]).sum(1) / text.sum(1, keepdims=True)
        np.testing.assert_allclose(got[0], expect, rtol=1e-5, atol=1e-7)


def test_folder_of_npy_files_as_the_torch_extractor_streams_them(tmp_path):
    tokens, masks = _fused()
    for layer, arr in tokens.items():
        np.save(tmp_path / f"fused.{layer}.npy", arr)
    for mod, m in masks.items():
        np.save(tmp_path / f"mask.{mod}.npy", m)
    np.save(tmp_path / "labels.npy", np.arange(N) % 3)
    np.save(tmp_path / "ablated.1.text.npy", np.zeros(N, np.int64))
    emb = load_embeddings(tmp_path)
    assert list(emb.layers) == ["0", "1"] and emb.modalities == ("image", "text")
    assert isinstance(emb.layers["0"]["text"], np.memmap)
    assert set(emb.ablated) == {"1"} and emb.ablated["1"]["text"].shape == (N,)


def _write(tmp_path, arrays, name="bad.npz"):
    np.savez(tmp_path / name, **arrays)
    return tmp_path / name


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"fused.0": np.zeros((N, T, D))}, r"fused\.0 in .*no mask\.<modality>"),
        ({"fused.0": np.zeros((N, T, D)), "mask.text": np.ones((N, T + 1))}, r"mask\.text in .*expected \(N, tokens\) = \(12, 7\) of the fused arrays"),
        ({"fused.0": np.zeros((N, T, D)), "mask.text": np.ones((N, T)), "layer.0.text": np.zeros((N, D))},
         r"modality 'text' of layer '0' is given twice: in fused\.0 .* and as layer\.0\.text"),
        ({"fused.0": np.zeros((N, T, D)), "fused.1": np.zeros((N, T + 2, D)), "mask.text": np.ones((N, T))},
         r"fused\.1 in .* has 9 tokens but fused\.0 .* has 7"),
        ({"fused.0": np.zeros((N, D)), "mask.text": np.ones((N, T))}, r"fused\.0 in .*expected \(N, tokens, D\)"),
        ({"fused.0": np.zeros((N, T, D)), "mask.text": np.ones((N, T)), "mask.image": np.ones((N, T)),
          "fused.1": np.zeros((N - 1, T, D))}, r"fused\.1 in .*same token count|fused\.1 .*11 rows"),
    ],
)
def test_inconsistent_fused_files_raise_one_line_input_errors(tmp_path, arrays, message):
    with pytest.raises(InputError, match=message) as info:
        load_embeddings(_write(tmp_path, arrays))
    assert "\n" not in str(info.value)


def test_fused_and_separate_keys_in_different_files_of_a_folder_name_both(tmp_path):
    tokens, masks = _fused()
    save_embeddings(tmp_path / "f", fused={"0": tokens["0"]}, masks=masks)
    np.save(tmp_path / "f" / "layer.0.image.npy", np.zeros((N, D), np.float32))
    with pytest.raises(InputError, match=r"fused\.0 \(.*fused\.0\.npy.* and as layer\.0\.image \(.*layer\.0\.image\.npy\)"):
        load_embeddings(tmp_path / "f")
    with pytest.raises(InputError, match="given twice"):
        save_embeddings(tmp_path / "g.npz", {"0": {"text": np.zeros((N, D))}}, fused={"0": tokens["0"]}, masks=masks)
    with pytest.raises(InputError, match="need masks"):
        save_embeddings(tmp_path / "h.npz", fused={"0": tokens["0"]})


def test_fused_layers_mix_with_separately_stored_layers(tmp_path):
    tokens, masks = _fused()
    separate = {"2": {"text": np.ones((N, T, D), np.float32), "image": np.ones((N, D), np.float32)}}
    save_embeddings(tmp_path / "mix.npz", separate, fused=tokens, masks=masks)
    emb = load_embeddings(tmp_path / "mix.npz")
    assert list(emb.layers) == ["0", "1", "2"] and emb.fused == ("0", "1")
    np.testing.assert_array_equal(layer_embeddings(emb, "2", ("text", "image"))[0], np.ones((N, D)))


# ------------------------------------------------------------------ empty masks and subsets


def _with_empty(tmp_path, empty_text=(2,), empty_image=(5, 9)):
    tokens, masks = _fused()
    for i in empty_text:
        masks["text"][i] = 0
    for i in empty_image:
        masks["image"][i] = 0
    y = np.arange(N) % 3
    path = save_embeddings(tmp_path / "e.npz", fused=tokens, masks=masks, labels=y, predictions=(y + 1) % 3,
                           ablated={"1": {"text": y, "image": y[::-1].copy()}},
                           targets={"tok": np.arange(N * T).reshape(N, T) % 2})
    return load_embeddings(path), tokens, masks, y


def test_nonempty_examples_and_empty_masks_name_each_mask(tmp_path):
    emb, _, _, _ = _with_empty(tmp_path)
    keep = nonempty_examples(emb, ("text", "image"))
    assert keep.dtype == bool and keep.shape == (N,)
    assert np.flatnonzero(~keep).tolist() == [2, 5, 9]
    assert nonempty_examples(emb, "text").sum() == N - 1
    got = empty_masks(emb)
    assert {k: v.tolist() for k, v in got.items()} == {"mask.text": [2], "mask.image": [5, 9]}
    with pytest.raises(InputError, match="unknown modality 'audio'"):
        nonempty_examples(emb, ("audio",))
    plain = {"0": {"a": np.zeros((4, 2)), "b": np.zeros((4, 3, 2))}}
    save_embeddings(tmp_path / "p.npz", plain)
    assert nonempty_examples(load_embeddings(tmp_path / "p.npz")).all()


def test_layer_embeddings_names_the_empty_mask_the_example_and_the_count(tmp_path):
    emb, tokens, masks, _ = _with_empty(tmp_path)
    with pytest.raises(InputError, match=r"mask\.text keeps no token for example 2 \(1 example in all\).*--drop-empty"):
        layer_embeddings(emb, "0", ("text", "image"))
    with pytest.raises(InputError, match=r"mask\.image keeps no token for example 5 \(2 examples in all\)"):
        layer_embeddings(emb, "0", ("image", "text"))
    with pytest.raises(InputError, match=r"example 5 \(2 examples"):
        pool(emb.layers["0"]["image"], emb.masks["image"])


def test_subset_examples_cuts_every_array_the_same_way_without_copies(tmp_path):
    emb, tokens, masks, y = _with_empty(tmp_path)
    keep = nonempty_examples(emb)
    sub = subset_examples(emb, keep)
    assert sub.n_samples == N - 3 and sub.fused == emb.fused
    assert sub.layers["0"]["text"] is sub.layers["0"]["image"]  # still one shared (lazy) view
    np.testing.assert_array_equal(sub.label_sets["labels"], y[keep])
    np.testing.assert_array_equal(sub.label_sets["predictions"], ((y + 1) % 3)[keep])
    np.testing.assert_array_equal(sub.ablated["1"]["image"], y[::-1][keep])
    np.testing.assert_array_equal(np.asarray(sub.targets["tok"]), (np.arange(N * T).reshape(N, T) % 2)[keep])
    np.testing.assert_array_equal(np.asarray(sub.masks["text"]), masks["text"][keep])
    e1, e2 = layer_embeddings(sub, "1", ("text", "image"))
    save_embeddings(tmp_path / "pre.npz", fused={k: v[keep] for k, v in tokens.items()},
                    masks={k: v[keep] for k, v in masks.items()})
    r1, r2 = layer_embeddings(load_embeddings(tmp_path / "pre.npz"), "1", ("text", "image"))
    np.testing.assert_array_equal(e1, r1)
    np.testing.assert_array_equal(e2, r2)
    assert np.asarray(sub.layers["0"]["text"][1:3, 0]).shape == (2, D)
    assert subset_examples(emb, np.flatnonzero(keep)).n_samples == N - 3
    for bad, message in ((np.ones(N - 1, bool), "one per example"), (np.array([3, 1]), "increasing"),
                         (np.zeros(N, bool), "no example is left"), (np.array([0.5]), "booleans or increasing")):
        with pytest.raises(InputError, match=message):
            subset_examples(emb, bad)


# ------------------------------------------------------------------ ablation and target keys


def test_ablated_keys_are_parsed_into_embeddings_ablated(tmp_path):
    rng = np.random.default_rng(0)
    layers = {l: {"text": rng.normal(size=(N, 2)), "image": rng.normal(size=(N, 2))} for l in ("enc.1", "enc.2")}
    preds = {"enc.2": {"text": np.arange(N) % 2, "image": np.array(["a", "b"] * (N // 2))}}
    with _no_warnings():
        save_embeddings(tmp_path / "a.npz", layers, labels=np.arange(N) % 2, ablated=preds)
        emb = load_embeddings(tmp_path / "a.npz")
    assert list(emb.ablated) == ["enc.2"] and set(emb.ablated["enc.2"]) == {"text", "image"}
    np.testing.assert_array_equal(emb.ablated["enc.2"]["image"], preds["enc.2"]["image"])
    old = load_embeddings(_write(tmp_path, {"layer.0.a": np.zeros((3, 2)), "layer.0.b": np.zeros((3, 2))}, "old.npz"))
    assert old.ablated == {} and old.targets == {} and old.fused == ()


@pytest.mark.parametrize(
    "extra, message",
    [
        ({"ablated.7.text": np.zeros(N)}, r"ablated\.7\.text in .*names layer '7'"),
        ({"ablated.0.audio": np.zeros(N)}, r"ablated\.0\.audio in .*names modality 'audio'"),
        ({"ablated.0.text": np.zeros((N, 2))}, r"ablated\.0\.text in .*expected one prediction per example, \(12,\)"),
        ({"ablated.0.text": np.zeros(N - 1)}, r"ablated\.0\.text .*\(12,\)"),
        ({"ablated.text": np.zeros(N)}, r"must be ablated\.<layer>\.<modality>"),
        ({"targets.tok": np.zeros(N)}, r"targets\.tok in .*one target per token"),
        ({"targets.tok": np.zeros((N, T + 5), int)}, r"targets\.tok in .*has 12 tokens but no token-level array"),
    ],
)
def test_bad_ablation_and_target_keys_raise_input_errors(tmp_path, extra, message):
    arrays = {"layer.0.text": np.zeros((N, T, D)), "layer.0.image": np.zeros((N, D)), **extra}
    with pytest.raises(InputError, match=message) as info:
        load_embeddings(_write(tmp_path, arrays))
    assert "\n" not in str(info.value)


def test_ablation_and_target_keys_are_not_reported_as_outside_the_convention(tmp_path):
    arrays = {"layer.0.text": np.zeros((N, T, D)), "layer.0.image": np.zeros((N, D)), "ablated.0.text": np.zeros(N),
              "targets.next": np.zeros((N, T), np.int64)}
    write_safetensors(tmp_path / "t.safetensors", arrays)
    with _no_warnings():
        emb = load_embeddings(tmp_path / "t.safetensors")
    assert set(emb.targets) == {"next"} and set(emb.ablated["0"]) == {"text"}
    # in a layer file, prefixed keys keep their meaning instead of becoming bare modality names
    (tmp_path / "d").mkdir()
    np.savez(tmp_path / "d" / "layer.0.npz", text=np.zeros((N, T, D)), image=np.zeros((N, D)), **{"ablated.0.image": np.ones(N)})
    with _no_warnings():
        assert set(load_embeddings(tmp_path / "d").ablated["0"]) == {"image"}


class _no_warnings:
    def __enter__(self):
        import warnings

        self._cm = warnings.catch_warnings()
        self._cm.__enter__()
        warnings.simplefilter("error")
        return self

    def __exit__(self, *exc):
        return self._cm.__exit__(*exc)
