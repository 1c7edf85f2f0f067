"""nnx adapter: embeddings equal the model's own layers by hand, masks, streaming, clear errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from pidjax.adapters import extract_embeddings, pool_tokens
from pidjax.data import batches, load_digits_views
from pidjax.io import load_embeddings
from pidjax.models import ModelConfig, build_model, layer_spec

CFG = ModelConfig(4, 8, 4, 8, n_classes=10, dim=8, depth=2, heads=2)


@pytest.fixture(scope="module")
def setup():
    data = load_digits_views()
    data = data.subset(np.arange(300))
    return data, build_model(CFG, seed=1)


def _by_hand(model, x1, x2):
    """Every layer's token activations of the built-in model, recomputed from its sub-modules."""
    h1, h2 = model.embed_1(x1), model.embed_2(x2)
    out = {"embed": (h1, h2)}
    h1, h2 = h1 + model.pos_1[...], h2 + model.pos_2[...]
    for i, (b1, b2) in enumerate(zip(model.blocks_1, model.blocks_2)):
        h1, h2 = b1(h1, h2), b2(h2, h1)
        out[f"block_{i}"] = (h1, h2)
    return out


def test_builtin_model_embeddings_equal_the_layers_by_hand(setup):
    data, model = setup
    ex = extract_embeddings(model, batches(data, 128), layer_spec(CFG), progress=False)
    hand = jax.jit(lambda a, b: _by_hand(model, a, b))(data.x1, data.x2)
    for layer, (t1, t2) in hand.items():
        np.testing.assert_allclose(ex.layers[layer][0], np.asarray(t1).mean(1), atol=2e-5)
        np.testing.assert_allclose(ex.layers[layer][1], np.asarray(t2).mean(1), atol=2e-5)
    logits = np.asarray(jax.jit(lambda a, b: model(a, b))(data.x1, data.x2))
    np.testing.assert_allclose(ex.outputs, logits, atol=2e-5)
    np.testing.assert_array_equal(ex.predictions, logits.argmax(-1))
    np.testing.assert_array_equal(ex.labels, data.y)


def test_token_selection_and_pooling_choices(setup):
    data, model = setup
    keep = np.array([True, False, True, False])
    layers = {"a": (("blocks_1/1", keep), ("blocks_2.1", slice(1, 3))), "b": (("embed_1", [0, -1]), "embed_2")}
    hand = jax.jit(lambda a, b: _by_hand(model, a, b))(data.x1, data.x2)
    for pooling in ("mean", "first", "last", "max"):
        ex = extract_embeddings(model, batches(data, 100), layers, pooling=pooling, progress=False)
        t1, t2 = (np.asarray(t) for t in hand["block_1"])
        e1, _ = (np.asarray(t) for t in hand["embed"])
        np.testing.assert_allclose(ex.layers["a"][0], pool_tokens(jnp.asarray(t1[:, keep]), pooling), atol=2e-5)
        np.testing.assert_allclose(ex.layers["a"][1], pool_tokens(jnp.asarray(t2[:, 1:3]), pooling), atol=2e-5)
        np.testing.assert_allclose(ex.layers["b"][0], pool_tokens(jnp.asarray(e1[:, [0, 3]]), pooling), atol=2e-5)
    custom = extract_embeddings(model, batches(data, 100), {"c": ("embed_1", "embed_2")},
                                pooling=lambda act, mask: act.sum(1), progress=False)
    np.testing.assert_allclose(custom.layers["c"][0], np.asarray(hand["embed"][0]).sum(1), atol=1e-4)


