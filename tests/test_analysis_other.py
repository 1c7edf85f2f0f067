"""Labels, resampling, contribution scores with the ablation baseline, token-level profiles."""

import warnings

import numpy as np
import pytest

from pidjax.analysis import (
    ablation_drop,
    bootstrap_weights,
    contribution_scores,
    dataset_contributions,
    interval,
    labels_from_embedding,
    labels_from_ground_truth,
    labels_from_predictions,
    layer_sweep,
    permuted_labels,
    sample_profiles,
)
from pidjax.synthetic import make_synthetic


def test_three_kinds_of_labels():
    assert labels_from_ground_truth(["b", "a", "b"]).tolist() == [1, 0, 1]
    assert labels_from_predictions(np.array([[0.2, 0.8], [0.9, 0.1]])).tolist() == [1, 0]
    out = np.r_[np.zeros((30, 3)), np.ones((20, 3)) * 4] + 0.01 * np.random.default_rng(0).normal(size=(50, 3))
    assert labels_from_embedding(out, 2).tolist() == [0] * 30 + [1] * 20
    with pytest.raises(ValueError, match="predictions has a single class"):
        labels_from_predictions(np.tile([0.1, 0.9], (4, 1)))
    with pytest.raises(ValueError, match="output_embedding.*constant|single class"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            labels_from_embedding(np.ones((10, 2)), 2)


def test_bootstrap_weights_and_permutations():
    w = bootstrap_weights(50, 7, seed=1)
    assert w.shape == (7, 50) and (w.sum(1) == 50).all()
    np.testing.assert_array_equal(w, bootstrap_weights(50, 7, seed=1))
    p = permuted_labels(np.arange(20), 3)
    assert all(sorted(row) == list(range(20)) for row in p)


def test_basic_interval_moves_against_bias():
    lo, hi = interval(np.array(1.0), np.linspace(1.0, 1.2, 101), 0.9, "basic")
    assert hi <= 1.0 + 1e-12 and lo < 1.0
    with pytest.raises(ValueError, match="interval method"):
        interval(0.0, np.zeros(3), method="bca")


def test_unique_family_scores_and_ablation_agree_redundant_disagrees():
    data = make_synthetic("unique_1", 1000, dim_1=8, dim_2=8, seed=3)
    emb = {"l": (data.embeddings_1, data.embeddings_2)}
    table = layer_sweep(emb, data.labels, n_states=2)

    def predict(x1, x2):  # reads modality 1 only, as the data allow
        return data.labels[np.argmin(((x1[:, None] - data.embeddings_1[None, :50]) ** 2).sum(-1), 1)]

    scored = contribution_scores(table, predict=predict, inputs=(data.embeddings_1, data.embeddings_2), labels=data.labels)
    assert scored["contribution_1"][0] > 0.99 and scored["contribution_2"][0] < 0.01
    assert scored["ablation_drop_1"][0] > 0.3 and scored["ablation_drop_2"][0] == 0.0
    assert bool(scored["rankings_agree"][0])
    summary = dataset_contributions(scored)
    assert summary["peak_layer_1"].tolist() == ["l"]


def test_ablation_modes_and_errors():
    f = lambda a, b: (a[:, 0] + b[:, 0] > 0).astype(int)  # noqa: E731
    x = np.array([[-1.0], [1.0], [-2.0], [2.0]])
    out = ablation_drop(f, x, x, [0, 1, 0, 1], mode="zero")
    assert out["accuracy"] == 1.0 and out["ablation_drop_1"] == 0.0
    with pytest.raises(ValueError, match="mode"):
        ablation_drop(f, x, x, [0, 1, 0, 1], mode="drop")
    with pytest.raises(ValueError, match="inputs_2 has 3"):
        ablation_drop(f, x, x[:3], [0, 1, 0, 1])


def test_sample_profiles_need_a_stated_pairing_and_warn():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(4, 40, 3)), rng.normal(size=(4, 40, 3))
    y = rng.integers(0, 2, (4, 40))
    a[..., 0] += 8.0 * y  # modality 1 tokens carry the per-token target
    with pytest.warns(UserWarning, match="pairs tokens by position"):
        table = sample_profiles(a, b, y, pairing="position", n_states=2)
    assert (table["mutual_info_1"] > 0.5).all() and (table["n_pairs"] == 40).all()
    with pytest.raises(TypeError):
        sample_profiles(a, b, y)  # no implicit pairing
    with pytest.raises(ValueError, match="same number of tokens"):
        sample_profiles(a, b[:, :30], y, pairing="position")
    align = np.stack([np.arange(40), np.arange(40)[::-1]], -1)[None].repeat(4, 0)
    align[:, 30:] = -1
    with pytest.warns(UserWarning, match="the given alignment"):
        t2 = sample_profiles(a, b, y, pairing=align, n_states=2)
    assert (t2["n_pairs"] == 30).all()


def test_order_pairing_pairs_the_kth_kept_tokens_as_an_explicit_alignment_would():
    from pidjax.analysis import token_pairs

    m1 = np.array([[1, 1, 0, 0, 1, 0], [0, 1, 0, 0, 0, 0]], bool)
    m2 = np.array([[0, 0, 1, 1, 0, 1], [0, 0, 1, 1, 0, 0]], bool)
    pairs = token_pairs("order", m1, m2)
    assert pairs.tolist() == [[[0, 2], [1, 3], [4, 5]], [[1, 2], [-1, -1], [-1, -1]]]
    assert token_pairs("position", m1, m2).shape == (2, 6, 2)
    with pytest.raises(ValueError, match="pairing must be one of"):
        token_pairs("nearest", m1, m2)
    rng = np.random.default_rng(1)
    fused = rng.normal(size=(5, 24, 3))  # one stream: tokens 0-11 are modality 1, 12-23 modality 2
    y = rng.integers(0, 2, (5, 12))
    mask_1 = np.zeros((5, 24), bool)
    mask_1[:, :12] = True
    mask_2 = ~mask_1
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        by_rule = sample_profiles(fused, fused, y, pairing="order", mask_1=mask_1, mask_2=mask_2, n_states=2,
                                  n_permutations=5)
        by_hand = sample_profiles(fused, fused, y, pairing=token_pairs("order", mask_1, mask_2), mask_1=mask_1,
                                  mask_2=mask_2, n_states=2, n_permutations=5)
    for term in ("redundancy", "unique_1", "unique_2", "synergy", "n_pairs"):
        np.testing.assert_array_equal(by_rule[term], by_hand[term])
    assert (by_rule["n_pairs"] == 12).all()
