"""Every bad input gets a ValueError that names the argument, the batch index and the problem."""

import jax
import numpy as np
import pytest

from pidjax import decompose, joint_distribution
from pidjax.canonical import distribution


def good(batch=3):
    return np.stack([distribution("and")] * batch)


def test_wrong_rank_is_rejected():
    with pytest.raises(ValueError, match=r"P must have shape \(\.\.\., m, n, k\).*got shape \(4, 2\)"):
        decompose(np.full((4, 2), 0.125))


def test_empty_axis_is_rejected():
    with pytest.raises(ValueError, match="empty axis"):
        decompose(np.zeros((0, 2, 2)))


def test_negative_entry_names_batch_index_and_cell():
    P = good()
    P[2, 0, 1, 0] = -0.1
    with pytest.raises(ValueError, match=r"P\[2\] has a negative entry -0.1 at cell \(0, 1, 0\)"):
        decompose(P)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_entry_names_batch_index(bad):
    P = good()
    P[1, 1, 1, 1] = bad
    with pytest.raises(ValueError, match=r"P\[1\] has a non-finite entry"):
        decompose(P)


def test_all_zero_table_is_rejected():
    P = good()
    P[2] = 0
    with pytest.raises(ValueError, match=r"P\[2\] is all zeros"):
        decompose(P)


def test_sum_off_one_says_by_how_much_and_offers_normalize():
    P = good()
    P[1] *= 0.98
    with pytest.raises(ValueError, match=r"P\[1\] sums to 0\.98, off 1 by -0\.02.*normalize=True"):
        decompose(P)
    decompose(P, normalize=True)  # accepted once asked for


def test_non_numeric_and_complex_inputs_are_rejected():
    with pytest.raises(ValueError, match="real numbers"):
        decompose(np.array([[["a", "b"]]]))
    with pytest.raises(ValueError, match="complex"):
        decompose(distribution("xor").astype(np.complex128))


def test_unknown_method_unit_and_bad_settings_are_rejected():
    P = distribution("xor")
    with pytest.raises(ValueError, match="method must be one of"):
        decompose(P, method="magic")
    with pytest.raises(ValueError, match="unit"):
        decompose(P, unit="dits")
    with pytest.raises(ValueError, match="tol must be positive"):
        decompose(P, tol=0)
    with pytest.raises(ValueError, match="max_iters"):
        decompose(P, max_iters=0)
    with pytest.raises(ValueError, match="dtype must be float32 or float64"):
        decompose(P, dtype=np.int32)


def test_float64_without_x64_is_a_clear_error():
    jax.config.update("jax_enable_x64", False)
    try:
        with pytest.raises(ValueError, match="jax_enable_x64"):
            decompose(distribution("xor"), dtype=np.float64)
    finally:
        jax.config.update("jax_enable_x64", True)


def test_out_of_range_sample_code_names_argument_batch_and_sample():
    x = np.array([[0, 1, 2], [0, 1, 1]])
    with pytest.raises(ValueError, match=r"x1\[0\] has code 2 at sample 2, out of range for size 2"):
        joint_distribution(x, x, x, sizes=(2, 3, 3))


def test_negative_sample_code_is_rejected():
    with pytest.raises(ValueError, match=r"y has a negative code -1 at sample 1"):
        joint_distribution([0, 1], [0, 1], [0, -1])


def test_mismatched_sample_lengths_are_rejected():
    with pytest.raises(ValueError, match=r"same shape.*\(3,\), \(3,\) and \(2,\)"):
        joint_distribution([0, 1, 1], [0, 1, 0], [0, 1])


def test_non_integer_codes_are_rejected():
    with pytest.raises(ValueError, match="x2 must hold integer codes; got dtype float64"):
        joint_distribution([0, 1], [0.0, 1.5], [0, 1])


def test_empty_samples_are_rejected():
    with pytest.raises(ValueError, match="x1 has no samples"):
        joint_distribution([], [], [])


def test_bad_weights_are_rejected():
    with pytest.raises(ValueError, match=r"weights has an invalid weight -1"):
        joint_distribution([0, 1], [0, 1], [0, 1], weights=[1.0, -1.0])
    with pytest.raises(ValueError, match=r"weights\[1\] are all zero"):
        joint_distribution([[0, 1], [0, 1]], [[0, 1], [0, 1]], [[0, 1], [0, 1]], weights=[[1, 1], [0, 0]])
    with pytest.raises(ValueError, match="weights must have shape"):
        joint_distribution([0, 1], [0, 1], [0, 1], weights=[1.0, 1.0, 1.0])


def test_huge_sizes_are_rejected_before_allocating():
    with pytest.raises(ValueError, match="2\\*\\*31 cells"):
        joint_distribution([0], [0], [0], sizes=(100_000, 100_000, 10))