def test_per_example_token_mask_from_the_batch(setup):
    data, model = setup
    rng = np.random.default_rng(0)
    mask = rng.random((data.n_samples, 4)) < 0.6
    mask[:, 0] = True
    stream = [{"x1": data.x1[i:i + 100], "x2": data.x2[i:i + 100], "m": mask[i:i + 100], "y": data.y[i:i + 100]}
              for i in range(0, data.n_samples, 100)]
    ex = extract_embeddings(model, stream, {"e": (("embed_1", "m"), "embed_2")}, progress=False)
    e1 = np.asarray(jax.jit(lambda a: model.embed_1(a))(data.x1))
    want = (e1 * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
    np.testing.assert_allclose(ex.layers["e"][0], want, atol=2e-5)
    mask[5] = False
    stream[0]["m"] = mask[:100]
    with pytest.raises(ValueError, match="keeps no token for example 5"):
        extract_embeddings(model, stream, {"e": (("embed_1", "m"), "embed_2")}, progress=False)


def test_streaming_to_disk_equals_in_memory(setup, tmp_path):
    data, model = setup
    spec = layer_spec(CFG)
    mem = extract_embeddings(model, batches(data, 128), spec, progress=False)
    disk = extract_embeddings(model, batches(data, 128), spec, out_dir=tmp_path / "emb", progress=False,
                              modality_names=("top", "bottom"))
    for layer in spec:
        for i in (0, 1):
            assert isinstance(disk.layers[layer][i], np.memmap)
            np.testing.assert_array_equal(disk.layers[layer][i], mem.layers[layer][i])
    loaded = load_embeddings(tmp_path / "emb")
    assert set(loaded.modalities) == {"top", "bottom"} and loaded.n_samples == data.n_samples
    np.testing.assert_array_equal(loaded.label_sets["predictions"], mem.predictions)
    # same embeddings, so the same discretisation and the same histograms
    from pidjax import joint_distribution
    from pidjax.discretize import discretize
    for layer in spec:
        c_mem = [np.asarray(discretize(mem.layers[layer][i], 3, seed=0)) for i in (0, 1)]
        c_disk = [np.asarray(discretize(np.asarray(disk.layers[layer][i]), 3, seed=0)) for i in (0, 1)]
        np.testing.assert_array_equal(np.asarray(joint_distribution(*c_mem, data.y)),
                                      np.asarray(joint_distribution(*c_disk, data.y)))


class UserModel(nnx.Module):
    """A minimal user-style nnx model over concatenated tokens that sows its own features."""

    def __init__(self, rngs):
        self.proj = nnx.Linear(3, 6, rngs=rngs)
        self.mix = nnx.Linear(6, 6, rngs=rngs)
        self.out = nnx.Linear(6, 2, rngs=rngs)

    def __call__(self, tokens):
        h = nnx.relu(self.proj(tokens))
        self.sow(nnx.Intermediate, "features", h * 2.0)
        h = self.mix(h)
        return self.out(h.mean(1))


def test_user_nnx_model_single_stream_with_token_slices_and_sown_values():
    model = UserModel(nnx.Rngs(0))
    x = np.random.default_rng(1).standard_normal((50, 5, 3)).astype(np.float32)
    layers = {"proj": (("proj", slice(0, 2)), ("proj", slice(2, 5))),
              "sown": (("features", [0, 1]), ("features", [2, 3, 4])), "mix": (("mix", 0), ("mix", 4))}
    ex = extract_embeddings(model, [x[:32], x[32:]], layers, progress=False)
    p = np.asarray(model.proj(x))
    h = np.maximum(p, 0.0)
    m = np.asarray(model.mix(jnp.asarray(h)))
    np.testing.assert_allclose(ex.layers["proj"][0], p[:, :2].mean(1), atol=1e-5)
    np.testing.assert_allclose(ex.layers["proj"][1], p[:, 2:].mean(1), atol=1e-5)
    np.testing.assert_allclose(ex.layers["sown"][1], 2 * h[:, 2:].mean(1), atol=1e-5)
    np.testing.assert_allclose(ex.layers["mix"][1], m[:, 4], atol=1e-5)
    assert ex.labels is None and ex.predictions.shape == (50,)
    assert not hasattr(model, "features")  # the user's model is left as it was


@pytest.mark.parametrize("layers, match", [
    ({"x": ("embed_1", "no_such_module")}, "no module or sown value named 'no_such_module'"),
    ({"x": (("embed_1", np.ones(5, bool)), "embed_2")}, "token mask has length 5 but the activation has 4"),
    ({"x": (("embed_1", [7]), "embed_2")}, "out of range"),
    ({"x": (("embed_1", np.zeros(4, bool)), "embed_2")}, "keeps no token"),
    ({"x": ("embed_1",)}, "must be a pair"),
    ({"x/y": ("embed_1", "embed_2")}, "layer name"),
    ({}, "non-empty"),
])
def test_bad_layer_maps_raise_clear_value_errors(setup, layers, match):
    data, model = setup
    with pytest.raises(ValueError, match=match):
        extract_embeddings(model, batches(data, 100), layers, progress=False)


def test_bad_models_and_arguments_raise(setup):
    data, model = setup
    spec = layer_spec(CFG)
    with pytest.raises(ValueError, match="nnx.Module or a flax.linen.Module"):
        extract_embeddings(object(), batches(data, 100), spec, progress=False)
    with pytest.raises(ValueError, match="empty"):
        extract_embeddings(model, [], spec, progress=False)
    with pytest.raises(ValueError, match="pooling"):
        extract_embeddings(model, batches(data, 100), spec, pooling="median", progress=False)
    other = build_model(ModelConfig(4, 8, 4, 8, n_classes=10, dim=8, depth=1, heads=2))
    with pytest.raises(ValueError, match="blocks_1/1"):
        extract_embeddings(other, batches(data, 100), spec, progress=False)
