import numpy as np

from pidjax import decompose, joint_distribution
from pidjax.canonical import KNOWN_VALUES, distribution
from helpers import terms


def test_histogram_counts_and_normalises():
    P = np.asarray(joint_distribution([0, 1, 1, 1], [0, 0, 1, 1], [0, 1, 0, 0]))
    expected = np.zeros((2, 2, 2))
    expected[0, 0, 0] = expected[1, 0, 1] = 0.25
    expected[1, 1, 0] = 0.5
    np.testing.assert_allclose(P, expected)


def test_sizes_given_keep_unused_states():
    P = np.asarray(joint_distribution([0, 0], [1, 1], [0, 2], sizes=(3, 2, 4)))
    assert P.shape == (3, 2, 4) and P.sum() == 1.0 and P[0, 1, 0] == 0.5


def test_batched_samples_give_one_table_per_row_with_a_common_shape():
    x1 = np.array([[0, 1, 0, 1], [0, 0, 0, 2]])
    x2 = np.array([[0, 0, 1, 1], [1, 1, 0, 0]])
    y = x1 ^ x2 if False else np.array([[0, 1, 1, 0], [1, 1, 0, 0]])
    P = np.asarray(joint_distribution(x1, x2, y))
    assert P.shape == (2, 3, 2, 2)
    np.testing.assert_allclose(P.sum((1, 2, 3)), [1.0, 1.0])
    np.testing.assert_allclose(P[1], np.asarray(joint_distribution(x1[1], x2[1], y[1], sizes=(3, 2, 2))))


def test_weights_equal_repeated_samples():
    weighted = joint_distribution([0, 1, 1], [0, 0, 1], [1, 0, 1], weights=[3, 1, 2])
    repeated = joint_distribution([0, 0, 0, 1, 1, 1], [0, 0, 0, 0, 1, 1], [1, 1, 1, 0, 1, 1])
    np.testing.assert_allclose(np.asarray(weighted), np.asarray(repeated), atol=1e-15)


def test_samples_of_the_and_gate_recover_its_pid():
    a, b = np.meshgrid([0, 1], [0, 1], indexing="ij")
    x1, x2 = np.tile(a.ravel(), 25), np.tile(b.ravel(), 25)
    P = joint_distribution(x1, x2, x1 & x2)
    np.testing.assert_allclose(np.asarray(P), distribution("and"), atol=1e-15)
    np.testing.assert_allclose(terms(decompose(P)), KNOWN_VALUES["and"], atol=1e-6)
