"""The kernel-throughput benchmark's workloads and its table, on tiny batches."""

import numpy as np
import pytest

from benchmarks import kernel_throughput


@pytest.mark.parametrize("name", kernel_throughput.WORKLOADS)
def test_every_workload_gives_seeded_joint_tables(name):
    label, P = kernel_throughput.workload(name, 3)
    assert P.shape[0] == 3 and P.ndim == 4 and label
    np.testing.assert_allclose(P.sum(axis=(1, 2, 3)), 1.0)
    assert np.all(P >= 0)
    np.testing.assert_array_equal(P, kernel_throughput.workload(name, 3)[1])


def test_sparse_workloads_are_dirichlet_tenth_tables():
    # Dirichlet(0.1): most of the mass sits in a few cells, the boundary-optimum family.
    dense = kernel_throughput.workload("dense5", 200)[1].reshape(200, -1)
    sparse = kernel_throughput.workload("sparse5", 200)[1].reshape(200, -1)
    assert np.median((sparse < 1e-4).mean(1)) > 0.3 > np.median((dense < 1e-4).mean(1))


def test_main_prints_a_row_per_workload_and_method(capsys):
    kernel_throughput.main(["--batch", "4", "--methods", "ipm", "--workloads", "sparse5"])
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| sparse 5x5x3")]
    assert len(rows) == 1 and "| True |" in rows[0]
