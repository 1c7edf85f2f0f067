"""The cell-barrier interior-point solver on every stored benchmark case."""

import json
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from benchmarks.cases import load_cases
from benchmarks.kernel_throughput import workload
from helpers import terms
from pidjax import decompose, ipm, newton
from pidjax.canonical import distribution
from pidjax.decomposition import _ipm_before_hand_over

GROUND_TRUTH = Path(__file__).resolve().parents[1] / "benchmarks" / "data" / "ground_truth_v1.json"


def test_ipm_certifies_every_benchmark_case_within_its_bound_in_few_steps():
    truth = {c["name"]: c for c in json.loads(GROUND_TRUTH.read_text())["cases"]}
    # Tables of at most 4 states and labels are padded with zero-mass states and labels to
    # 4x4x4, which changes no PID term (test_decompose's structural-zero test): one compiled
    # solver for seven shapes keeps this test's compile time down.
    by_shape = {}
    for case in load_cases():
        P = case["P"]
        if max(P.shape) <= 4:
            P = np.pad(P, [(0, 4 - d) for d in P.shape])
        by_shape.setdefault(P.shape, []).append((case, P))
    for shape, members in by_shape.items():
        cases = [c for c, _ in members]
        r = decompose(np.stack([P for _, P in members]), method="ipm")
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


def test_ipm_solves_float32_tables_to_the_float32_tolerance():
    # AND has a boundary optimum; its terms are known exactly (R = 0.311278, S = 0.5 bits).
    r = decompose(distribution("and", np.float32), method="ipm", dtype=jnp.float32)
    assert bool(r.converged) and float(r.bound) <= 1e-4 and r.synergy.dtype == np.float32
    assert abs(float(r.redundancy) - 0.311278) <= float(r.bound) + 2e-4
    assert abs(float(r.synergy) - 0.5) <= float(r.bound) + 2e-4


