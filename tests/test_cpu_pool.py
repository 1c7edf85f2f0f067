"""Several forced CPU devices: the LAPACK-based solvers finish, with single-device results."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from pidjax import decompose
from pidjax._cpu_pool import forced_host_devices, widen_cpu_pool


def test_forced_host_devices_reads_the_last_flag():
    assert forced_host_devices("") == 1
    assert forced_host_devices("--xla_cpu_multi_thread_eigen=false") == 1
    assert forced_host_devices("--xla_force_host_platform_device_count=4") == 4
    assert forced_host_devices("--xla_force_host_platform_device_count=2 --xla_force_host_platform_device_count=8") == 8


def test_widen_cpu_pool_sets_cores_plus_devices_and_respects_the_user():
    env = {"XLA_FLAGS": "--xla_force_host_platform_device_count=3"}
    size = widen_cpu_pool(env)
    assert size is not None and size >= 4 and env["NPROC"] == str(size)
    user = {"XLA_FLAGS": "--xla_force_host_platform_device_count=3", "NPROC": "7"}
    assert widen_cpu_pool(user) is None and user["NPROC"] == "7"
    single = {"XLA_FLAGS": "--xla_force_host_platform_device_count=1"}
    assert widen_cpu_pool(single) is None and "NPROC" not in single
    assert widen_cpu_pool({}) is None
    # jax's own variable wins over XLA_FLAGS, as it does in jax.
    both = {"JAX_NUM_CPU_DEVICES": "1", "XLA_FLAGS": "--xla_force_host_platform_device_count=4"}
    assert widen_cpu_pool(both) is None
    config = {"JAX_NUM_CPU_DEVICES": "2"}
    assert widen_cpu_pool(config) == int(config["NPROC"]) >= 3


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs CPU affinity masks (Linux)")
def test_two_host_devices_on_two_cores_finish_dense_tables_like_one_device(tmp_path):
    """The case that hung before pidjax widened XLA's CPU pool: 64 dense 10x10x10 tables,
    ``ipm``, two forced devices, pinned to two cores (so the pool would have two threads)."""
    rng = np.random.default_rng(3)
    P = rng.dirichlet(np.ones(1000), size=64).reshape(64, 10, 10, 10)
    np.save(tmp_path / "P.npy", P)
    cores = sorted(os.sched_getaffinity(0))[:2]
    # Pinned in the child before JAX starts, since XLA sizes its pool from the affinity mask
    # (a preexec_fn would make subprocess fork this multithreaded process).
    script = textwrap.dedent(
        f"""
        import os
        os.sched_setaffinity(0, {cores!r})
        import numpy as np
        import pidjax, jax
        jax.config.update("jax_enable_x64", True)
        assert len(jax.devices()) == 2, jax.devices()
        assert int(os.environ["NPROC"]) >= 4, os.environ.get("NPROC")
        r = pidjax.decompose(np.load({str(tmp_path / "P.npy")!r}), method="ipm")
        np.save({str(tmp_path / "out.npy")!r}, np.stack([np.asarray(r.redundancy), np.asarray(r.synergy)]))
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "NPROC"}
    env.update(XLA_FLAGS="--xla_force_host_platform_device_count=2", JAX_PLATFORMS="cpu")
    subprocess.run([sys.executable, "-c", script], check=True, env=env, timeout=240)
    sharded = np.load(tmp_path / "out.npy")
    single = decompose(P, method="ipm")
    np.testing.assert_allclose(sharded[0], np.asarray(single.redundancy), atol=1e-12)
    np.testing.assert_allclose(sharded[1], np.asarray(single.synergy), atol=1e-12)
