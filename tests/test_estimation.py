"""Bias correction, permutation p-values, intervals and the state-count rule (pidjax.analysis.estimation)."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pidjax.analysis import BIAS_CORRECTIONS, corrected_interval, derive_atoms, layer_sweep, sweep_codes
from pidjax.analysis.estimation import plan_rows, quarter_assignment
from pidjax.analysis.states import candidate_counts, cv_information
from pidjax.synthetic import make_continuous

TERMS = ("redundancy", "unique_1", "unique_2", "synergy")
finite = st.floats(-5, 5, allow_nan=False)


@given(finite, finite, finite, finite)
def test_derived_atoms_keep_the_three_identities(i1, i2, i12, s):
    a = derive_atoms(i1, i2, i12, s)
    assert a["redundancy"] + a["unique_1"] == pytest.approx(i1, abs=1e-12)
    assert a["redundancy"] + a["unique_2"] == pytest.approx(i2, abs=1e-12)
    assert sum(a[t] for t in TERMS) == pytest.approx(i12, abs=1e-12)


@settings(max_examples=6)
@given(st.sampled_from(BIAS_CORRECTIONS), st.integers(0, 10_000))
def test_every_correction_keeps_the_identities_of_the_table(bias, seed):
    rng = np.random.default_rng(seed)
    c1, c2 = rng.integers(0, 3, (2, 200))
    y = (c1 + rng.integers(0, 2, 200)) % 3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = sweep_codes(c1, c2, y, bias=bias, n_permutations=8, n_splits=2, n_bootstrap=4, seed=seed)
    np.testing.assert_allclose(t["redundancy"] + t["unique_1"], t["mutual_info_1"], atol=1e-12)
    np.testing.assert_allclose(t["redundancy"] + t["unique_2"], t["mutual_info_2"], atol=1e-12)
    np.testing.assert_allclose(sum(t[x] for x in TERMS), t["mutual_info_joint"], atol=1e-12)
    for term in TERMS:  # intervals contain their estimate
        assert (t[f"{term}_lo"] <= t[term] + 1e-12).all() and (t[term] <= t[f"{term}_hi"] + 1e-12).all()
        assert (t[f"{term}_hi"] <= np.maximum(t["label_entropy"], t[term]) + 1e-12).all()


@pytest.mark.parametrize("bias", ["shuffle", "shuffle-extrapolation"])
def test_shuffle_corrections_of_label_independent_tables_average_to_zero(bias):
    rng = np.random.default_rng(0)
    seeds = 8
    c1, c2 = rng.integers(0, 4, (2, seeds, 300))  # 8 independent "layers"
    y = rng.integers(0, 3, 300)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = sweep_codes(c1, c2, y, bias=bias, n_permutations=20, n_splits=4)
        raw = sweep_codes(c1, c2, y, bias="none", n_permutations=0)
    assert raw["synergy"].mean() > 0.03  # the plug-in bias the correction has to remove
    for term in (*TERMS, "mutual_info_joint"):
        # mean over 8 tables; its standard error is about 0.007 bits here
        assert abs(t[term].mean()) < 0.025, (term, t[term].mean())


def test_xor_is_significant_and_its_correction_keeps_a_bit():
    rng = np.random.default_rng(1)
    x1, x2 = rng.integers(0, 2, (2, 800))
    t = sweep_codes(x1, x2, x1 ^ x2, n_permutations=19)
    assert t["synergy"][0] == pytest.approx(1.0, abs=0.02)
    assert t["synergy_p"][0] == pytest.approx(1 / 20)
    assert abs(t["redundancy"][0]) < 0.02 and abs(t["unique_1"][0]) < 0.02


def test_shuffle_without_permutations_and_unknown_settings_are_errors_naming_the_argument():
    c = np.arange(40) % 2
    with pytest.raises(ValueError, match="n_permutations >= 1"):
        sweep_codes(c, c, c, n_permutations=0)
    with pytest.raises(ValueError, match="bias must be one of"):
        sweep_codes(c, c, c, bias="jackknife")
    with pytest.raises(ValueError, match="interval_method"):
        sweep_codes(c, c, c, interval_method="bca")
    with pytest.raises(ValueError, match="N >= 8"):
        sweep_codes(c[:6], c[:6], c[:6], bias="extrapolation", n_permutations=0)


def test_rare_classes_in_the_subsamples_are_reported():
    rng = np.random.default_rng(2)
    y = np.r_[np.zeros(60, int), np.ones(60, int), [2, 2]]
    c = rng.integers(0, 2, (2, y.size))
    with pytest.warns(UserWarning, match="fewer than 4 examples"):
        sweep_codes(c[0], c[1], y, bias="extrapolation", n_permutations=0)


def test_negative_corrections_are_reported_not_clipped():
    rng = np.random.default_rng(3)
    c1, c2, y = rng.integers(0, 5, (3, 150))
    with pytest.warns(UserWarning, match="below 0"):
        t = sweep_codes(c1, c2, y, n_permutations=20, n_bootstrap=10)
    negative = [term for term in TERMS if t[term][0] < 0]
    assert negative
    for term in negative:
        assert t[f"{term}_lo"][0] == pytest.approx(t[term][0])  # the interval starts at the estimate


def test_quarters_are_stratified_balanced_and_do_not_depend_on_class_names():
    y = np.repeat([0, 1, 2], [41, 30, 9])
    q = quarter_assignment(y, 3, seed=5)
    for split in q:
        for c in range(3):
            counts = np.bincount(split[y == c], minlength=4)
            assert counts.max() - counts.min() <= 1
    np.testing.assert_array_equal(q, quarter_assignment(2 - y, 3, seed=5))


def test_plan_keeps_permutations_inside_the_base_weights():
    y = np.array([[0, 1, 1, 0, 5, 5, 0, 1, 1, 0]])
    base = np.array([[1, 1, 1, 1, 0, 0, 1, 1, 1, 1]])
    plan, _ = plan_rows(y, n_bootstrap=3, n_permutations=4, bias="shuffle-extrapolation", n_splits=1,
                        base_weights=base)
    assert (plan.labels[0][:, [4, 5]] == 5).all()  # the padding keeps its label and no weight
    assert (plan.weights[0][:, [4, 5]] == 0).all()
    assert (np.sort(plan.labels[0][plan.perm][:, base[0] > 0], 1) == np.sort(y[0][base[0] > 0])).all()


def test_interval_kinds_contain_the_estimate_and_stay_feasible():
    est = np.array([0.2, -0.05, 0.9])
    reps = np.array([np.linspace(0.3, 0.6, 50), np.linspace(-0.1, 0.2, 50), np.linspace(0.8, 1.4, 50)])
    for method in ("centered", "percentile", "basic"):
        lo, hi = corrected_interval(est, reps, upper=1.0, method=method)
        assert (lo <= est).all() and (est <= hi).all()
        assert (hi <= np.maximum(1.0, est)).all() and (lo >= np.minimum(0.0, est)).all()


def test_cv_information_finds_xor_and_nothing_in_noise():
    rng = np.random.default_rng(4)
    a, b = rng.integers(0, 2, (2, 3000))
    assert cv_information(a, b, a ^ b) == pytest.approx(1.0, abs=0.02)
    noise = cv_information(rng.integers(0, 8, 3000), rng.integers(0, 8, 3000), rng.integers(0, 4, 3000))
    assert -0.1 < noise < 0.01
    assert candidate_counts(50) == [2, 3, 4] and candidate_counts(450, n_labels=10) == [2, 3, 4, 6]


def test_auto_states_recover_a_continuous_xor_among_low_variance_nuisance():
    d = make_continuous("xor", 3000, dim_nuisance=6, nuisance_scale=0.5, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = layer_sweep({"l": (d.embeddings_1, d.embeddings_2)}, d.labels, n_permutations=20,
                        check_discretization=False)
        std = layer_sweep({"l": (d.embeddings_1, d.embeddings_2)}, d.labels, n_states=2, scaling="standardize",
                          n_permutations=20, check_discretization=False)
    assert t["synergy"][0] > 0.8 and t["synergy_p"][0] < 0.05
    assert t.meta["auto_states"]["chosen"]["l"] == [2, 2]
    assert std["synergy"][0] < 0.3  # standardising gives the nuisance the signal's weight


def test_discretization_check_names_the_layer_where_states_lose_what_a_probe_decodes():
    # the label is a threshold of a low-variance direction; high-variance nuisance dominates the clusters
    d = make_continuous("unique_1", 1500, dim_nuisance=4, nuisance_scale=3.0, seed=2)
    with pytest.warns(UserWarning, match=r"layer\(s\) hidden lose label information"):
        t = layer_sweep({"hidden": (d.embeddings_1, d.embeddings_2)}, d.labels, n_states=2, n_permutations=10)
    assert t["states_lose_information"][0]
    assert t["probe_info_1"][0] > 0.5 > t["mutual_info_1"][0]


def test_a_redundant_signal_that_one_modalitys_states_miss_is_flagged_not_read_as_unique():
    # both modalities hold the same 4-class latent, but modality 1's nuisance dominates its clusters:
    # its states carry ~0 bits, so the PID reads the shared information as unique to modality 2
    d = make_continuous("redundant", 1500, n_classes=4, dim_nuisance=4, nuisance_scale=0.5, seed=3)
    e1 = d.embeddings_1.copy()
    e1[:, 1:] *= 8.0
    with pytest.warns(UserWarning, match=r"layer\(s\) tower lose label information"):
        t = layer_sweep({"tower": (e1, d.embeddings_2)}, d.labels, n_states=4, n_permutations=10)
    assert t["unique_2"][0] > 1.0 > t["redundancy"][0]  # what the states alone say
    assert t["states_lose_information"][0]
    assert t["probe_info_1"][0] > 1.0 > t["mutual_info_1"][0]