def test_ipm_batch_of_mixed_cases_finishes():
    # Members finishing at different steps keep the loop running for the others only.
    cases = [c["P"] for c in load_cases() if c["P"].shape == (2, 2, 2)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = decompose(np.stack(cases), method="ipm")
    its = np.asarray(r.iterations)
    assert its.min() < its.max()


# Two float64 fuzz tables (benchmarks/fuzz.py, families tiny_masses and mixed_scales) on which
# the interior point alone sent its dual coordinates to ~1e31: one came back with synergy
# -0.047 bits and a "certified" bound of 0, the other with NaN terms.
DUAL_RUNAWAY = [
    [[[0.2921048048980554, 0.12789528925455532], [0.05863859904816179, 8.802232975767013e-234]],
     [[0.024177230334044886, 0.49718407646518253], [9.165289771115336e-144, 8.371239794902583e-34]]],
    [[[4.2983450423005237e-268, 7.524612741476408e-119], [1.166294151406071e-104, 1.1597173128943008e-136]],
     [[4.979305716165122e-237, 1.1069432974455719e-175], [2.3495516449421065e-217, 1.0]]],
]


def test_ipm_hands_stalled_tables_to_newton_and_matches_it():
    P = np.array(DUAL_RUNAWAY)
    a = decompose(P, method="ipm")
    b = decompose(P, method="newton")
    assert bool(np.all(a.converged)) and np.all(np.isfinite(terms(a)))
    assert np.all(terms(a) >= -np.asarray(a.bound)[:, None] - 1e-12)
    np.testing.assert_allclose(terms(a), terms(b), atol=float(np.max(a.bound + b.bound)) + 1e-12)


def test_ipm_hand_over_respects_max_iters():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        r = decompose(np.array(DUAL_RUNAWAY), method="ipm", max_iters=5)
    assert np.all(np.asarray(r.iterations) <= 5)
    assert not bool(r.converged[0])  # needs about 35 steps in all


def _solve_batch_traced(P, certify_below=None, monkeypatch=None):
    """``solve_ipm_batch`` traced afresh (module constants are read at trace time)."""
    if certify_below is not None:
        monkeypatch.setattr(ipm, "_CERTIFY_BELOW", certify_below)
    tol = jnp.asarray(1e-6 * np.log(2))
    return jax.jit(lambda p: ipm.solve_ipm_batch(p, tol, 200))(jnp.asarray(P))


def test_skipping_early_certificates_changes_no_result(monkeypatch):
    # Certificates are only computed once some member's barrier gap is near tol; they never
    # steer the iterates, so certifying every step must give the very same answers and steps.
    cases = np.stack([c["P"] for c in load_cases() if c["P"].shape == (4, 4, 4)])
    lazy = _solve_batch_traced(cases)
    eager = _solve_batch_traced(cases, np.inf, monkeypatch)
    np.testing.assert_array_equal(np.asarray(lazy.iterations), np.asarray(eager.iterations))
    np.testing.assert_array_equal(np.asarray(lazy.gap), np.asarray(eager.gap))
    np.testing.assert_array_equal(np.asarray(lazy.q), np.asarray(eager.q))


def test_a_member_handed_over_leaves_the_others_as_they_are_alone():
    # The hand-over to Newton runs for the whole batch when one member stalls; the members
    # that converged keep their own solution, bit for bit, and the stalled one gets Newton's.
    good = np.stack([distribution(name) for name in ("and", "xor", "rdn")])
    runaway = np.array(DUAL_RUNAWAY[:1])
    alone = _solve_batch_traced(good)
    mixed = _solve_batch_traced(np.concatenate([good, runaway]))
    for field in ("q", "gap", "iterations", "dual_a", "dual_b"):
        np.testing.assert_array_equal(np.asarray(getattr(mixed, field))[:3], np.asarray(getattr(alone, field)))
    assert float(mixed.gap[3]) <= 1e-6 * np.log(2)
    assert int(mixed.iterations[3]) > 20  # the central path alone stalls on it (about 35 steps in all)


def test_hand_over_in_a_call_of_its_own_agrees_with_the_one_program():
    # decompose compiles ipm's Newton hand-over separately, only for a chunk that needs it; the
    # answer is the one decompose gives under jit, with the hand-over inside the program, up to
    # the rounding of two differently compiled programs. 3x5x3 tables are solved transposed,
    # so the separate hand-over must transpose the solution it is given too.
    rng = np.random.default_rng(1)
    P = rng.dirichlet(0.1 * np.ones(45), size=16).reshape(16, 3, 5, 3)
    tol = 1e-6 * np.log(2)
    # The first of decompose's two programs (the same compiled call): one member stalls in it.
    _, before = _ipm_before_hand_over(jnp.asarray(P), jnp.asarray(tol), 200, False, "bits")
    stalled = ~(np.asarray(before.gap) <= tol)
    assert stalled.sum() == 1
    eager = decompose(P, method="ipm")
    inside = jax.jit(lambda p: decompose(p, method="ipm"))(P)
    assert bool(np.all(eager.converged)) and bool(np.all(inside.converged))
    np.testing.assert_array_equal(np.asarray(eager.iterations), np.asarray(inside.iterations))
    assert int(eager.iterations[stalled][0]) > int(before.iterations[stalled][0])  # Newton's steps added
    slack = np.asarray(eager.bound + inside.bound)[:, None] + 1e-12
    assert np.all(np.abs(terms(eager) - terms(inside)) <= slack)


def test_one_table_solver_is_the_batch_solver_on_a_batch_of_one():
    P = distribution("and")
    one = ipm.solve_ipm(jnp.asarray(P), jnp.asarray(1e-6 * np.log(2)), 200)
    batch = _solve_batch_traced(P[None])
    np.testing.assert_array_equal(np.asarray(one.q), np.asarray(batch.q[0]))
    assert int(one.iterations) == int(batch.iterations[0])


def test_narrowed_batch_gives_each_member_its_own_answer():
    # 72 tables: once at most 9 are still running, they go on in a batch of 9, and the
    # members the central path cannot finish go to Newton in groups of 9 (12 of them: two
    # groups). Every member must agree with its lone answer within the two bounds (plans of
    # degenerate members may differ far more than the values: rounding differences between
    # batch shapes move them along nearly flat directions). A member whose central path runs
    # straight (at most 15 steps alone) must take exactly the steps it takes alone; on the few
    # whose barrier gap rises and falls before they finish or are handed over, rounding can
    # decide on which step that happens.
    rng = np.random.default_rng(3)
    easy = rng.dirichlet(np.ones(75), size=50).reshape(50, 5, 5, 3)
    hard = rng.dirichlet(np.full(75, 0.1), size=10).reshape(10, 5, 5, 3)
    runaway = np.broadcast_to(np.array(DUAL_RUNAWAY[:1]), (12, 2, 2, 2))
    runaway = np.pad(runaway, ((0, 0), (0, 3), (0, 3), (0, 1)))  # same tables, in unused states
    P = np.concatenate([easy, hard, runaway])
    tol = jnp.asarray(1e-6 * np.log(2))
    batch = _solve_batch_traced(P)
    alone = jax.jit(jax.vmap(lambda p: ipm.solve_ipm(p, tol, 200)))(jnp.asarray(P))
    its = np.asarray(batch.iterations)
    assert its[:60].max() > np.median(its[:60]) + 5  # stragglers: the narrowing did happen
    assert np.all(np.asarray(batch.gap) <= float(tol))
    straight = np.asarray(alone.iterations)[:60] <= 15
    assert straight.sum() >= 50
    np.testing.assert_array_equal(its[:60][straight], np.asarray(alone.iterations)[:60][straight])
    np.testing.assert_allclose(np.asarray(batch.objective), np.asarray(alone.objective), rtol=0,
                               atol=float(np.max(np.asarray(batch.gap) + np.asarray(alone.gap))))


def test_sparse_tables_finish_on_the_central_path_without_a_crawl():
    # Dirichlet(0.1) 5x5x3 tables have masses from ~1e-20 to ~0.3. Without the unit-diagonal
    # scaling of the Newton system (newton.schur_factor) its rounding drifted the steps off the
    # marginals, the certified gap stalled above tol while the barrier gap kept falling, and
    # 3 of these 400 tables went to Newton + IPFP (up to 514 steps).
    sol = _solve_batch_traced(workload("sparse5", 400)[1])
    assert np.all(np.asarray(sol.gap) <= 1e-6 * np.log(2))
    assert int(np.max(np.asarray(sol.iterations))) <= 40


def test_every_hand_over_group_keeps_the_results_of_the_groups_before_it():
    # 20 members the central path cannot finish, first in a batch of 72: they go to Newton in
    # three groups of 9 (the smallest level), the last one filled up with members that are
    # not pending. Those fillers (members 0-6, handed over by the first group) must keep what
    # Newton gave them, not get their stalled central-path result back.
    rng = np.random.default_rng(5)
    runaway = np.broadcast_to(np.array(DUAL_RUNAWAY[:1]), (20, 2, 2, 2))
    runaway = np.pad(runaway, ((0, 0), (0, 3), (0, 3), (0, 1)))
    easy = rng.dirichlet(np.ones(75), size=52).reshape(52, 5, 5, 3)
    sol = _solve_batch_traced(np.concatenate([runaway, easy]))
    assert np.all(np.asarray(sol.gap) <= 1e-6 * np.log(2))
    assert np.all(np.asarray(sol.iterations)[:20] > 20)  # all 20 were handed over


@pytest.mark.parametrize("solver", ["ipm", "newton"])
def test_cache_sized_blocks_change_no_answer(monkeypatch, solver):
    # On CPU a step runs in blocks of placement.cache_block tables (pidjax.narrowing.blockwise).
    # Blocks of 8 (40 tables: 5 blocks, and a 5-member level after narrowing) against none:
    # every member converges to the same answer within its bounds, in about the same steps.
    module = {"ipm": ipm, "newton": newton}[solver]
    solve = {"ipm": ipm.solve_ipm_batch, "newton": newton.solve_newton_batch}[solver]
    _, P = workload("dense5", 40)
    tol = 1e-6 * np.log(2)
    asked = []

    def blocks_of_8(shape, dtype):
        asked.append(tuple(shape))
        return 8

    monkeypatch.setattr(module, "cache_block", lambda shape, dtype: None)
    whole = solve(jnp.asarray(P), tol, 500)
    monkeypatch.setattr(module, "cache_block", blocks_of_8)
    blocked = solve(jnp.asarray(P), tol, 500)
    assert asked == [(5, 5, 3)]
    assert bool(jnp.all(whole.gap <= tol)) and bool(jnp.all(blocked.gap <= tol))
    diff = np.abs(np.asarray(blocked.q) - np.asarray(whole.q)).max(axis=(1, 2, 3))
    assert np.all(diff <= 1e-5), diff.max()
    assert np.all(np.abs(np.asarray(blocked.iterations) - np.asarray(whole.iterations)) <= 2)
