"""Embedding and table files: the naming convention, three layouts, memory mapping, clear errors."""

import json
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest

from pidjax.io import (
    InputError,
    label_codes,
    layer_embeddings,
    load_embeddings,
    load_tables,
    read_labels,
    save_embeddings,
    select_modalities,
    write_safetensors,
)


def _layers(n=40, n_layers=3, tokens=5, seed=0):
    rng = np.random.default_rng(seed)
    return {
        str(i): {"text": rng.normal(size=(n, tokens, 6)).astype(np.float32), "image": rng.normal(size=(n, 4)).astype(np.float32)}
        for i in range(n_layers)
    }


@pytest.mark.parametrize("target", ["emb.npz", "emb.safetensors", "folder_npz", "folder_safetensors"])
def test_saved_embeddings_load_back_pooled_with_mask(tmp_path, target):
    layers = _layers()
    rng = np.random.default_rng(1)
    mask = (rng.random((40, 5)) < 0.7).astype(np.int8)
    mask[:, 0] = 1
    labels = rng.integers(0, 3, 40)
    fmt = "safetensors" if target.endswith("safetensors") else "npz"
    save_embeddings(tmp_path / target, layers, masks={"text": mask}, labels=labels, predictions=labels[::-1].copy(), file_format=fmt)
    emb = load_embeddings(tmp_path / target)
    assert list(emb.layers) == ["0", "1", "2"]
    assert emb.modalities == ("text", "image") and emb.n_samples == 40
    assert set(emb.label_sets) == {"labels", "predictions"}
    assert isinstance(emb.layers["1"]["image"], np.memmap)
    e1, e2 = layer_embeddings(emb, "1", ("text", "image"))
    expect = (layers["1"]["text"] * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
    np.testing.assert_allclose(e1, expect, rtol=1e-5)
    np.testing.assert_array_equal(e2, layers["1"]["image"])
    np.testing.assert_array_equal(np.asarray(emb.label_sets["labels"]), labels)


def test_safetensors_interoperates_with_the_safetensors_library(tmp_path):
    from safetensors.numpy import load_file, save_file

    arrays = {"layer.a.text": np.arange(12, dtype=np.float32).reshape(3, 4), "layer.a.audio": np.ones((3, 2), np.float16),
              "labels": np.array([0, 1, 1], np.int64)}
    save_file(arrays, str(tmp_path / "lib.safetensors"))
    emb = load_embeddings(tmp_path / "lib.safetensors")
    np.testing.assert_array_equal(np.asarray(emb.layers["a"]["text"]), arrays["layer.a.text"])
    write_safetensors(tmp_path / "ours.safetensors", arrays, metadata={"model": "x"})
    back = load_file(str(tmp_path / "ours.safetensors"))
    for k, v in arrays.items():
        np.testing.assert_array_equal(back[k], v)


def test_bfloat16_safetensors_and_compressed_npz_load(tmp_path):
    import ml_dtypes

    x = np.linspace(-1, 1, 8, dtype=np.float32).reshape(4, 2)
    write_safetensors(tmp_path / "b.safetensors", {"layer.0.t": x.astype(ml_dtypes.bfloat16), "layer.0.v": x})
    e1, e2 = layer_embeddings(load_embeddings(tmp_path / "b.safetensors"), "0")
    np.testing.assert_allclose(e1, x, atol=1e-2)
    np.savez_compressed(tmp_path / "c.npz", **{"layer.0.t": x, "layer.0.v": x, "labels": np.array(["a", "b", "a", "b"])})
    emb = load_embeddings(tmp_path / "c.npz")
    codes, classes = label_codes(emb.label_sets["labels"])
    assert codes.tolist() == [0, 1, 0, 1] and classes.tolist() == ["a", "b"]
    np.testing.assert_array_equal(layer_embeddings(emb, "0")[0], x)


def test_layer_names_sort_naturally_and_may_hold_dots(tmp_path):
    arrays = {f"layer.enc.{i}.{m}": np.zeros((2, 1)) for i in (10, 2, 1) for m in ("a", "b")}
    np.savez(tmp_path / "e.npz", **arrays)
    assert list(load_embeddings(tmp_path / "e.npz").layers) == ["enc.1", "enc.2", "enc.10"]


def test_folder_with_bare_modality_keys_in_layer_files(tmp_path):
    for i in range(2):
        np.savez(tmp_path / f"layer.{i}.npz", text=np.full((3, 2), i), image=np.ones((3, 2)))
    np.save(tmp_path / "labels.npy", np.array([0, 1, 0]))
    emb = load_embeddings(tmp_path)
    assert list(emb.layers) == ["0", "1"] and "labels" in emb.label_sets
    assert float(layer_embeddings(emb, "1")[0][0, 0]) == 1.0


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"layer.0.a": np.zeros((5, 2)), "layer.0.b": np.zeros((4, 2))}, "same N"),
        ({"layer.0.a": np.zeros((5, 2)), "layer.0.b": np.zeros((5, 2)), "layer.1.a": np.zeros((5, 2))}, "lacks modality 'b'"),
        ({"layer.0.a": np.zeros((5, 2)), "layer.0.b": np.zeros((5, 2)), "labels": np.zeros(4)}, "N=5"),
        ({"layer.0.a": np.zeros((5, 2, 3)), "layer.0.b": np.zeros((5, 2)), "mask.a": np.ones((5, 3))}, "mask.a"),
        ({"layer.0.a": np.zeros((5,)), "layer.0.b": np.zeros((5, 2))}, r"expected \(N, D\)"),
        ({"weights": np.zeros((5, 2))}, "holds no embeddings"),
    ],
)
def test_inconsistent_embeddings_raise_one_line_input_errors(tmp_path, arrays, message):
    with pytest.warns(UserWarning) if "weights" in arrays else _nothing():
        np.savez(tmp_path / "bad.npz", **arrays)
        with pytest.raises(InputError, match=message) as info:
            load_embeddings(tmp_path / "bad.npz")
    assert "\n" not in str(info.value)


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_missing_and_corrupt_files_raise_input_errors(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        load_embeddings(tmp_path / "nope.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip at all")
    with pytest.raises(InputError, match="not a readable .npz"):
        load_embeddings(tmp_path / "junk.npz")
    (tmp_path / "junk.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}      ")
    with pytest.raises(InputError, match="not a readable .safetensors"):
        load_embeddings(tmp_path / "junk.safetensors")
    good = {"layer.0.a": np.zeros((400, 8)), "layer.0.b": np.zeros((400, 8))}
    write_safetensors(tmp_path / "cut.safetensors", good)
    data = (tmp_path / "cut.safetensors").read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="does not fit"):
        load_embeddings(tmp_path / "cut.safetensors")
    np.savez(tmp_path / "t.npz", **good)
    data = (tmp_path / "t.npz").read_bytes()
    (tmp_path / "t.npz").write_bytes(data[: len(data) // 3])
    with pytest.raises(InputError):
        load_embeddings(tmp_path / "t.npz")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="holds no"):
        load_embeddings(tmp_path / "empty")
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(InputError, match="unsupported file type"):
        load_embeddings(tmp_path / "x.txt")


def test_pickled_npz_members_are_refused(tmp_path):
    with zipfile.ZipFile(tmp_path / "p.npz", "w") as zf:
        with zf.open("layer.0.a.npy", "w") as f:
            np.lib.format.write_array(f, np.array([{"x": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(InputError, match="pickled"):
        load_embeddings(tmp_path / "p.npz")


def test_select_modalities_names_the_unknown_one(tmp_path):
    np.savez(tmp_path / "e.npz", **{f"layer.0.{m}": np.zeros((3, 1)) for m in ("text", "image", "audio")})
    emb = load_embeddings(tmp_path / "e.npz")
    with pytest.raises(InputError, match="choose two"):
        select_modalities(emb)
    with pytest.raises(InputError, match="unknown modality 'video'"):
        select_modalities(emb, "text,video")
    assert select_modalities(emb, "audio,text") == ("audio", "text")


def test_read_labels_from_text_csv_and_npy(tmp_path):
    (tmp_path / "y.txt").write_text("cat\ndog\ncat\n")
    assert read_labels(tmp_path / "y.txt")["y"].tolist() == ["cat", "dog", "cat"]
    (tmp_path / "y.csv").write_text("truth,pred\n0,1\n1,1\n2,0\n")
    got = read_labels(tmp_path / "y.csv")
    assert got["truth"].tolist() == [0, 1, 2] and got["pred"].tolist() == [1, 1, 0]
    np.save(tmp_path / "z.npy", np.array([1.0, 2.0]))
    assert read_labels(tmp_path / "z.npy")["z"].tolist() == [1.0, 2.0]


def test_tables_from_npz_json_and_long_csv_agree(tmp_path):
    from pidjax.canonical import distribution

    P = distribution("and")
    np.savez(tmp_path / "t.npz", a=P, batch=np.stack([P, P]))
    (tmp_path / "t.json").write_text(json.dumps({"a": P.tolist()}))
    lines = ["table,x1,x2,y,p"] + [f"a,{i},{j},{k},{float(P[i, j, k])!r}" for i, j, k in np.ndindex(P.shape) if P[i, j, k] > 0]
    (tmp_path / "t.csv").write_text("\n".join(lines) + "\n")
    for name in ("t.npz", "t.json", "t.csv"):
        np.testing.assert_array_equal(load_tables(tmp_path / name)["a"], P)
    assert load_tables(tmp_path / "t.npz")["batch"].shape == (2, 2, 2, 2)
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match="x1, x2, y and p"):
        load_tables(tmp_path / "bad.csv")
    np.save(tmp_path / "flat.npy", np.ones(4))
    with pytest.raises(InputError, match=r"\(\.\.\., m, n, k\)"):
        load_tables(tmp_path / "flat.npy")


def test_files_larger_than_the_memory_limit_load_layer_by_layer(tmp_path):
    """A 256 MB file is swept in a process whose heap is capped at 128 MB above its start."""
    n, d, n_layers = 16384, 512, 4  # 32 MiB per array, 8 arrays
    sums = {}
    with open(tmp_path / "big.safetensors", "wb"):
        pass
    arrays = {}
    for i in range(n_layers):
        for j, m in enumerate(("a", "b")):
            arr = np.full((n, d), i + 0.5 * j, np.float32)
            arr[:, 0] = np.arange(n) % 7
            arrays[f"layer.{i}.{m}"] = arr
            sums[f"{i}.{m}"] = float(arr.astype(np.float64).sum())
    write_safetensors(tmp_path / "big.safetensors", arrays)
    del arrays
    script = textwrap.dedent(
        f"""
        import json, resource, sys
        import numpy as np
        from pidjax.io import layer_embeddings, load_embeddings
        status = open('/proc/self/status').read()
        used = int(status.split('VmData:')[1].split()[0]) * 1024
        resource.setrlimit(resource.RLIMIT_DATA, (used + (128 << 20), resource.RLIM_INFINITY))
        emb = load_embeddings({str(tmp_path / 'big.safetensors')!r})
        sums = {{}}
        for layer in emb.layers:
            e1, e2 = layer_embeddings(emb, layer, ('a', 'b'))
            sums[layer + '.a'] = float(e1.astype(np.float64).sum())
            sums[layer + '.b'] = float(e2.astype(np.float64).sum())
            del e1, e2
        try:
            everything = np.concatenate([np.array(emb.layers[l][m]) for l in emb.layers for m in ('a', 'b')])
            sums['control'] = 'loaded'
        except MemoryError:
            sums['control'] = 'MemoryError'
        print(json.dumps(sums))
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got.pop("control") == "MemoryError"  # the file does not fit under the cap
    assert got == pytest.approx(sums)


def test_folder_of_npy_files_as_written_by_the_streaming_recipe(tmp_path):
    from numpy.lib.format import open_memmap

    rng = np.random.default_rng(0)
    for i in range(2):
        for m in ("text", "image"):
            f = open_memmap(tmp_path / f"layer.{i:02d}.{m}.npy", mode="w+", dtype=np.float32, shape=(10, 3))
            f[:] = rng.normal(size=(10, 3))
            f.flush()
            del f
    np.save(tmp_path / "labels.npy", np.arange(10) % 2)
    emb = load_embeddings(tmp_path)
    assert list(emb.layers) == ["00", "01"] and emb.modalities == ("image", "text")
    assert emb.label_sets["labels"].shape == (10,)
