"""The linear-probe discretisation check: calibration at 0 and near H(Y), forms of input, errors."""

import numpy as np
import pytest

from pidjax.analysis.probe import probe_information, probe_pair

N = 600


def _gauss(seed, d=8, n=N):
    return np.random.default_rng(seed).normal(size=(n, d))


def test_independent_labels_give_about_zero_bits():
    x = _gauss(0)
    y = np.random.default_rng(1).integers(0, 2, N)
    bits = probe_information(x, y)
    assert bits.shape == () and bits.dtype == np.float64
    assert abs(float(bits)) < 0.05


def test_threshold_of_one_coordinate_among_nuisance_ones_is_most_of_one_bit():
    x = _gauss(2)
    y = (x[:, 3] > 0).astype(int)  # H(Y) = 1 bit, decoded exactly by a hyperplane
    # the penalty caps how confident the probe gets on the examples next to the threshold:
    # about 0.80-0.82 bits at the default l2 = 1e-2, about 0.9 at 1e-3
    assert float(probe_information(x, y, l2=1e-3)) > 0.8
    assert 0.7 < float(probe_information(x, y)) <= 1.0


def test_four_separable_classes_give_close_to_two_bits():
    rng = np.random.default_rng(3)
    y = np.repeat(np.arange(4), N // 4)
    centres = 4.0 * np.eye(4, 8)  # well apart: the classes are (nearly) linearly separable
    x = centres[y] + 0.5 * rng.normal(size=(N, 8))
    bits = float(probe_information(x, y))
    assert 1.85 < bits <= 2.0


def test_result_is_deterministic_for_a_seed():
    x = _gauss(4)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(int)
    a = probe_information(x, y, seed=7)
    b = probe_information(x, y, seed=7)
    assert np.array_equal(a, b)
    c = probe_information(x, y, seed=8)  # other folds: close but not the same numbers
    assert abs(float(a) - float(c)) < 0.05


def test_list_of_layers_of_different_widths():
    rng = np.random.default_rng(5)
    narrow = rng.normal(size=(N, 8))
    wide = rng.normal(size=(N, 12))
    y = (narrow[:, 0] > 0).astype(int)
    bits = probe_information([narrow, wide], y)
    assert bits.shape == (2,)
    # zero-padding the narrow layer changes neither its components nor its probe
    np.testing.assert_allclose(bits[0], probe_information(narrow, y), atol=1e-6)
    assert bits[0] > 0.7 and abs(bits[1]) < 0.05


def test_one_layer_agrees_with_the_same_layer_in_a_stack():
    x = _gauss(6)
    y = (x[:, 2] - x[:, 5] > 0).astype(int)
    single = probe_information(x, y)
    stack = probe_information(np.stack([x, _gauss(7), x]), y)
    assert single.shape == () and stack.shape == (3,)
    np.testing.assert_allclose(stack[[0, 2]], [single, single], atol=1e-9)
    assert abs(stack[1]) < 0.05


@pytest.mark.parametrize(
    "features, labels, match",
    [
        (np.where(np.arange(N * 8).reshape(N, 8) == 17, np.nan, 1.0), np.arange(N) % 2, "features.*NaN"),
        (np.ones((N, 8)), np.arange(N - 1) % 2, "labels has 599 entries"),
        (np.ones((N, 8)), np.zeros(N, int), "labels has a single class"),
        (np.ones((N, 8)), (np.arange(N) % 2).astype(float), "labels must hold integer"),
        (np.ones((N, 8)), np.r_[np.zeros(N - 1, int), 1], "labels: class.*single example"),
        (np.ones((N, 8)), -(np.arange(N) % 2), "labels has negative"),
        (np.ones((N, 8)), np.zeros((N, 1), int), "labels must be 1-D"),
        (np.ones(N), np.arange(N) % 2, "features must have shape"),
    ],
)
def test_bad_input_names_the_argument(features, labels, match):
    with pytest.raises(ValueError, match=match):
        probe_information(features, labels)


def test_bad_settings_and_custom_name():
    x, y = _gauss(8), np.arange(N) % 2
    with pytest.raises(ValueError, match="n_folds must be at least 2"):
        probe_information(x, y, n_folds=1)
    with pytest.raises(ValueError, match="l2 must be"):
        probe_information(x, y, l2=-1.0)
    with pytest.raises(ValueError, match=r"layer_3\[1\] has 10 examples"):
        probe_information([x, x[:10]], y, name="layer_3")


def test_probe_pair_joint_reads_both_modalities_of_a_copy_task():
    rng = np.random.default_rng(9)
    a, b = rng.normal(size=(N, 4)), rng.normal(size=(N, 6))
    y = 2 * (a[:, 0] > 0) + (b[:, 0] > 0)  # H(Y) = 2 bits: one from each modality
    out = probe_pair(np.stack([a, a]), [b, b], y, l2=1e-3)
    assert set(out) == {"probe_info_1", "probe_info_2", "probe_info_joint"}
    assert all(v.shape == (2,) and v.dtype == np.float64 for v in out.values())
    assert np.all((out["probe_info_1"] > 0.8) & (out["probe_info_1"] < 1.1))
    assert np.all((out["probe_info_2"] > 0.8) & (out["probe_info_2"] < 1.1))
    assert np.all(out["probe_info_joint"] > 1.7)
    assert np.all(out["probe_info_joint"] >= np.maximum(out["probe_info_1"], out["probe_info_2"]) - 0.05)


def test_probe_pair_cannot_see_xor_synergy():
    rng = np.random.default_rng(10)
    a, b = rng.normal(size=(N, 4)), rng.normal(size=(N, 6))
    y = ((a[:, 0] > 0) ^ (b[:, 0] > 0)).astype(int)  # 1 bit, all of it synergy
    out = probe_pair(a, b, y)
    assert all(v.shape == () for v in out.values())
    assert abs(float(out["probe_info_joint"])) < 0.05  # the one-sided check: blind here


def test_probe_pair_errors_name_the_argument():
    x, y = _gauss(11), np.arange(N) % 2
    with pytest.raises(ValueError, match="features_1 has 2 layers but features_2 has 1"):
        probe_pair([x, x], [x], y)
    with pytest.raises(ValueError, match=r"features_2 has 5 NaN"):
        probe_pair(x, np.where(np.arange(N)[:, None] < 5, np.nan, x[:, :1]), y)
    with pytest.raises(ValueError, match="unknown keyword"):
        probe_pair(x, x, y, n_state=3)
