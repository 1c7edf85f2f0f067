"""The cell-barrier interior-point solver on every stored benchmark case."""

import json
import warnings
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

from benchmarks.cases import load_cases
from helpers import terms
from pidjax import decompose
from pidjax.canonical import distribution

GROUND_TRUTH = Path(__file__).resolve().parents[1] / "benchmarks" / "data" / "ground_truth_v1.json"


def test_ipm_certifies_every_benchmark_case_within_its_bound_in_few_steps():
    truth = {c["name"]: c for c in json.loads(GROUND_TRUTH.read_text())["cases"]}
    by_shape = {}
    for case in load_cases():
        by_shape.setdefault(case["P"].shape, []).append(case)
    for shape, cases in by_shape.items():
        r = decompose(np.stack([c["P"] for c in cases]), method="ipm")
        assert bool(np.all(r.converged)), shape
        assert int(np.max(r.iterations)) <= 40, shape  # boundary optima included: no crawl
        want = np.array([[truth[c["name"]][k] for k in ("redundancy", "unique_1", "unique_2", "synergy")] for c in cases])
        err = np.abs(terms(r) - want).max(axis=1)
        assert np.all(err <= np.asarray(r.bound) + 1e-9), (shape, err)
        assert np.all(np.asarray(r.bound) <= 1e-6)


def test_ipm_and_newton_agree_within_their_bounds():
    P = np.stack([distribution(name) for name in ("and", "xor", "rdn")])
    a = decompose(P, method="ipm")
    b = decompose(P, method="newton")
    np.testing.assert_allclose(terms(a), terms(b), atol=float(np.max(a.bound + b.bound)) + 1e-12)


def test_ipm_refuses_float32_with_a_clear_error():
    with pytest.raises(ValueError, match="float64"):
        decompose(distribution("and", np.float32), method="ipm", dtype=jnp.float32)


def test_ipm_batch_of_mixed_cases_finishes():
    # Members finishing at different steps keep the loop running for the others only.
    cases = [c["P"] for c in load_cases() if c["P"].shape == (2, 2, 2)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = decompose(np.stack(cases), method="ipm")
    its = np.asarray(r.iterations)
    assert its.min() < its.max()
