"""Several JAX processes (``jax.distributed``), here two on this machine with two CPU devices
each: each process solves a share of the batch and every process gets the whole result, equal
to a one-process run."""

import os
import sys
import textwrap

import jax
import numpy as np
import pytest

from benchmarks.processes import free_port, run_joined
from helpers import random_table
from pidjax import decompose
from pidjax.placement import _fingerprint

WORKER = textwrap.dedent(
    """
    import sys
    import jax
    jax.config.update("jax_enable_x64", True)
    port, pid, folder = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    jax.distributed.initialize(coordinator_address=f"127.0.0.1:{port}", num_processes=2, process_id=pid)
    import numpy as np
    from pidjax import decompose
    assert jax.process_count() == 2 and len(jax.local_devices()) == 2, jax.local_devices()
    P = np.load(f"{folder}/P.npy")
    # 1. One batch on both processes: split, solved in chunks of 4 (two tables per device),
    # gathered (9 tables: the last share and chunk are padded).
    r = decompose(P, batch_size=4, return_q=True)
    np.savez(f"{folder}/shared{pid}.npz", redundancy=np.asarray(r.redundancy), synergy=np.asarray(r.synergy),
             bound=np.asarray(r.bound), iterations=np.asarray(r.iterations), q=np.asarray(r.q))
    # 2. Each process's own tables, no communication.
    own = decompose(P[pid::2], across_processes=False)
    np.save(f"{folder}/own{pid}.npy", np.asarray(own.synergy))
    # 3. Different batches with across_processes=True: a clear error on both processes.
    try:
        decompose(P[pid:])
    except ValueError as err:
        open(f"{folder}/error{pid}.txt", "w").write(str(err))
    """
)


def test_fingerprint_tells_batches_apart():
    P = np.stack([random_table(s, (3, 3, 2)) for s in range(3)])
    assert np.array_equal(_fingerprint(P), _fingerprint(P.copy()))
    assert not np.array_equal(_fingerprint(P), _fingerprint(P[:2]))
    assert not np.array_equal(_fingerprint(P), _fingerprint(P.astype(np.float32)))
    changed = P.copy()
    changed[1, 0, 0, 0] = np.nextafter(changed[1, 0, 0, 0], 1.0)
    assert not np.array_equal(_fingerprint(P), _fingerprint(changed))


@pytest.mark.skipif(jax.process_count() != 1, reason="starts its own processes")
def test_two_processes_share_a_batch_and_both_return_all_of_it(tmp_path):
    P = np.stack([random_table(s, (4, 3, 3), zero_fraction=0.2 * (s % 2)) for s in range(9)])
    np.save(tmp_path / "P.npy", P)
    (tmp_path / "worker.py").write_text(WORKER)
    port = free_port()
    # Two processes of two CPU devices each: a share is sharded again over its process's devices.
    env = {k: v for k, v in os.environ.items() if k != "NPROC"}
    env.update(JAX_PLATFORMS="cpu", XLA_FLAGS="--xla_force_host_platform_device_count=2")
    commands = [[sys.executable, str(tmp_path / "worker.py"), str(port), str(pid), str(tmp_path)] for pid in (0, 1)]
    codes, outputs = run_joined(commands, env, timeout=300)
    assert codes == [0, 0], "\n".join(outputs)[-3000:]

    single = decompose(P, return_q=True)
    for pid in (0, 1):
        got = np.load(tmp_path / f"shared{pid}.npz")
        assert got["redundancy"].shape == (9,)
        np.testing.assert_allclose(got["redundancy"], np.asarray(single.redundancy), rtol=0, atol=1e-12)
        np.testing.assert_allclose(got["synergy"], np.asarray(single.synergy), rtol=0, atol=1e-12)
        np.testing.assert_allclose(got["q"], np.asarray(single.q), rtol=0, atol=1e-12)
        np.testing.assert_array_equal(got["iterations"], np.asarray(single.iterations))
        own = np.load(tmp_path / f"own{pid}.npy")
        np.testing.assert_allclose(own, np.asarray(single.synergy)[pid::2], rtol=0, atol=1e-12)
        assert "same P on every process" in (tmp_path / f"error{pid}.txt").read_text()
