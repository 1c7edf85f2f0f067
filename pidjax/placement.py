"""Where a batch of tables is solved: chunks that fit in memory, local devices, many processes.

A flat batch ``(B, m, n, k)`` is cut into near-equal chunks (one compilation) of at most
:func:`auto_batch_size` tables; each chunk is sharded along its batch axis over this process's
devices. With several processes (``jax.distributed.initialize`` on many hosts, or several
processes on one), :func:`solve_across_processes` gives each process an equal share of the
batch and gathers the results, so every process returns the whole batch. Tables are
independent, so the solve itself needs no communication; only the gather does.
"""

from __future__ import annotations

import hashlib

import jax
import jax.numpy as jnp
import numpy as np

from pidjax.narrowing import pad_to

MEMORY_BUDGET = 2 * 1024**3  # bytes of solver working set per compiled call on CPU (auto chunking)
ACCELERATOR_SHARE = 4  # on a GPU/TPU the budget is 1/ACCELERATOR_SHARE of its memory, if larger
CPU_WORKING_SET = 48 * 1024**2  # bytes of working-set estimate per CPU device and call: about the last-level cache
CPU_CHUNK_TABLES = (256, 1024)  # fewest and most tables per CPU device in one compiled call
CPU_BLOCK_TABLES = 16  # blocks of a step hold a multiple of this many tables per CPU device, or no blocking
CHUNK_STEP = 16  # chunk sizes are multiples of this (times the device count): few compilations


