"""Layer sweeps recover the analytic PID of synthetic families; schema; bad input."""

import warnings

import numpy as np
import pytest

import pidjax
from pidjax.analysis import layer_sweep, sweep_codes
from pidjax.synthetic import make_synthetic

TERMS = ("redundancy", "unique_1", "unique_2", "synergy")
SLACK = 2e-3  # certified kernel tolerance is 1e-4 bits; the rest covers interval quantile noise


@pytest.mark.parametrize(
    "family, n, states",
    [("redundant", 2000, 2), ("unique_1", 2000, 2), ("unique_2", 2000, 2), ("synergy", 2000, 2), ("mixture", 4000, 8)],
)
def test_pipeline_recovers_truth_within_bootstrap_interval_and_dominant_term(family, n, states):
    data = make_synthetic(family, n, dim_1=64, dim_2=64, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the mixture's 1024 cells for N=4000 warn, by design
        table = layer_sweep(
            {"layer": (data.embeddings_1, data.embeddings_2)}, data.labels, n_states=states,
            n_bootstrap=60, n_permutations=10, tol=1e-4, method="ipfp",
        )
    for term in TERMS:
        lo, hi = table[f"{term}_lo"][0], table[f"{term}_hi"][0]
        assert lo - SLACK <= data.truth[term] <= hi + SLACK, (term, lo, table[term][0], hi)
        assert table[f"{term}_perm_hi"][0] < 0.2
    estimates = np.array([table[t][0] for t in TERMS])
    designed = [t for t in TERMS if data.truth[t] > 0]
    if len(designed) == 1:
        assert TERMS[int(np.argmax(estimates))] == designed[0]
    assert table["n_samples"][0] == n and bool(table["converged"][0])


def test_table_schema_rows_per_layer_and_label_set_and_dataframe():
    data = make_synthetic("synergy", 600, noise=[0.05, 0.4], dim_1=8, dim_2=8)
    emb = {f"L{i}": (data.embeddings_1[i], data.embeddings_2[i]) for i in range(2)}
    table = layer_sweep(emb, {"truth": data.labels, "flipped": 1 - data.labels}, n_states=2, n_bootstrap=5, n_permutations=3)
    expected = {"layer", "label_set", *TERMS, "mutual_info_1", "mutual_info_2", "mutual_info_joint", "bound",
                "converged", "n_samples", "states_1", "states_2", "n_labels", "redundancy_lo", "synergy_hi",
                "unique_1_perm", "unique_2_perm_hi"}
    assert expected <= set(table)
    assert {len(v) for v in table.values()} == {4}
    assert table["layer"].tolist() == ["L0", "L0", "L1", "L1"]
    assert table["label_set"].tolist() == ["truth", "flipped"] * 2
    np.testing.assert_allclose(table["synergy"][0], table["synergy"][1], atol=1e-6)  # relabelling Y changes nothing
    df = table.to_dataframe()
    assert df.shape[0] == 4 and "timings" in table.meta


def test_sweep_is_one_kernel_call_and_matches_direct_decomposition(monkeypatch):
    rng = np.random.default_rng(0)
    c1, c2 = rng.integers(0, 3, (4, 300)), rng.integers(0, 3, (4, 300))
    y = (c1[0] + c2[0]) % 3
    calls = []
    real = pidjax.decompose
    monkeypatch.setattr(pidjax, "decompose", lambda P, **kw: calls.append(P.shape) or real(P, **kw))
    table = sweep_codes(c1, c2, y, n_bootstrap=20, n_permutations=5)
    # the data, 20 resamples, 5 permutations, 8 splits x (6 subsamples + their 6 permutations), 20 x 6 resample subsamples
    assert calls == [(4, 1, 1 + 20 + 5 + 8 * 12 + 20 * 6, 3, 3, 3)]
    direct = real(pidjax.joint_distribution(c1, c2, np.broadcast_to(y, c1.shape), sizes=(3, 3, 3)))
    np.testing.assert_allclose(table["synergy_plugin"], np.asarray(direct.synergy), atol=1e-8)
    raw = sweep_codes(c1, c2, y, n_permutations=0, bias="none")
    np.testing.assert_allclose(raw["synergy"], np.asarray(direct.synergy), atol=1e-8)


def test_bootstrap_is_seeded():
    rng = np.random.default_rng(0)
    c1, c2 = rng.integers(0, 3, 200), rng.integers(0, 3, 200)
    y = rng.integers(0, 2, 200)
    a = sweep_codes(c1, c2, y, n_bootstrap=10, seed=4)
    b = sweep_codes(c1, c2, y, n_bootstrap=10, seed=4)
    np.testing.assert_array_equal(a["synergy_hi"], b["synergy_hi"])


def test_many_cells_for_few_samples_warns():
    rng = np.random.default_rng(0)
    c = rng.integers(0, 10, 300)
    with pytest.warns(UserWarning, match="examples per cell"):
        sweep_codes(c, rng.integers(0, 10, 300), rng.integers(0, 10, 300))


def _emb(n=100, d=4, seed=0):
    return np.random.default_rng(seed).normal(size=(n, d))


@pytest.mark.parametrize(
    "embeddings, labels, match",
    [
        ({"a": (_emb(), _emb(90))}, np.arange(100) % 2, r"embeddings\['a'\]\[1\] has 90 examples"),
        ({"a": (_emb(), _emb()), "b": (_emb(80), _emb(80))}, np.arange(100) % 2, r"embeddings\['b'\]\[0\] has 80"),
        ({"a": (_emb(), _emb())}, np.arange(90) % 2, "labels has 90 entries"),
        ({"a": (_emb(), _emb())}, np.zeros(100), "single class"),
        ({"a": (_emb(), _emb())}, {"pred": np.ones(100)}, r"labels\['pred'\] has a single class"),
        ({"a": (_emb(5), _emb(5))}, np.arange(5) % 2, "at least as many examples as states"),
        ({}, np.arange(100) % 2, "non-empty mapping"),
        ({"a": _emb()}, np.arange(100) % 2, "pair"),
    ],
)
def test_bad_input_raises_naming_the_argument(embeddings, labels, match):
    with pytest.raises(ValueError, match=match):
        layer_sweep(embeddings, labels, n_states=10)


def test_nan_embeddings_raise_naming_layer_and_modality():
    bad = _emb()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match=r"modality 2.*NaN"):
        layer_sweep({"a": (_emb(), bad)}, np.arange(100) % 2, n_states=2)


def test_constant_layer_warns_with_layer_name_and_still_gives_a_table():
    e = _emb()
    with pytest.warns(UserWarning, match=r"\['flat'\]\[0\] is constant"):
        table = layer_sweep({"flat": (np.ones((100, 4)), e)}, (e[:, 0] > 0).astype(int), n_states=2)
    assert table["states_1"][0] == 1 and abs(table["mutual_info_1"][0]) < 1e-9
