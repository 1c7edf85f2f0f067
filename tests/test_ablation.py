"""Layer-wise mean ablation of Flax models, and the ablation next to the PID shares in tables and reports."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import linen as nn
from flax import nnx

from pidjax.adapters import ablate_layers
from pidjax.analysis import PIDTable, ablation_from_predictions, contribution_scores
from pidjax.report import plot_contribution, render_html

N, BATCH = 200, 64  # the last batch (8 rows) is padded: the means must not count the padding


# --------------------------------------------------------------------------- a tiny nnx model


class Tower(nnx.Module):
    def __init__(self, rngs):
        self.inp = nnx.Linear(3, 8, rngs=rngs)
        self.hid = nnx.Linear(8, 8, rngs=rngs)

    def __call__(self, x):
        return self.hid(nnx.relu(self.inp(x)))


class TwoTowers(nnx.Module):
    """Two towers over (B, 4, 3) tokens, mean-pooled and projected; the head reads modality 1 only."""

    def __init__(self, rngs):
        self.tower_1, self.tower_2 = Tower(rngs), Tower(rngs)
        self.proj_1, self.proj_2 = nnx.Linear(8, 8, rngs=rngs), nnx.Linear(8, 8, rngs=rngs)
        self.head = nnx.Linear(8, 3, rngs=rngs)

    def __call__(self, a, b):
        p1 = self.proj_1(self.tower_1(a).mean(1))
        p2 = self.proj_2(self.tower_2(b).mean(1))
        return self.head(p1 + 0.0 * p2)


def _nnx_by_hand(model, a, b, at=None, replace=None, record=None):
    """The model's forward written out, with the output named ``at`` passed through ``replace``."""
    def tap(name, x):
        if record is not None:
            record[name] = np.asarray(x)
        return replace(x) if name == at else x

    def tower(t, x, k):
        h = tap(f"tower_{k}/inp", t.inp(x))
        return tap(f"tower_{k}", t.hid(nnx.relu(h)))

    p1 = tap("proj_1", model.proj_1(tower(model.tower_1, a, 1).mean(1)))
    p2 = tap("proj_2", model.proj_2(tower(model.tower_2, b, 2).mean(1)))
    return np.asarray(model.head(p1 + 0.0 * p2)).argmax(-1)


NNX_LAYERS = {"inp": (("tower_1/inp", [0, 2]), ("tower_2.inp", [0, 2])), "tower": ("tower_1", "tower_2"),
              "masked": (("tower_1", "m"), ("tower_2", "m")), "proj": ("proj_1", "proj_2")}


@pytest.fixture(scope="module")
def nnx_setup():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((N, 4, 3)).astype(np.float32)
    b = rng.standard_normal((N, 4, 3)).astype(np.float32)
    mask = rng.random((N, 4)) < 0.6
    mask[:, 1] = True
    model = TwoTowers(nnx.Rngs(0))
    y = _nnx_by_hand(model, a, b)  # the model's own predictions: full accuracy is 1
    stream = [{"a": a[i:i + BATCH], "b": b[i:i + BATCH], "m": mask[i:i + BATCH], "y": y[i:i + BATCH]}
              for i in range(0, N, BATCH)]
    before = jax.tree_util.tree_map(np.asarray, nnx.to_pure_dict(nnx.state(model)))
    result = ablate_layers(model, stream, NNX_LAYERS, progress=False)
    return model, a, b, mask, y, stream, before, result


def test_nnx_ignored_modality_drops_nothing_and_the_read_one_drops_at_every_layer(nnx_setup):
    *_, result = nnx_setup
    assert list(result.scores) == list(NNX_LAYERS) and result.kind == "layer-wise mean, Flax"
    for layer, row in result.scores.items():
        assert row["accuracy"] == 1.0, layer
        assert row["ablation_drop_2"] == 0.0, layer  # the head multiplies modality 2 by 0
        assert row["ablation_drop_1"] > 0.05, layer
    drops = [result.scores[layer]["ablation_drop_1"] for layer in NNX_LAYERS]
    assert len(set(drops)) > 1  # layer-wise, not one input-level number repeated


