"""Catalogue of bad inputs across the API and the CLI: each gets a clear error or a documented fallback.

Complements tests/test_validation.py (which already covers wrong rank, an empty table axis,
negative / NaN / inf entries, all-zero tables, sums off 1, non-numeric and complex dtypes,
bad settings, out-of-range / negative / non-integer codes, mismatched sample lengths, empty
samples, bad weights and huge given sizes). docs/reliability.md lists every kind and its test.
"""

import json

import jax
import numpy as np
import pytest

from pidjax import decompose, joint_distribution
from pidjax.analysis import sweep_codes
from pidjax.canonical import distribution
from pidjax.cli import main
from pidjax.discretize import discretize
from pidjax.io import InputError, load_embeddings, load_tables, read_labels

TERMS = ("redundancy", "unique_1", "unique_2", "synergy")


def values(res):
    return np.array([np.asarray(getattr(res, t)) for t in TERMS])


def cli(argv, capsys):
    code = main([str(a) for a in argv] + ["-q"])
    out, err = capsys.readouterr()
    return code, out, err


# --------------------------------------------------------------------------- decompose


def test_nan_in_a_nested_batch_names_both_batch_indices():
    P = np.stack([np.stack([distribution("and")] * 3)] * 2)
    P[1, 2, 0, 1, 1] = np.nan
    with pytest.raises(ValueError, match=r"P\[1, 2\] has a non-finite entry nan at cell \(0, 1, 1\)"):
        decompose(P)


def test_empty_batch_axis_is_rejected():
    with pytest.raises(ValueError, match=r"empty axis: shape \(0, 2, 2, 2\)"):
        decompose(np.zeros((0, 2, 2, 2)))


def test_negative_zero_is_an_ordinary_zero():
    P = distribution("xor").copy()
    P[P == 0] = -0.0
    assert np.array_equal(values(decompose(P)), values(decompose(distribution("xor"))))


def test_float32_sum_rounding_is_accepted_but_a_real_misfit_is_not():
    P = (distribution("and") * (1 + 3e-7)).astype(np.float32)
    decompose(P)  # within the 1e-6 sum tolerance
    with pytest.raises(ValueError, match="sums to 1.001"):
        decompose((distribution("and") * 1.001).astype(np.float32))


def test_all_zero_table_cannot_be_normalised():
    with pytest.raises(ValueError, match="all zeros"):
        decompose(np.zeros((2, 2, 2)), normalize=True)


def test_integer_counts_are_accepted_with_normalize():
    counts = np.array([[[3, 0], [0, 3]], [[0, 3], [3, 0]]])  # XOR counts
    with pytest.raises(ValueError, match="normalize=True"):
        decompose(counts)
    assert values(decompose(counts, normalize=True))[3] == pytest.approx(1.0, abs=1e-6)


def test_tiny_and_huge_scales_normalise_to_the_same_answer():
    ref = values(decompose(distribution("and")))
    for scale in (1e-300, 1e300):
        assert np.allclose(values(decompose(distribution("and") * scale, normalize=True)), ref, atol=1e-9)


def test_overflowing_total_is_rejected_not_decomposed_as_zeros():
    P = distribution("and") * 1.5e308 * 1.5  # every entry finite (5.6e307), the sum is not
    assert np.isfinite(P).all() and not np.isfinite(P.sum())
    with np.errstate(over="ignore"):
        try:
            res = decompose(P, normalize=True)
        except ValueError:
            return
    assert values(res)[0] == pytest.approx(0.311278, abs=1e-5)


def test_float16_input_is_upcast():
    res = decompose(distribution("and").astype(np.float16))
    assert float(res.redundancy) == pytest.approx(0.311278, abs=1e-5)


def test_label_with_no_mass_changes_nothing():
    P = np.concatenate([distribution("and"), np.zeros((2, 2, 3))], axis=-1)
    assert np.allclose(values(decompose(P)), values(decompose(distribution("and"))), atol=2e-6)


@pytest.mark.parametrize("shape", [(1, 3, 2), (3, 1, 2), (2, 2, 1), (1, 1, 1)])
def test_a_modality_or_label_with_one_state_gives_zeros(shape):
    P = np.full(shape, 1.0 / np.prod(shape))
    res = decompose(P)
    assert bool(res.converged) and np.allclose(values(res), 0.0, atol=1e-12)


def test_ragged_nested_list_error_names_the_argument():
    with pytest.raises(ValueError, match="P could not be read as an array"):
        decompose([[[0.5, 0.5]], [[1.0]]])


def test_nan_tolerance_is_rejected():
    with pytest.raises(ValueError, match="tol must be positive; got nan"):
        decompose(distribution("xor"), tol=float("nan"))


def test_nan_table_inside_jit_is_flagged_not_converged():
    P = distribution("xor").copy()
    P[0, 0, 0] = np.nan
    res = jax.jit(lambda p: decompose(p))(P)  # traced: no boundary check, flags instead
    assert not bool(res.converged)


def test_negative_table_inside_jit_is_flagged_not_converged():
    res = jax.jit(lambda p: decompose(p))(-distribution("and"))
    assert not bool(res.converged)


# --------------------------------------------------------------------------- sample codes


def test_sizes_whose_product_overflows_int64_are_a_value_error():
    with pytest.raises(ValueError, match="2\\*\\*31 cells"):
        joint_distribution([0], [0], [0], sizes=(2**21, 2**21, 2**22))


