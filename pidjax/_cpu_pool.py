"""Keep jaxlib's batched CPU LAPACK calls from deadlocking when JAX has several host devices.

In jaxlib 0.10.2 a batched Cholesky (or inverse, or triangular solve) on CPU splits its batch
into tasks on XLA's intra-op thread pool and blocks one pool thread until they finish. With
``--xla_force_host_platform_device_count=D``, the D devices run their programs on that same
pool, sized to the number of cores: once every pool thread is such a waiting caller, the
queued tasks never run and the process hangs idle (seen with 2 devices on 2 cores, solving
10x10x10 tables with ``ipm``; a native stack shows every pool thread in
``ParallelBatchMap`` / ``BlockingCounter::Wait`` under ``lapack_dpotrf_ffi``).

XLA sizes that pool from the ``NPROC`` environment variable when it is set, read once when the
CPU backend starts. :func:`widen_cpu_pool` sets it to the usable cores plus the device
count, so even with every device blocked in a LAPACK call there are as many threads free as
cores. It must run before JAX creates its CPU backend; :mod:`pidjax` calls it on import. It
sees the device count of ``XLA_FLAGS`` and of the ``JAX_NUM_CPU_DEVICES`` variable, not a
``jax.config.update("jax_num_cpu_devices", N)`` made after the import: set ``NPROC`` then.
"""

from __future__ import annotations

import os
import re

_FORCED = re.compile(r"--xla_force_host_platform_device_count[= ](\d+)")


def forced_host_devices(xla_flags: str) -> int:
    """Host devices that ``XLA_FLAGS`` forces (1 when it forces none)."""
    found = _FORCED.findall(xla_flags or "")
    return int(found[-1]) if found else 1


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity where the platform reports one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # platforms without affinity masks
        return os.cpu_count() or 1


def requested_cpu_devices(environ) -> int:
    """CPU devices the environment asks JAX for: ``JAX_NUM_CPU_DEVICES`` if set, else ``XLA_FLAGS``."""
    value = environ.get("JAX_NUM_CPU_DEVICES", "").strip()
    if value.isdigit():  # jax's default -1 (unset) defers to XLA_FLAGS, as here
        return int(value)
    return forced_host_devices(environ.get("XLA_FLAGS", ""))


def widen_cpu_pool(environ=None) -> int | None:
    """Set ``NPROC`` to cores + devices when the environment asks for several CPU devices.

    Leaves an ``NPROC`` the user set alone. ``environ`` defaults to :data:`os.environ`.

    Returns:
      The pool size set, or ``None`` when nothing was changed.
    """
    environ = os.environ if environ is None else environ
    devices = requested_cpu_devices(environ)
    if devices <= 1 or "NPROC" in environ:
        return None
    size = usable_cores() + devices
    environ["NPROC"] = str(size)
    return size