def test_nnx_ablated_predictions_equal_a_hand_written_mean_substitution(nnx_setup):
    model, a, b, mask, y, _, _, result = nnx_setup
    acts = {}
    _nnx_by_hand(model, a, b, record=acts)
    idx = np.array([0, 2])
    by_position = acts["tower_1/inp"][:, idx].mean(0)  # fixed tokens: one mean per position
    over_kept = (acts["tower_1"] * mask[..., None]).sum((0, 1)) / mask.sum()  # per-example mask: one vector
    cases = {
        "inp": ("tower_1/inp", by_position, lambda x: x.at[:, idx].set(by_position)),
        "tower": ("tower_1", acts["tower_1"].mean(0), lambda x: jnp.broadcast_to(acts["tower_1"].mean(0), x.shape)),
        "masked": ("tower_1", over_kept, lambda x: jnp.where(mask[..., None], over_kept, x)),
        "proj": ("proj_1", acts["proj_1"].mean(0), lambda x: jnp.broadcast_to(acts["proj_1"].mean(0), x.shape)),
    }
    for layer, (at, mean, replace) in cases.items():
        np.testing.assert_allclose(result.means[layer][0], mean, atol=1e-5, err_msg=layer)
        want = _nnx_by_hand(model, a, b, at=at, replace=replace)
        np.testing.assert_array_equal(result.ablated[layer][0], want, err_msg=layer)
        np.testing.assert_array_equal(result.ablated[layer][1], y, err_msg=layer)
        assert result.scores[layer]["ablation_drop_1"] == pytest.approx(1.0 - (want == y).mean())
    np.testing.assert_array_equal(result.predictions, y)
    np.testing.assert_array_equal(result.labels, y)


def test_nnx_model_is_unchanged_and_a_callable_source_gives_the_same(nnx_setup):
    model, a, b, mask, y, stream, before, result = nnx_setup
    after = jax.tree_util.tree_map(np.asarray, nnx.to_pure_dict(nnx.state(model)))
    jax.tree_util.tree_map(np.testing.assert_array_equal, before, after)
    assert type(model.tower_1) is Tower and type(model.proj_1) is nnx.Linear and "_pidjax_replace_output" not in vars(
        model.proj_1)
    again = ablate_layers(model, lambda: iter(stream), {"proj": NNX_LAYERS["proj"], "masked": NNX_LAYERS["masked"]},
                          progress=False)
    assert again.scores["proj"] == result.scores["proj"]


def test_means_come_from_mean_batches_when_given(nnx_setup):
    model, a, b, mask, y, stream, _, _ = nnx_setup
    other = [{"a": -a[:100], "b": b[:100], "y": y[:100]}]
    res = ablate_layers(model, _without_mask(stream), {"proj": ("proj_1", "proj_2")}, mean_batches=other,
                        progress=False)
    acts = {}
    _nnx_by_hand(model, -a[:100], b[:100], record=acts)
    mean = acts["proj_1"].mean(0)
    np.testing.assert_allclose(res.means["proj"][0], mean, atol=1e-5)
    want = _nnx_by_hand(model, a, b, at="proj_1", replace=lambda x: jnp.broadcast_to(mean, x.shape))
    np.testing.assert_array_equal(res.ablated["proj"][0], want)
    assert res.accuracy == 1.0 and res.labels.shape == (N,)


# --------------------------------------------------------------------------- a tiny linen model


class Encoder(nn.Module):
    @nn.compact
    def __call__(self, x):
        return nn.Dense(8, name="hid")(nn.relu(nn.Dense(8, name="inp")(x)))