def test_huge_inferred_codes_are_rejected_before_allocating():
    with pytest.raises(ValueError, match="2\\*\\*31 cells"):
        joint_distribution(np.array([0, 2**40]), [0, 1], [0, 1])


def test_uint64_codes_beyond_int64_are_a_value_error():
    with pytest.raises(ValueError):
        joint_distribution(np.array([0, 2**63], np.uint64), [0, 1], [0, 1])


def test_batched_codes_with_mismatched_batch_shapes_are_rejected():
    with pytest.raises(ValueError, match=r"same shape.*\(2, 5\), \(5,\) and \(5,\)"):
        joint_distribution(np.zeros((2, 5), int), np.zeros(5, int), np.zeros(5, int))


def test_sizes_of_the_wrong_length_or_zero_are_rejected():
    with pytest.raises(ValueError, match=r"sizes must be \(m, n, k\)"):
        joint_distribution([0], [0], [0], sizes=(1, 1))
    with pytest.raises(ValueError, match="size given for x1 must be >= 1"):
        joint_distribution([0], [0], [0], sizes=(0, 1, 1))


def test_nan_weight_is_rejected():
    with pytest.raises(ValueError, match="invalid weight nan at sample 1"):
        joint_distribution([0, 1], [0, 1], [0, 1], weights=[1.0, np.nan])


# --------------------------------------------------------------------------- analysis


def test_fewer_samples_than_cells_warns_in_sweep_codes():
    rng = np.random.default_rng(0)
    with pytest.warns(UserWarning, match="biased upwards"):
        table = sweep_codes(rng.integers(0, 8, 20), rng.integers(0, 8, 20), rng.integers(0, 4, 20))
    assert table["converged"].all()


def test_sweep_codes_rejects_float_codes_and_mismatched_shapes():
    with pytest.raises(ValueError, match="codes_1 must be integer states"):
        sweep_codes(np.zeros(4), np.zeros(4, int), [0, 1, 0, 1])
    with pytest.raises(ValueError, match="codes_1 and codes_2 must have the same shape"):
        sweep_codes(np.zeros((2, 4), int), np.zeros((3, 4), int), [0, 1, 0, 1])


def test_inf_embeddings_are_rejected():
    e = np.random.default_rng(0).normal(size=(20, 3))
    e[4, 2] = np.inf
    with pytest.raises(ValueError, match="NaN/inf entries"):
        discretize(e, 2)


def test_nan_labels_are_rejected():
    with pytest.raises(ValueError, match="NaN/inf"):
        sweep_codes(np.array([0, 1, 0, 1]), np.array([1, 0, 0, 1]), np.array([0.0, 1.0, np.nan, 1.0]))


# --------------------------------------------------------------------------- files and CLI


def test_empty_and_truncated_table_files_are_input_errors(tmp_path):
    for name, content in (("empty.npy", b""), ("empty.npz", b""), ("empty.json", b""), ("empty.csv", b""),
                          ("empty.safetensors", b"")):
        (tmp_path / name).write_bytes(content)
        with pytest.raises(InputError):
            load_tables(tmp_path / name)
    np.save(tmp_path / "cut.npy", np.stack([distribution("and")] * 50))
    data = (tmp_path / "cut.npy").read_bytes()
    (tmp_path / "cut.npy").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError):
        load_tables(tmp_path / "cut.npy")


def test_csv_with_only_a_header_holds_no_tables(tmp_path):
    (tmp_path / "h.csv").write_text("x1,x2,y,p\n")
    with pytest.raises(InputError, match="holds no tables"):
        load_tables(tmp_path / "h.csv")


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("nan.csv", "x1,x2,y,p\n0,0,0,nan\n1,1,1,0.5\n", "non-finite"),
        ("zero.csv", "x1,x2,y,p\n0,0,0,0\n1,1,1,0\n", "all zeros"),
        ("ragged.json", json.dumps({"t": [[[0.5, 0.5]], [[1.0]]]}), "not a rectangular array"),
        ("text.csv", "x1,x2,y,p\n0,a,0,1\n", "must be integers"),
        ("empty.npy", "", "npy"),
        ("broken.json", "{\"t\": [[[0.5,", "not readable JSON"),
    ],
)
def test_cli_decompose_bad_files_exit_2_with_one_line(tmp_path, capsys, name, content, message):
    (tmp_path / name).write_text(content)
    code, _, err = cli(["decompose", tmp_path / name], capsys)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert message in lines[0], lines[0]


def test_empty_embeddings_and_labels_files_are_input_errors(tmp_path):
    (tmp_path / "e.safetensors").write_bytes(b"")
    with pytest.raises(InputError):
        load_embeddings(tmp_path / "e.safetensors")
    np.savez(tmp_path / "none.npz")  # a valid archive with nothing in it
    with pytest.raises(InputError, match="holds no embeddings"):
        load_embeddings(tmp_path / "none.npz")
    (tmp_path / "l.txt").write_text("\n\n")
    with pytest.raises(InputError, match="is empty"):
        read_labels(tmp_path / "l.txt")


def test_cli_analyze_single_class_labels_exit_2(tmp_path, capsys):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "emb.npz", **{"layer.0.a": rng.normal(size=(30, 4)), "layer.0.b": rng.normal(size=(30, 4)),
                                      "labels": np.zeros(30, int)})
    code, _, err = cli(["analyze", tmp_path / "emb.npz", "--out", tmp_path / "o"], capsys)
    assert code == 2 and "single class" in err and "Traceback" not in err
