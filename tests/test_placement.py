"""Chunk sizes and the CPU cap of pidjax.placement."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pidjax.placement import CHUNK_STEP, CPU_BLOCK_TABLES, CPU_CHUNK_TABLES, CPU_WORKING_SET, auto_batch_size, cache_block, chunk_size, table_bytes


@settings(max_examples=300, deadline=None)
@given(total=st.integers(1, 100_000), batch_size=st.integers(1, 5_000), n_dev=st.sampled_from([1, 2, 3, 4, 8]))
def test_chunk_size_covers_the_batch_with_little_padding(total, batch_size, n_dev):
    size = chunk_size(total, batch_size, n_dev)
    chunks = -(-total // size)
    assert size % n_dev == 0 and size >= n_dev
    if total <= batch_size:
        assert chunks == 1 and size - total < n_dev  # one call, padded only to fill the devices
    else:
        assert size <= max(batch_size, n_dev)
        cap = max(n_dev, batch_size - batch_size % n_dev)
        # No more calls than needed, and the padding is at most one step per chunk, not most
        # of a chunk.
        assert chunks == -(-total // cap)
        assert chunks * size - total < chunks * CHUNK_STEP * n_dev

def test_chunk_size_examples():
    assert chunk_size(800, 256) == 208  # 4 chunks, 832 tables solved (was 1024 with 256)
    assert chunk_size(101, 100) == 64  # 2 chunks, 128 solved (was 200)
    assert chunk_size(100, 100) == 100
    assert chunk_size(9, 9, n_dev=2) == 10


def test_auto_batch_size_is_capped_per_cpu_device_and_by_memory():
    fewest, most = CPU_CHUNK_TABLES
    assert auto_batch_size((2, 2, 2), np.float64) == most  # one CPU device here
    assert auto_batch_size((16, 16, 10), np.float64) == fewest
    assert auto_batch_size((64, 64, 10), np.float64) < fewest  # 2 GiB / ~52 MB a table
    assert auto_batch_size((10, 10, 10), np.float64, budget_bytes=10**7) < fewest


def test_cpu_chunks_hold_about_the_cache_working_set():
    # 5x5x3 float64 tables take ~46 kB each by the estimate: 1,024 of them (the fastest
    # measured), 8x8x4 ones ~180 kB: 272; 10x10x10 ones (~1.3 MB) stay at the lower clip.
    # float32 halves the estimate and doubles the chunk.
    assert auto_batch_size((5, 5, 3), np.float64) == 1024
    assert 256 <= auto_batch_size((8, 8, 4), np.float64) <= 288
    assert auto_batch_size((10, 10, 10), np.float64) == 256
    assert auto_batch_size((8, 8, 4), np.float32) == 2 * auto_batch_size((8, 8, 4), np.float64)
    assert all(s % CHUNK_STEP == 0 for s in (auto_batch_size((t, t, 3), np.float64) for t in range(2, 12)))


def test_cpu_step_blocks_hold_about_the_cache_working_set():
    # Inside a chunk, steps run in blocks of about CPU_WORKING_SET: 10x10x10 float64 tables
    # (~1.3 MB by the estimate) in blocks of 32 (16 and 32 measured fastest), small tables in
    # blocks at least as large as their chunk (no blocking), and tables of which fewer than
    # CPU_BLOCK_TABLES fit not at all.
    assert cache_block((10, 10, 10), np.float64) == 32
    assert cache_block((10, 10, 10), np.float32) == 64
    assert cache_block((5, 5, 3), np.float64) >= auto_batch_size((5, 5, 3), np.float64)
    assert cache_block((8, 8, 4), np.float64) >= auto_batch_size((8, 8, 4), np.float64)
    assert cache_block((16, 16, 10), np.float64) is None  # 15 would fit: blocks of 8 ran slower
    assert cache_block((64, 64, 10), np.float64) is None
    for shape in [(2, 2, 2), (5, 5, 3), (10, 10, 10), (12, 12, 10)]:
        block = cache_block(shape, np.float64)
        assert block % CPU_BLOCK_TABLES == 0 and block * table_bytes(shape, np.float64) <= CPU_WORKING_SET
