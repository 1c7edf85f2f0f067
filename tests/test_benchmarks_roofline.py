"""benchmarks.roofline: the traffic it counts, and a run that prints every row."""

import jax
import jax.numpy as jnp
import pytest

from benchmarks import roofline


def test_traffic_counts_an_elementwise_pass_once_in_and_once_out():
    x = jnp.ones(1000, jnp.float64)
    moved = roofline.traffic(jax.jit(lambda x: x * 2.0 + 1.0).lower(x).compile())
    assert moved.bytes == 2 * x.nbytes
    assert moved.library_bytes == 0


def test_traffic_adds_the_library_cholesky_xla_does_not_count():
    a = jnp.broadcast_to(jnp.eye(15) * 2.0, (4, 15, 15))
    compiled = jax.jit(lambda a: jax.lax.linalg.cholesky(a, symmetrize_input=False)).lower(a).compile()
    moved = roofline.traffic(compiled)
    # read and written in place: the matrices twice, plus the (4,) int32 status
    assert moved.library_bytes == 2 * a.nbytes + 4 * 4
    assert moved.flops >= 4 * 15**3 / 3


def test_traffic_counts_a_loop_body_once_per_trip():
    x = jnp.ones(1000, jnp.float64)
    step = lambda i, x: jnp.sin(x) * 1.0001 + 1.0  # noqa: E731
    compiled = jax.jit(lambda x: jax.lax.fori_loop(0, 50, step, x)).lower(x).compile()
    moved = roofline.traffic(compiled).bytes
    # 50 passes of read + write; XLA's own cost analysis reports about one
    assert 50 * 2 * x.nbytes <= moved <= 54 * 2 * x.nbytes


def test_array_bytes_reads_tuples_and_scalars():
    assert roofline.array_bytes("(f64[4,15,15]{1,2,0}, s32[4]{0})") == 4 * 15 * 15 * 8 + 16
    assert roofline.array_bytes("f32[]") == 4


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_roofline_prints_every_part_and_the_solve(capsys, dtype):
    roofline.main(["--batch", "2", "--workloads", "dense5", "--stream-mib", "1", "--dtype", dtype, "--solve"])
    out = capsys.readouterr().out
    assert f"; {dtype};" in out.splitlines()[0]
    for part in roofline.PARTS:
        row = next(line for line in out.splitlines() if line.startswith(f"| dense 5x5x3 | {part} |"))
        cells = [c.strip() for c in row.split("|")[3:-1]]
        assert float(cells[0]) > 0 and float(cells[-1]) > 0  # us per table, measured / roofline
        assert float(cells[1].split()[0].replace(",", "")) > 0  # bytes per table
    assert "whole solve" in out and "tables/s measured" in out


def test_roofline_rejects_bad_arguments():
    with pytest.raises(SystemExit):
        roofline.main(["--workloads", "clustered99"])
    with pytest.raises(SystemExit):
        roofline.main(["--batch", "0"])
