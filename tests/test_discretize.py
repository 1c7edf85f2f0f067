"""Discretisation: agreement with scikit-learn, determinism, batching over layers, bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score

from pidjax.discretize import discretize, kmeans, pca, quantile_binning, standardize


def blobs(n=1500, d=50, k=6, spread=1.0, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, d)) * 2.0
    labels = rng.integers(0, k, n)
    return centres[labels] + spread * rng.normal(size=(n, d)), labels


def test_kmeans_agrees_with_sklearn_by_adjusted_rand_index():
    for seed in range(3):
        x, truth = blobs(seed=seed, spread=2.5)
        ours = discretize(x, 6, seed=seed)
        theirs = KMeans(6, n_init=4, random_state=seed).fit_predict(x)
        assert adjusted_rand_score(ours, theirs) > 0.95
        assert adjusted_rand_score(ours, truth) > 0.9


def test_same_seed_same_codes_and_states_numbered_by_size():
    x, _ = blobs()
    a, b = discretize(x, 6, seed=3), discretize(x, 6, seed=3)
    np.testing.assert_array_equal(a, b)
    counts = np.bincount(a, minlength=6)
    assert (np.diff(counts) <= 0).all() and a.dtype == np.int32


def test_layers_in_one_call_equal_layer_by_layer_and_widths_may_differ():
    x, _ = blobs(n=600, d=20)
    y, _ = blobs(n=600, d=30, seed=1)
    both = discretize([x, y], 6, seed=0)
    assert both.shape == (2, 600)
    # a lone layer gets key split(seed, 1)[0]; equality holds through the clustering, not keys,
    # so compare partitions
    assert adjusted_rand_score(both[0], discretize(x, 6)) > 0.99
    assert adjusted_rand_score(both[1], discretize(y, 6)) > 0.99


def test_kmeans_same_under_jit_and_eager():
    x = jnp.asarray(blobs(n=300, d=5)[0])
    key = jax.random.PRNGKey(0)
    eager = kmeans(x, 4, key)
    jitted = jax.jit(kmeans, static_argnums=1)(x, 4, key)
    np.testing.assert_array_equal(eager.codes, jitted.codes)
    np.testing.assert_allclose(eager.inertia, jitted.inertia, rtol=1e-10)


def test_randomised_pca_matches_exact_svd_on_low_rank_data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 5)) @ rng.normal(size=(5, 80)) * np.array([5, 4, 3, 2, 1.0]).repeat(16)
    z = standardize(jnp.asarray(x))
    exact = np.asarray(pca(z, 5))
    approx = np.asarray(pca(z, 5, jax.random.PRNGKey(1)))
    np.testing.assert_allclose(np.abs(approx), np.abs(exact), atol=1e-6)


def test_quantile_binning_gives_equal_mass_monotone_bins():
    v = jnp.asarray(np.random.default_rng(0).normal(size=1000))
    codes = np.asarray(quantile_binning(v, 4))
    assert np.bincount(codes).tolist() == [250, 250, 250, 250]
    order = np.argsort(np.asarray(v))
    assert (np.diff(codes[order]) >= 0).all()
    x = np.repeat(np.eye(2) * 5, 400, axis=0) + np.random.default_rng(1).normal(size=(800, 2))
    assert adjusted_rand_score(discretize(x, 2, method="quantile"), np.repeat([0, 1], 400)) > 0.95


def test_nan_embeddings_raise_naming_argument_and_layer():
    x, _ = blobs(n=100, d=4)
    x[7, 2] = np.nan
    with pytest.raises(ValueError, match=r"embeddings\[1\].*NaN.*example 7"):
        discretize([blobs(n=100, d=4)[0], x], 3)


def test_ragged_examples_across_layers_raise():
    with pytest.raises(ValueError, match=r"embeddings\[1\] has 90 examples"):
        discretize([np.zeros((100, 3)) + np.arange(100)[:, None], np.ones((90, 3))], 2)


def test_fewer_examples_than_states_raise():
    with pytest.raises(ValueError, match="at least as many examples as states"):
        discretize(np.random.default_rng(0).normal(size=(5, 3)), 10)


def test_constant_embeddings_warn_and_go_to_one_state():
    with pytest.warns(UserWarning, match="constant"):
        codes = discretize(np.ones((50, 4)), 3)
    assert (codes == 0).all()


def test_few_distinct_points_warn_about_empty_states():
    x = np.repeat(np.eye(2), 20, axis=0)
    with pytest.warns(UserWarning, match="only 2 of 4 states"):
        codes = discretize(x, 4)
    assert set(codes.tolist()) == {0, 1}


@pytest.mark.parametrize(
    "kwargs, match",
    [({"method": "dbscan"}, "method"), ({"n_init": 0}, "n_init"), ({"n_components": 1.5}, "n_components")],
)
def test_bad_settings_raise_naming_the_setting(kwargs, match):
    with pytest.raises(ValueError, match=match):
        discretize(np.random.default_rng(0).normal(size=(20, 3)), 2, **kwargs)


def test_wrong_rank_raises():
    with pytest.raises(ValueError, match=r"shape \(N, d\)"):
        discretize(np.zeros(10), 2)
