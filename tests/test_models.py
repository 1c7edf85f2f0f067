"""Built-in two-stream model: forward pass, training, checkpoints, and the fusion architectures on a synergy task."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pidjax.data import batches, load_digits_views, synthetic_views, train_test_split
from pidjax.models import (ModelConfig, accuracy, build_model, layer_spec, load_checkpoint, predict,
                           save_checkpoint, train)

TINY = ModelConfig(4, 8, 4, 8, n_classes=10, dim=8, depth=1, heads=2)


def test_forward_shape_and_late_fusion_has_no_cross_attention():
    for fusion in ("cross", "late"):
        model = build_model(ModelConfig(4, 8, 3, 5, n_classes=7, dim=8, depth=2, heads=2, fusion=fusion))
        out = jax.eval_shape(lambda a, b: model(a, b), jnp.zeros((2, 4, 8)), jnp.zeros((2, 3, 5)))
        assert out.shape == (2, 7)
        assert (model.blocks_1[0].cross_attn is None) == (fusion == "late")


def test_late_fusion_stream_ignores_the_other_modality():
    model = build_model(ModelConfig(4, 8, 4, 8, n_classes=3, dim=8, depth=1, heads=2, fusion="late"))
    rng = np.random.default_rng(0)
    x1, a, b = (rng.standard_normal((2, 4, 8)).astype(np.float32) for _ in range(3))
    h = model.embed_1(x1) + model.pos_1[...]
    np.testing.assert_array_equal(model.blocks_1[0](h, model.embed_2(a)), model.blocks_1[0](h, model.embed_2(b)))


@pytest.mark.parametrize("bad", [dict(dim=10, heads=4), dict(fusion="early"), dict(n_classes=1), dict(depth=0)])
def test_bad_config_raises(bad):
    with pytest.raises(ValueError):
        ModelConfig(**{**dict(tokens_1=4, features_1=8, tokens_2=4, features_2=8, n_classes=10), **bad})


def test_training_lowers_the_loss_and_rejects_mismatched_data():
    data = load_digits_views()
    result = train(build_model(TINY), data, steps=60, batch_size=64, learning_rate=1e-2)
    logged = result.losses[~np.isnan(result.losses)]
    assert logged[-1] < logged[0]
    with pytest.raises(ValueError, match="token shapes"):
        train(build_model(TINY), load_digits_views("left_right"), steps=1)


@pytest.mark.parametrize("suffix", [".msgpack", ".safetensors"])
def test_checkpoint_round_trip_gives_identical_predictions(tmp_path, suffix):
    model = build_model(TINY, seed=4)
    path = save_checkpoint(tmp_path / f"m{suffix}", model)
    again = load_checkpoint(path)
    x1, x2 = load_digits_views().x1[:50], load_digits_views().x2[:50]
    np.testing.assert_array_equal(np.asarray(model(x1, x2)), np.asarray(again(x1, x2)))
    assert again.config == TINY


@pytest.mark.parametrize("suffix", [".msgpack", ".safetensors"])
def test_corrupt_or_foreign_checkpoints_get_a_clear_value_error(tmp_path, suffix):
    good = save_checkpoint(tmp_path / f"good{suffix}", build_model(TINY))
    blob = good.read_bytes()
    truncated = tmp_path / f"truncated{suffix}"
    truncated.write_bytes(blob[: len(blob) // 2])
    garbage = tmp_path / f"garbage{suffix}"
    garbage.write_bytes(b"\x00\x01not a checkpoint" * 7)
    for path in (truncated, garbage):
        with pytest.raises(ValueError, match="checkpoint"):
            load_checkpoint(path)
    with pytest.raises(ValueError, match="must end in"):
        load_checkpoint(tmp_path / "model.pt")
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / f"missing{suffix}")


def test_checkpoint_with_wrong_shapes_names_the_parameter(tmp_path):
    from flax import serialization

    path = save_checkpoint(tmp_path / "m.msgpack", build_model(TINY))
    blob = serialization.msgpack_restore(path.read_bytes())
    blob["params"]["embed_1/kernel"] = np.zeros((3, 3), np.float32)
    path.write_bytes(serialization.msgpack_serialize(blob))
    with pytest.raises(ValueError, match="embed_1/kernel"):
        load_checkpoint(path)
    blob["format"] = "something else"
    path.write_bytes(serialization.msgpack_serialize(blob))
    with pytest.raises(ValueError, match="not a pidjax checkpoint"):
        load_checkpoint(path)


def test_fusion_architectures_on_the_synergy_task():
    """Label = XOR of one latent bit per modality (S = 1 bit in the data).

    Late fusion: a per-modality layer is a function of its own modality alone, and each
    modality alone says nothing about an XOR, so every bit such a layer pair has about the
    label must be synergy: R, U1, U2 stay at their permutation baselines while S rises above
    its own. Cross-attention: the top layer's streams have exchanged information, so the label
    also becomes readable from each stream: redundancy rises above its baseline, next to synergy.
    """
    from pidjax.adapters import extract_embeddings
    from pidjax.analysis import layer_sweep

    data = synthetic_views("synergy", 800, tokens=4, dim=8, noise=0.25, seed=0)
    train_data, test_data = train_test_split(data, 0.5, seed=0)
    pairs = {}
    for fusion in ("cross", "late"):
        cfg = ModelConfig(4, 8, 4, 8, n_classes=2, dim=16, depth=2, heads=2, fusion=fusion)
        model = train(build_model(cfg), train_data, steps=200, batch_size=128, learning_rate=5e-3).model
        assert accuracy(model, test_data) > 0.65, fusion
        ex = extract_embeddings(model, [next(batches(test_data, 400))], layer_spec(cfg), progress=False)
        pairs[f"{fusion}/top"] = ex.layers[f"block_{cfg.depth - 1}"]
        labels = ex.labels
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = layer_sweep(pairs, labels, n_states=4, n_components=8, n_bootstrap=0, n_permutations=20,
                        method="ipfp", tol=1e-5, seed=0)
    row = {name: i for i, name in enumerate(t["layer"])}
    late, cross = row["late/top"], row["cross/top"]
    assert t["synergy"][late] > t["synergy_perm_hi"][late] + 0.1
    for term in ("redundancy", "unique_1", "unique_2"):
        assert t[term][late] <= t[f"{term}_perm_hi"][late] + 0.02, term
    assert t["synergy"][cross] > t["synergy_perm_hi"][cross]
    assert t["redundancy"][cross] > t["redundancy_perm_hi"][cross] + 0.02
    assert t["redundancy"][cross] > t["redundancy"][late] + 0.02


def test_predict_matches_argmax_of_logits():
    model = build_model(TINY)
    data = load_digits_views()
    logits = jax.jit(lambda a, b: model(a, b))(data.x1[:20], data.x2[:20])
    np.testing.assert_array_equal(predict(model, data.x1[:20], data.x2[:20], batch_size=10),
                                  np.argmax(np.asarray(logits), -1))
    assert list(layer_spec(TINY)) == ["embed", "block_0"]
