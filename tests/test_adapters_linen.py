"""linen adapter: module outputs and sown values equal the layers by hand; masks; streaming; errors."""

import jax
import numpy as np
import pytest
from flax import linen as nn

from pidjax.adapters import extract_embeddings


class Encoder(nn.Module):
    """One modality's encoder: a Dense per token, then a second Dense."""

    width: int = 6

    @nn.compact
    def __call__(self, x):
        h = nn.relu(nn.Dense(self.width, name="inp")(x))
        return nn.Dense(self.width, name="hid")(h)


class TwoTower(nn.Module):
    """A user-style linen model: two towers, a sown fusion vector, a classifier."""

    @nn.compact
    def __call__(self, a, b):
        ha, hb = Encoder(name="enc_a")(a), Encoder(name="enc_b")(b)
        fused = ha.mean(1) * hb.mean(1)
        self.sow("intermediates", "fused", fused)
        return nn.Dense(3, name="head")(fused)


@pytest.fixture(scope="module")
def setup():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((70, 4, 3)).astype(np.float32)
    b = rng.standard_normal((70, 2, 5)).astype(np.float32)
    y = rng.integers(0, 3, 70)
    model = TwoTower()
    variables = model.init(jax.random.key(0), a[:2], b[:2])
    stream = [{"a": a[i:i + 32], "b": b[i:i + 32], "y": y[i:i + 32]} for i in range(0, 70, 32)]
    return model, variables, a, b, y, stream


def _dense(params, x):
    return x @ np.asarray(params["kernel"]) + np.asarray(params["bias"])


def test_linen_embeddings_equal_the_layers_by_hand(setup):
    model, variables, a, b, y, stream = setup
    layers = {"inp": ("enc_a/inp", "enc_b.inp"), "enc": ("enc_a", "enc_b"), "fused": ("fused", "head")}
    ex = extract_embeddings(model, stream, layers, variables=variables, progress=False)
    p = variables["params"]
    ia, ib = _dense(p["enc_a"]["inp"], a), _dense(p["enc_b"]["inp"], b)
    ea, eb = _dense(p["enc_a"]["hid"], np.maximum(ia, 0)), _dense(p["enc_b"]["hid"], np.maximum(ib, 0))
    fused = ea.mean(1) * eb.mean(1)
    logits = _dense(p["head"], fused)
    np.testing.assert_allclose(ex.layers["inp"][0], ia.mean(1), atol=1e-5)
    np.testing.assert_allclose(ex.layers["inp"][1], ib.mean(1), atol=1e-5)
    np.testing.assert_allclose(ex.layers["enc"][0], ea.mean(1), atol=1e-5)
    np.testing.assert_allclose(ex.layers["enc"][1], eb.mean(1), atol=1e-5)
    np.testing.assert_allclose(ex.layers["fused"][0], fused, atol=1e-5)
    np.testing.assert_allclose(ex.layers["fused"][1], logits, atol=1e-5)
    np.testing.assert_allclose(ex.outputs, logits, atol=1e-5)
    np.testing.assert_array_equal(ex.predictions, logits.argmax(-1))
    np.testing.assert_array_equal(ex.labels, y)


def test_linen_token_masks_and_streaming(setup, tmp_path):
    model, variables, a, b, y, stream = setup
    layers = {"enc": (("enc_a", np.array([False, True, True, False])), ("enc_b", slice(0, 1)))}
    mem = extract_embeddings(model, stream, layers, variables=variables, pooling="max", progress=False)
    p = variables["params"]
    ea = _dense(p["enc_a"]["hid"], np.maximum(_dense(p["enc_a"]["inp"], a), 0))
    np.testing.assert_allclose(mem.layers["enc"][0], ea[:, 1:3].max(1), atol=1e-5)
    disk = extract_embeddings(model, stream, layers, variables=variables, pooling="max", out_dir=tmp_path,
                              progress=False)
    for i in (0, 1):
        np.testing.assert_array_equal(disk.layers["enc"][i], mem.layers["enc"][i])
    np.testing.assert_array_equal(np.load(tmp_path / "labels.npy"), y)


def test_linen_bad_input_raises_clear_value_errors(setup):
    model, variables, a, b, y, stream = setup
    with pytest.raises(ValueError, match="needs its variables"):
        extract_embeddings(model, stream, {"x": ("enc_a", "enc_b")}, progress=False)
    with pytest.raises(ValueError, match="no module or sown value named 'enc_c'"):
        extract_embeddings(model, stream, {"x": ("enc_a", "enc_c")}, variables=variables, progress=False)
    with pytest.raises(ValueError, match="token mask has length 3 but the activation has 4"):
        extract_embeddings(model, stream, {"x": (("enc_a", np.ones(3, bool)), "enc_b")}, variables=variables,
                           progress=False)
    with pytest.raises(ValueError, match="no token axis"):
        extract_embeddings(model, stream, {"x": (("fused", [0]), "enc_b")}, variables=variables, progress=False)