def memory_budget() -> int:
    """Bytes of solver working set per compiled call: :data:`MEMORY_BUDGET` on CPU, or a
    :data:`ACCELERATOR_SHARE` fraction of the first device's memory where it reports its size
    (GPU, TPU) and that is larger."""
    try:
        stats = jax.local_devices()[0].memory_stats() or {}
    except Exception:  # backends without memory statistics
        stats = {}
    return max(MEMORY_BUDGET, int(stats.get("bytes_limit", 0)) // ACCELERATOR_SHARE)


def table_bytes(table_shape, dtype) -> int:
    """Estimated solver working set of one ``(m, n, k)`` table, in bytes.

    Counts the Newton system (the dense ``min(m, n) k`` square Schur complement and the
    ``m n k^2`` pair blocks, several copies of each) and the per-cell arrays.
    """
    m, n, k = table_shape
    side = min(m, n) * k
    return jnp.dtype(dtype).itemsize * (6 * side * side + 6 * m * n * k * k + 40 * m * n * k)


def cache_block(table_shape, dtype) -> int | None:
    """Tables per block of a second-order step on CPU, or ``None`` off CPU (no blocking).

    A step forms ``m n k^2`` pair blocks and an ``(n k)^2`` Schur complement per table, each
    read and written a few times. Over a whole chunk of large tables these arrays fall out of
    the cache and the step runs at memory speed; computed in blocks of about
    :data:`CPU_WORKING_SET` per local device (:func:`pidjax.narrowing.blockwise`), they stay
    in it. The chunk itself stays large, so a straggler still shares its loop with many tables.
    Blocks hold a multiple of :data:`CPU_BLOCK_TABLES` tables per device.
    Measured on a 2-core CPU with a 32 MiB L3 (``solve_ipm_batch`` of 256 tables, tables/s):
    dense 10x10x10 443-459 unblocked, 668-674 / 667-691 / 588-607 in blocks of 16 / 32 / 64;
    dense 16x16x10 137-150 unblocked, 126-139 / 119-129 in blocks of 16 / 8. So tables of which
    fewer than :data:`CPU_BLOCK_TABLES` fit are not blocked (their factorisations, not memory
    traffic, set the pace), and blocks no smaller than the chunk (small tables: 5x5x3,
    clustered 8x8x4) change nothing.
    """
    devices = jax.local_devices()
    if devices[0].platform != "cpu":
        return None
    per_device = CPU_WORKING_SET // table_bytes(table_shape, dtype)
    if per_device < CPU_BLOCK_TABLES:
        return None
    return per_device // CPU_BLOCK_TABLES * CPU_BLOCK_TABLES * len(devices)


def auto_batch_size(table_shape, dtype, budget_bytes: int | None = None) -> int:
    """Tables per compiled call: within ``budget_bytes`` of working set (default
    :func:`memory_budget`) and, on CPU, about :data:`CPU_WORKING_SET` per local device.

    The estimate is :func:`table_bytes`. The CPU limit is
    a speed limit, not a memory one: a chunk whose arrays stay near the cache runs faster. It
    is clipped to :data:`CPU_CHUNK_TABLES` (and rounded down to a multiple of
    :data:`CHUNK_STEP`). Measured on a 2-core CPU with a 32 MiB L3 (``python -m
    benchmarks.chunk_size``, median of 3 rounds, tables/s): dense 10x10x10 (1.3 MB each) 476 /
    577 / 545 / 446 in chunks of 16 / 32 / 64 / 256; clustered 8x8x4 (180 kB) 3,730 / 4,648 /
    4,856 / 4,622 in 64 / 128 / 256 / 512; dense 5x5x3 (46 kB) 6,985 / 8,808 / 8,767 in 256 /
    1,024 / 2,048; Dirichlet(0.1) 5x5x3 5,116 / 6,094 in 256 / 1,024. The best chunks hold
    40-48 MB each. The lower clip keeps larger tables at 256: dense 16x16x10 (3.3 MB) ran 110 /
    111 / 121 in 16 / 64 / 256, where the large factorisations dominate, and in small chunks
    a straggler costs more: float32 clustered 16x16x10 tables, a few of which are handed over
    to newton and its IPFP finish, ran 42/s in chunks of 32 against 90/s in 256.
    """
    if budget_bytes is None:
        budget_bytes = memory_budget()
    per_table = table_bytes(table_shape, dtype)
    size = int(max(1, budget_bytes // per_table))
    devices = jax.local_devices()
    if devices[0].platform == "cpu":
        fewest, most = CPU_CHUNK_TABLES
        per_device = min(max(CPU_WORKING_SET // per_table // CHUNK_STEP * CHUNK_STEP, fewest), most)
        size = min(size, per_device * len(devices))
    return size


def place(flat):
    """Shard ``flat`` along its batch axis over this process's devices (padded to a multiple)."""
    devices = jax.local_devices()
    if len(devices) == 1:
        return flat
    flat = pad_to(flat, -(-flat.shape[0] // len(devices)) * len(devices))
    mesh = jax.sharding.Mesh(np.array(devices), ("batch",))
    return jax.device_put(flat, jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("batch")))


def chunk_size(total: int, batch_size: int, n_dev: int = 1) -> int:
    """Tables per call for ``total`` tables, at most ``batch_size``, in near-equal chunks.

    A batch that fits is one call of ``total`` (rounded up to a multiple of ``n_dev``).
    Otherwise it is cut into ``c = ceil(total / batch_size)`` chunks of ``ceil(total / c)``
    rounded up to a multiple of :data:`CHUNK_STEP` ``* n_dev`` (never above ``batch_size``
    rounded down to a multiple of ``n_dev``, nor below ``n_dev``). The padding is then less
    than one step per chunk, not most of a chunk, and a sweep compiles few distinct sizes.
    """
    whole = -(-total // n_dev) * n_dev
    if total <= batch_size:
        return whole
    cap = max(n_dev, batch_size - batch_size % n_dev)
    count = -(-total // cap)
    per_chunk = -(-total // count)
    step = CHUNK_STEP * n_dev
    return min(-(-per_chunk // step) * step, cap)


def run_chunks(flat, batch_size: int, solve):
    """Apply ``solve`` to equal-sized chunks of ``flat`` (one compilation), then join them.

    ``solve`` maps a batch ``(b, m, n, k)`` to a pytree of arrays with leading axis ``b``;
    chunks are sized by :func:`chunk_size`, and padding added to fill the last chunk or a
    device is cut off again.
    """
    total = flat.shape[0]
    size = chunk_size(total, batch_size, len(jax.local_devices()))
    parts = []
    for start in range(0, total, size):
        chunk = flat[start : start + size]
        used = chunk.shape[0]
        out = solve(place(pad_to(chunk, size)))
        parts.append(jax.tree_util.tree_map(lambda x, u=used: x[:u], out))
    if len(parts) == 1:
        return parts[0]
    return jax.tree_util.tree_map(lambda *xs: jnp.concatenate(xs), *parts)


def _fingerprint(flat) -> np.ndarray:
    """Shape, dtype and a hash of the bytes of ``flat``, as int64 words (equal iff same input)."""
    host = np.ascontiguousarray(np.asarray(flat))
    digest = hashlib.blake2b(host.tobytes(), digest_size=16)
    digest.update(str((host.shape, host.dtype.str)).encode())
    return np.frombuffer(digest.digest(), dtype=np.int64).copy()


def solve_across_processes(flat, run_local):
    """Solve ``flat`` (the same batch on every process) with each process taking one share.

    Process ``p`` of ``c`` solves tables ``[p s, (p + 1) s)`` with ``s = ceil(B / c)`` by
    ``run_local`` on its own devices (the last share is padded); the results are gathered with
    ``jax.experimental.multihost_utils.process_allgather``, so every process returns the result
    for all ``B`` tables. With one process this is ``run_local(flat)``. On CPU the gather uses
    JAX's CPU collectives (gloo, JAX's default).

    Raises:
      ValueError: on every process, when the processes were given different batches.
    """
    count = jax.process_count()
    if count == 1:
        return run_local(flat)
    from jax.experimental import multihost_utils

    prints = multihost_utils.process_allgather(_fingerprint(flat))  # (count, 2)
    differ = [p for p in range(count) if not np.array_equal(prints[p], prints[0])]
    if differ:
        raise ValueError(
            f"across_processes=True needs the same P on every process; processes {differ} were "
            "given a different batch than process 0 (pass across_processes=False to solve each "
            "process's own tables)"
        )
    total = flat.shape[0]
    share = -(-total // count)
    start = jax.process_index() * share
    mine = pad_to(flat[start : start + share], share) if start < total else pad_to(flat[:1], share)
    out = run_local(mine)
    gathered = multihost_utils.process_allgather(out, tiled=True)
    return jax.tree_util.tree_map(lambda x: jnp.asarray(x[:total]), gathered)