class LinenTowers(nn.Module):
    """Two encoders; the head reads modality 2 only; a sown fusion vector."""

    @nn.compact
    def __call__(self, a, b):
        ea, eb = Encoder(name="enc_a")(a), Encoder(name="enc_b")(b)
        self.sow("intermediates", "fused", eb.mean(1))
        return nn.Dense(3, name="head")(0.0 * ea.mean(1) + eb.mean(1))


def _dense(p, x):
    return x @ np.asarray(p["kernel"]) + np.asarray(p["bias"])


def _linen_by_hand(p, a, b, at=None, replace=None, record=None):
    def tap(name, x):
        if record is not None:
            record[name] = x
        return replace(x) if name == at else x

    def enc(q, x, name):
        h = tap(f"{name}/inp", _dense(q["inp"], x))
        return tap(name, _dense(q["hid"], np.maximum(h, 0)))

    ea, eb = enc(p["enc_a"], a, "enc_a"), enc(p["enc_b"], b, "enc_b")
    return _dense(p["head"], 0.0 * ea.mean(1) + eb.mean(1)).argmax(-1)


@pytest.fixture(scope="module")
def linen_setup():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((N, 4, 3)).astype(np.float32)
    b = rng.standard_normal((N, 4, 5)).astype(np.float32)
    model = LinenTowers()
    variables = model.init(jax.random.key(0), a[:2], b[:2])
    y = _linen_by_hand(variables["params"], a, b)
    stream = [{"a": a[i:i + BATCH], "b": b[i:i + BATCH], "y": y[i:i + BATCH]} for i in range(0, N, BATCH)]
    return model, variables, a, b, y, stream


def test_linen_drops_and_predictions_equal_a_hand_written_mean_substitution(linen_setup):
    model, variables, a, b, y, stream = linen_setup
    before = jax.tree_util.tree_map(np.array, variables)
    layers = {"inp": ("enc_a/inp", "enc_b/inp"), "enc": ("enc_a", ("enc_b", slice(1, 3)))}
    res = ablate_layers(model, stream, layers, variables=variables, progress=False)
    jax.tree_util.tree_map(np.testing.assert_array_equal, before, jax.tree_util.tree_map(np.asarray, variables))
    for layer in layers:
        assert res.scores[layer]["ablation_drop_1"] == 0.0  # the head multiplies modality 1 by 0
        assert res.scores[layer]["ablation_drop_2"] > 0.05
    acts = {}
    p = variables["params"]
    _linen_by_hand(p, a, b, record=acts)
    inp_mean = acts["enc_b/inp"].mean(0)
    want = _linen_by_hand(p, a, b, at="enc_b/inp", replace=lambda x: np.broadcast_to(inp_mean, x.shape))
    np.testing.assert_array_equal(res.ablated["inp"][1], want)
    enc_mean = acts["enc_b"][:, 1:3].mean(0)

    def set_tokens(x):
        x = x.copy()
        x[:, 1:3] = enc_mean
        return x

    np.testing.assert_allclose(res.means["enc"][1], enc_mean, atol=1e-5)
    np.testing.assert_array_equal(res.ablated["enc"][1], _linen_by_hand(p, a, b, at="enc_b", replace=set_tokens))
    np.testing.assert_array_equal(res.ablated["enc"][0], y)


# --------------------------------------------------------------------------- errors


class Sower(nnx.Module):
    def __init__(self, rngs):
        self.lin = nnx.Linear(3, 2, rngs=rngs)

    def __call__(self, a):
        h = self.lin(a)
        self.sow(nnx.Intermediate, "feat", h)
        return h.mean((1, 2))  # one float per example: not class scores


def _without_mask(stream):
    return [{k: v for k, v in s.items() if k != "m"} for s in stream]


