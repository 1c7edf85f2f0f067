import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pidjax import entropy, information_terms, mutual_information
from pidjax.canonical import distribution
from pidjax.info import conditional_entropy_y


def test_entropy_is_exact_at_zeros_and_in_bits_by_default():
    assert float(entropy(jnp.array([0.5, 0.5, 0.0, 0.0]))) == 1.0
    assert float(entropy(jnp.array([1.0, 0.0]))) == 0.0
    np.testing.assert_allclose(float(entropy(jnp.array([0.25] * 4), unit="nats")), np.log(4), rtol=1e-14)


def test_entropy_over_several_axes_keeps_batch_axes():
    p = np.full((3, 2, 2), 0.25)
    np.testing.assert_allclose(np.asarray(entropy(p, axis=(-2, -1))), [2.0, 2.0, 2.0])


def test_mutual_information_of_independent_and_copied_bits():
    assert abs(float(mutual_information(np.full((2, 2), 0.25)))) < 1e-15
    np.testing.assert_allclose(float(mutual_information(np.diag([0.5, 0.5]))), 1.0, rtol=1e-14)


def test_information_terms_of_canonical_gates():
    t = information_terms(distribution("and"))
    np.testing.assert_allclose(float(t.mutual_info_1), 0.311278124459133, atol=1e-12)
    np.testing.assert_allclose(float(t.mutual_info_joint), 0.811278124459133, atol=1e-12)
    np.testing.assert_allclose(float(t.entropy_y), 0.811278124459133, atol=1e-12)
    np.testing.assert_allclose(float(information_terms(distribution("xor")).mutual_info_1), 0.0, atol=1e-15)


def test_information_terms_are_batched_and_agree_with_numpy():
    rng = np.random.default_rng(3)
    P = rng.dirichlet(np.ones(24), size=5).reshape(5, 2, 3, 4)
    t = information_terms(P)
    for b in range(5):
        p = P[b]
        h = lambda q: -np.sum(q[q > 0] * np.log2(q[q > 0]))  # noqa: E731
        i1 = h(p.sum((1, 2))) + h(p.sum((0, 1))) - h(p.sum(1))
        np.testing.assert_allclose(float(t.mutual_info_1[b]), i1, atol=1e-12)
        hy_given = h(p) - h(p.sum(2))
        np.testing.assert_allclose(float(conditional_entropy_y(p)), hy_given, atol=1e-12)


def test_unknown_unit_is_rejected():
    with pytest.raises(ValueError, match="unit"):
        entropy(jnp.ones(2) / 2, unit="dits")


def test_entropy_gradient_is_finite_at_zeros():
    g = jax.grad(lambda p: entropy(p))(jnp.array([0.5, 0.5, 0.0]))
    assert np.isfinite(np.asarray(g)).all()
