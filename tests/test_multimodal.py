"""Three or more modalities: pairwise and one-versus-rest bivariate PID on synthetic truth."""

import numpy as np
import pytest

from pidjax.analysis import multimodal_codes, multimodal_sweep


def xor_codes(n=4000, seed=0):
    """Three independent fair bits a, b, c (all 8 combinations equally often), Y = a xor b."""
    rng = np.random.default_rng(seed)
    combos = np.array([(a, b, c) for a in (0, 1) for b in (0, 1) for c in (0, 1)])
    rows = np.repeat(combos, n // 8, axis=0)[rng.permutation(n)]
    a, b, c = rows.T
    return {"a": a, "b": b, "c": c}, a ^ b


def row(table, mod_1, mod_2, layer="0"):
    sel = (table["modality_1"] == mod_1) & (table["modality_2"] == mod_2) & (table["layer"] == layer)
    assert sel.sum() == 1, (mod_1, mod_2)
    return {k: v[sel][0] for k, v in table.items()}


def test_xor_of_two_modalities_pair_is_synergy_and_the_third_carries_nothing():
    codes, y = xor_codes()
    table = multimodal_codes(codes, y, bias="none", n_permutations=0)
    assert table.meta["tables_decomposed"] == 3 + 3  # one call: 3 pairs and 3 one-vs-rest rows
    ab = row(table, "a", "b")
    assert ab["synergy"] == pytest.approx(1.0, abs=1e-6)
    for t in ("redundancy", "unique_1", "unique_2"):
        assert abs(ab[t]) < 1e-6
    for pair in (("a", "c"), ("b", "c")):
        r = row(table, *pair)
        assert abs(r["mutual_info_joint"]) < 1e-9  # exactly balanced design: no information
    c_rest = row(table, "c", "rest(a,b)")  # the rest holds the whole label, c nothing
    assert c_rest["unique_2"] == pytest.approx(1.0, abs=1e-6)
    assert abs(c_rest["unique_1"]) < 1e-6 and abs(c_rest["redundancy"]) < 1e-6 and abs(c_rest["synergy"]) < 1e-6
    a_rest = row(table, "a", "rest(b,c)")  # a alone says nothing, with b (inside the rest) all
    assert a_rest["synergy"] == pytest.approx(1.0, abs=1e-6)
    assert a_rest["states_2"] == 4 and c_rest["states_2"] == 4
    assert table["converged"].all()
    assert set(table["kind"]) == {"pair", "one_vs_rest"}


def test_rows_equal_direct_bivariate_decompositions():
    import pidjax

    rng = np.random.default_rng(1)
    n = 600
    codes = {m: rng.integers(0, 3, (2, n)) for m in ("x", "y", "z")}
    labels = (codes["x"][0] + rng.integers(0, 2, n)) % 3
    table = multimodal_codes(codes, labels, layers=["l0", "l1"], bias="none", n_permutations=0)
    assert list(table["layer"][:6]) == ["l0"] * 6
    r = row(table, "y", "z", layer="l1")
    P = pidjax.joint_distribution(codes["y"][1], codes["z"][1], labels)
    direct = pidjax.decompose(P)
    for t in ("redundancy", "unique_1", "unique_2", "synergy"):
        assert r[t] == pytest.approx(float(getattr(direct, t)), abs=2e-6)
    rest = row(table, "x", "rest(y,z)", layer="l0")
    joint = codes["y"][0] * 3 + codes["z"][0]
    P = pidjax.joint_distribution(codes["x"][0], joint, labels)
    direct = pidjax.decompose(P)  # uncompacted rest: unused joint states are zeros, same numbers
    for t in ("redundancy", "unique_1", "unique_2", "synergy"):
        assert rest[t] == pytest.approx(float(getattr(direct, t)), abs=2e-6)


def test_four_modalities_give_six_pairs_and_four_rests_and_pairs_only_option():
    rng = np.random.default_rng(2)
    codes = [rng.integers(0, 2, 800) for _ in range(4)]
    y = codes[0] | codes[3]
    table = multimodal_codes(codes, y)
    assert (table["kind"] == "pair").sum() == 6 and (table["kind"] == "one_vs_rest").sum() == 4
    only = multimodal_codes(codes, y, one_vs_rest=False)
    assert set(only["kind"]) == {"pair"} and len(only["kind"]) == 6
    assert "rest(1,2,3)" in set(table["modality_2"])


def test_sparse_rest_warns_about_plug_in_bias():
    rng = np.random.default_rng(3)
    codes = {m: rng.integers(0, 6, 150) for m in "abc"}
    with pytest.warns(UserWarning, match="biased upwards"):
        table = multimodal_codes(codes, rng.integers(0, 3, 150))
    assert table.meta["warnings"]


def test_default_rows_are_bias_corrected_with_plugin_values_and_p_values_kept():
    codes, y = xor_codes(n=400)
    table = multimodal_codes(codes, y, pairs=True, one_vs_rest=False, n_permutations=30)
    raw = multimodal_codes(codes, y, pairs=True, one_vs_rest=False, bias="none", n_permutations=0)
    np.testing.assert_allclose(table["synergy_plugin"], raw["synergy"], atol=1e-12)
    ab, ac = row(table, "a", "b"), row(table, "a", "c")
    assert ab["synergy"] == pytest.approx(1.0, abs=0.05) and ab["synergy_p"] < 0.05
    assert ac["synergy_p"] > 0.05  # a and c carry nothing about a xor b
    for r in (ab, ac):  # the corrected atoms keep the identities
        assert r["redundancy"] + r["unique_1"] == pytest.approx(r["mutual_info_1"], abs=1e-12)
        assert r["redundancy"] + r["unique_1"] + r["unique_2"] + r["synergy"] == pytest.approx(r["mutual_info_joint"], abs=1e-12)


def test_sweep_from_embeddings_recovers_the_xor_structure():
    codes, y = xor_codes(n=800, seed=4)
    rng = np.random.default_rng(4)
    dirs = {m: rng.normal(size=6) for m in codes}
    emb = {
        f"layer{i}": {m: np.outer(2.0 * c - 1.0, dirs[m]) + noise * rng.normal(size=(800, 6)) for m, c in codes.items()}
        for i, noise in enumerate((0.05, 0.1))
    }
    table = multimodal_sweep(emb, y, n_states=2, one_vs_rest=False)
    for layer in ("layer0", "layer1"):
        assert row(table, "a", "b", layer)["synergy"] > 0.95
        assert row(table, "a", "c", layer)["mutual_info_joint"] < 0.02


@pytest.mark.parametrize(
    "codes, labels, match",
    [
        ({"a": [0, 1, 0]}, [0, 1, 0], "at least two modalities"),
        ({"a": [0, 1, 0], "b": [0.0, 1.0, 0.0]}, [0, 1, 0], "integer states"),
        ({"a": [0, 1, 0], "b": [0, -1, 0]}, [0, 1, 0], "negative"),
        ({"a": [0, 1, 0], "b": [0, 1]}, [0, 1, 0], "same"),
        ({"a": [0, 1, 0], "b": [0, 1, 1]}, [0, 1], "labels has 2 entries"),
    ],
)
def test_bad_codes_raise_naming_the_problem(codes, labels, match):
    with pytest.raises(ValueError, match=match):
        multimodal_codes(codes, labels)


def test_nothing_asked_for_raises():
    with pytest.raises(ValueError, match="nothing to compute"):
        multimodal_codes({"a": [0, 1], "b": [1, 0]}, [0, 1], pairs=False, one_vs_rest=False)
