"""Test configuration: float64 on, CPU only, a fixed hypothesis profile."""

import gc
import importlib.util
import os
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")

# One persistent compilation cache for every process of a run: the two xdist workers, and the
# notebook kernels, jax.distributed workers and CLI runs that tests start (they inherit these
# variables) compile many of the same programs: from a clean cache on 2 cores, the suite used
# 38-43 min of CPU against 45 without it (19m48s-22m13s against 23m38s). JAX reads these
# variables when it is imported, just below. A size cap makes JAX lock the cache with
# filelock, so no process reads an entry another is still writing; without filelock, no cache.
if importlib.util.find_spec("filelock") is not None:
    os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(Path(__file__).resolve().parents[1] / ".pytest_cache" / "jax"))
    os.environ.setdefault("JAX_COMPILATION_CACHE_MAX_SIZE", str(2 << 30))

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import pytest  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile(
    "pidjax",
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile("pidjax")


# Every program XLA compiles for the CPU keeps its machine code in memory mappings of its own
# (about 800 for one `decompose` of one shape, jaxlib 0.10.2), and a process may hold at most
# vm.max_map_count of them (65530 by default). A pytest-xdist worker that runs half of this
# suite compiles thousands of programs and came within a few thousand of that limit; past it,
# LLVM cannot map the next program and the worker aborts inside XLA compilation (seen in CI in
# test_properties). So once a worker holds half the limit, its compiled programs are dropped:
# later tests recompile what they need.
_MAPS = "/proc/self/maps"


def _count_lines(path):
    try:
        with open(path, "rb") as f:
            return sum(1 for _ in f)
    except OSError:  # not Linux: no such limit to keep away from
        return None


def _map_limit():
    try:
        with open("/proc/sys/vm/max_map_count") as f:
            return int(f.read())
    except (OSError, ValueError):
        return None


_LIMIT = _map_limit()  # read once: it does not change while the suite runs


@pytest.fixture(autouse=True)
def _keep_compiled_code_within_the_map_limit():
    yield
    held = _count_lines(_MAPS) if _LIMIT else None
    if held is not None and held > _LIMIT // 2:
        jax.clear_caches()
        gc.collect()
