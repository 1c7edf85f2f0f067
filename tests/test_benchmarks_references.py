"""The reference solvers in benchmarks/ reproduce the canonical PID values (bits)."""

import numpy as np
import pytest

from benchmarks.cases import canonical_tables
from benchmarks.references._common import certified_gap_bits, dual_lower_bound, rebalance
from benchmarks.references.cvxpy_broja import solve_cvxpy
from benchmarks.references.dit_broja import from_dit, solve_dit, to_dit
from benchmarks.references.numpy_am import PAPER, solve_am

# PID_MATH.md table: name -> (R, U1, U2, S)
CANONICAL = {
    "xor": (0.0, 0.0, 0.0, 1.0),
    "and": (0.311278124459133, 0.0, 0.0, 0.5),
    "copy": (0.0, 1.0, 1.0, 0.0),
    "rdn": (1.0, 0.0, 0.0, 0.0),
    "unq": (0.0, 1.0, 0.0, 0.0),
    "rdnunqxor": (1.0, 1.0, 1.0, 1.0),
}
TERMS = ("redundancy", "unique_1", "unique_2", "synergy")


def _assert_values(res, expected, atol):
    got = np.array([res[t] for t in TERMS])
    np.testing.assert_allclose(got, expected, atol=atol)


@pytest.mark.parametrize("name", sorted(CANONICAL))
@pytest.mark.parametrize("solver", ["CLARABEL", "ECOS"])
def test_cvxpy_reproduces_canonical_values_with_optimal_status(name, solver):
    res = solve_cvxpy(canonical_tables()[name], solver=solver)
    assert res["status"] == "optimal"
    _assert_values(res, CANONICAL[name], atol=1e-8)
    assert res["marginal_violation"] < 1e-9
    assert res["gap_bits"] < 1e-9


def test_cvxpy_tight_clarabel_is_optimal_and_certified_on_dense_10x10x10():
    P = np.random.default_rng(0).dirichlet(np.ones(1000)).reshape(10, 10, 10)
    res = solve_cvxpy(P, solver="CLARABEL")
    assert res["status"] == "optimal"
    assert res["gap_bits"] < 1e-8


@pytest.mark.parametrize("name", sorted(CANONICAL))
def test_dit_cone_reproduces_canonical_values(name):
    res = solve_dit(canonical_tables()[name], method="cone")
    assert res["status"] == "ok"
    _assert_values(res, CANONICAL[name], atol=1e-7)


def test_dit_default_returns_its_own_answer_and_identities_hold():
    res = solve_dit(canonical_tables()["and"])
    assert res["status"] == "ok"
    assert res["redundancy"] + res["unique_1"] == pytest.approx(res["mi_1"], abs=1e-9)


def test_dit_round_trip_preserves_the_table():
    P = canonical_tables()["sum"]
    np.testing.assert_allclose(from_dit(to_dit(P)), P)


@pytest.mark.parametrize("name", ["xor", "copy", "rdn", "unq"])
def test_numpy_am_paper_settings_exact_on_interior_gates(name):
    _assert_values(solve_am(canonical_tables()[name], **PAPER), CANONICAL[name], atol=1e-9)


def test_numpy_am_paper_settings_stop_short_on_and_with_correct_redundancy_formula():
    res = solve_am(canonical_tables()["and"], **PAPER)
    _assert_values(res, CANONICAL["and"], atol=1e-4)
    # co-information with I(X1,X2;Y), not I(X1;X2): R + U1 + U2 + S = I(X1,X2;Y)
    total = sum(res[t] for t in TERMS)
    assert total == pytest.approx(res["mi_joint"], abs=1e-12)
    assert res["gap_bits"] >= -1e-12


def test_certificate_brackets_the_optimum_on_a_random_table():
    P = np.random.default_rng(3).dirichlet(np.full(48, 0.5)).reshape(4, 3, 4)
    ref = solve_cvxpy(P, solver="ECOS")
    am = solve_am(P, **PAPER)
    Q = rebalance(P, am["q"])
    gap = certified_gap_bits(P, Q, am["a"], am["b"])
    assert gap >= -1e-12
    # the exact optimum lies inside [g, f(Q)] for any candidate pair
    g = dual_lower_bound(P, am["a"], am["b"]) / np.log(2)
    from benchmarks.references._common import cond_neg_entropy

    f_ref = cond_neg_entropy(rebalance(P, ref["q"])) / np.log(2)
    assert g <= f_ref + 1e-10