def test_bad_arguments_raise_clear_value_errors(nnx_setup, linen_setup):
    model, *_, stream, _, _ = nnx_setup
    stream = _without_mask(stream)
    layers = {"proj": ("proj_1", "proj_2")}
    with pytest.raises(ValueError, match=r"no module or sown value named 'proj_3'; available: .*proj_2"):
        ablate_layers(model, stream, {"x": ("proj_1", "proj_3")}, progress=False)
    with pytest.raises(ValueError, match="must be re-iterable.*generator"):
        ablate_layers(model, (b for b in stream), layers, progress=False)
    with pytest.raises(ValueError, match="must be re-iterable"):
        ablate_layers(model, iter(stream), layers, progress=False)
    with pytest.raises(ValueError, match="re-iterable"):
        ablate_layers(model, stream, layers, mean_batches=iter(stream), progress=False)
    with pytest.raises(ValueError, match="got a mapping"):
        ablate_layers(model, stream[0], layers, progress=False)
    with pytest.raises(ValueError, match="empty"):
        ablate_layers(model, [], layers, progress=False)
    with pytest.raises(ValueError, match="no labels.*label_key='y'"):
        ablate_layers(model, [{k: v for k, v in s.items() if k != "y"} for s in stream], layers, progress=False)
    with pytest.raises(ValueError, match="no labels"):
        ablate_layers(model, [(s["a"], s["b"]) for s in stream], layers, progress=False)
    with pytest.raises(ValueError, match="nnx.Module or a flax.linen.Module"):
        ablate_layers(object(), stream, layers, progress=False)
    lmodel, variables, *_, lstream = linen_setup
    with pytest.raises(ValueError, match="'fused' is a value the model sows"):
        ablate_layers(lmodel, lstream, {"x": ("fused", "enc_b")}, variables=variables, progress=False)
    sower = Sower(nnx.Rngs(0))
    x = np.ones((6, 2, 3), np.float32)
    with pytest.raises(ValueError, match="'feat' is a value the model sows"):
        ablate_layers(sower, [{"a": x, "y": np.zeros(6, int)}], {"x": ("feat", "lin")}, progress=False)
    with pytest.raises(ValueError, match="not class scores; pass predict_fn"):
        ablate_layers(sower, [{"a": x, "y": np.zeros(6, int)}], {"x": ("lin", "lin")}, progress=False)
    assert not hasattr(sower, "feat")  # sowing happened on a copy
    ok = ablate_layers(sower, [{"a": x, "y": np.zeros(6, int)}], {"x": ("lin", ("lin", 0))},
                       predict_fn=lambda out: (out > 0).astype(jnp.int32), progress=False)
    assert set(ok.scores["x"]) == {"accuracy", "ablation_drop_1", "ablation_drop_2"}


# --------------------------------------------------------------------------- tables and reports


def _table():
    layers = np.array(["inp", "tower", "extra"] * 2)
    return PIDTable({"layer": layers, "label_set": np.array(["label"] * 3 + ["prediction"] * 3),
                     "unique_1": np.array([0.4, 0.1, 0.2] * 2), "unique_2": np.array([0.1, 0.3, 0.2] * 2),
                     "redundancy": np.full(6, 0.3), "synergy": np.full(6, 0.1),
                     "mutual_info_joint": np.array([0.9, 0.8, 0.8] * 2)})


