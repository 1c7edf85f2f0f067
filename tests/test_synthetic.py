"""Synthetic two-modality data: the analytic PID is the kernel's PID of the latent table."""

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

import pidjax
from pidjax.discretize import discretize
from pidjax.synthetic import FAMILIES, analytic_pid, latent_distribution, make_synthetic

TERMS = ("redundancy", "unique_1", "unique_2", "synergy")


@pytest.mark.parametrize(
    "family, bits",
    [(f, None) for f in FAMILIES] + [(None, {"redundant": 2, "unique_1": 1, "synergy": 1}), (None, {"synergy": 2})],
)
def test_analytic_pid_equals_kernel_on_latent_table(family, bits):
    P = latent_distribution(family, bits=bits)
    res = pidjax.decompose(P)
    truth = analytic_pid(family, bits=bits)
    for term in TERMS:
        assert abs(float(getattr(res, term)) - truth[term]) < 1e-5, term


def test_latent_states_are_recovered_by_discretisation():
    data = make_synthetic("mixture", 2000, dim_1=64, dim_2=96, seed=2)
    assert data.embeddings_1.shape == (2000, 64) and data.embeddings_2.shape == (2000, 96)
    assert data.sizes == (8, 8, 16)
    assert adjusted_rand_score(discretize(data.embeddings_1, 8), data.states_1) == 1.0
    assert adjusted_rand_score(discretize(data.embeddings_2, 8), data.states_2) == 1.0


def test_layers_share_latents_and_noise_grows():
    data = make_synthetic("synergy", 500, noise=[0.05, 0.5], dim_1=16, dim_2=16)
    assert data.embeddings_1.shape == (2, 500, 16)
    again = make_synthetic("synergy", 500, noise=[0.05, 0.5], dim_1=16, dim_2=16)
    np.testing.assert_array_equal(data.embeddings_1, again.embeddings_1)
    spread = [np.linalg.norm(e - e.mean(0)) for e in data.embeddings_1]
    assert spread[1] > spread[0]


def test_xor_label_is_built_from_one_bit_per_modality():
    data = make_synthetic("synergy", 300, dim_1=4, dim_2=4)
    np.testing.assert_array_equal(data.labels, data.states_1 ^ data.states_2)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"family": "nope"}, "family"),
        ({"bits": {"shared": 1}}, "unknown kinds"),
        ({"bits": {"synergy": 0}}, "at least one"),
        ({"dim_1": 1, "family": "mixture"}, "dim_1"),
        ({"noise": -1.0}, "noise"),
        ({"n_samples": 0}, "n_samples"),
    ],
)
def test_bad_generator_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_synthetic(**kwargs)