def test_contribution_scores_puts_layer_ablations_on_their_rows(nnx_setup):
    *_, result = nnx_setup
    scored = contribution_scores(_table(), ablation=result)
    for i, layer in enumerate(scored["layer"]):
        if layer == "extra":
            assert np.isnan(scored["ablation_drop_1"][i]) and scored["ablation_kind"][i] == ""
            assert not scored["rankings_agree"][i]
        else:
            assert scored["ablation_drop_1"][i] == result.scores[layer]["ablation_drop_1"]
            assert scored["accuracy"][i] == 1.0 and scored["ablation_kind"][i] == "layer-wise mean, Flax"
            assert scored["rankings_agree"][i] == (layer == "inp")  # inp: U1 > U2; tower: U2 > U1
    assert scored.meta["ablation"] == "layer-wise mean, Flax"
    plain = contribution_scores(_table(), ablation={"tower": {"accuracy": 0.8, "ablation_drop_1": 0.0,
                                                              "ablation_drop_2": 0.25}})
    assert plain["ablation_drop_2"].tolist()[:3] == [pytest.approx(np.nan, nan_ok=True), 0.25, pytest.approx(
        np.nan, nan_ok=True)] and plain["rankings_agree"][1]
    with pytest.raises(ValueError, match="lacks ablation_drop_2"):
        contribution_scores(_table(), ablation={"tower": {"accuracy": 0.8, "ablation_drop_1": 0.0}})
    with pytest.raises(ValueError, match="not both"):
        contribution_scores(_table(), ablation=result, predict=lambda a, b: a, inputs=(1, 2), labels=[0])
    x = np.array([[-1.0], [1.0], [-2.0], [2.0]])
    table = PIDTable({c: v[:1] for c, v in _table().items()})
    inputs = contribution_scores(table, predict=lambda p, q: (p[:, 0] > 0).astype(int), inputs=(x, x),
                                 labels=[0, 1, 0, 1])
    assert inputs.meta["ablation"] == "input-level" and inputs["ablation_kind"][0] == "input-level"


def test_ablation_from_predictions_on_known_arrays():
    labels = np.array([0, 1, 1, 0, 2])
    full = np.array([0, 1, 1, 1, 2])  # accuracy 0.8
    out = ablation_from_predictions({"a": {1: [0, 0, 0, 0, 0], 2: full}, "b": ([0, 1, 1, 0, 2], [1, 1, 1, 1, 1])},
                                    full, labels)
    assert out.kind == "stored predictions"
    assert out["a"] == {"accuracy": pytest.approx(0.8), "ablation_drop_1": pytest.approx(0.4),
                        "ablation_drop_2": pytest.approx(0.0)}
    assert out["b"]["ablation_drop_1"] == pytest.approx(-0.2) and out["b"]["ablation_drop_2"] == pytest.approx(0.4)
    words = ablation_from_predictions({"l": {1: ["cat", "cat"], 2: ["dog", "cat"]}}, ["dog", "cat"], ["dog", "cat"])
    assert words["l"] == {"accuracy": 1.0, "ablation_drop_1": 0.5, "ablation_drop_2": 0.0}
    scored = contribution_scores(_table(), ablation=out)
    assert scored.meta["ablation"] == "stored predictions" and np.isnan(scored["accuracy"][1])
    with pytest.raises(ValueError, match=r"ablated\['a'\]\[2\] has 4 examples but labels has 5"):
        ablation_from_predictions({"a": {1: full, 2: full[:4]}}, full, labels)
    with pytest.raises(ValueError, match="no modality 2"):
        ablation_from_predictions({"a": {1: full}}, full, labels)
    with pytest.raises(ValueError, match="not comparable"):
        ablation_from_predictions({"a": {1: full, 2: full}}, full, labels.astype(str))
    with pytest.raises(ValueError, match="predictions has 4 examples"):
        ablation_from_predictions({"a": {1: full, 2: full}}, full[:4], labels)


def test_report_says_which_ablation_ran_and_promises_none_without_one(nnx_setup, tmp_path):
    *_, result = nnx_setup
    bare = contribution_scores(_table())
    page = render_html(bare, {"contribution": plot_contribution(bare, tmp_path / "bare.png")})
    assert "No ablation was run" in page and "accuracy lost" not in page
    assert "no ablation was run" in plot_contribution(bare)._supxlabel.get_text()
    scored = contribution_scores(_table(), ablation=result)
    png = plot_contribution(scored, tmp_path / "scored.png")
    page = render_html(scored, {"contribution": png})
    assert "replaced by their data-set mean inside the model" in page and "No ablation was run" not in page
    assert "layer-wise mean, Flax" in plot_contribution(scored)._supxlabel.get_text()
    kept = render_html(dict(scored), {"contribution": png}, meta={"ablation": "input-level"})
    assert "layer-wise mean" in kept  # the column travels with the numbers, not only the meta

