"""Embedding files from any framework: the naming convention, lazy loading and writing.

The convention (see docs/file-format.md) is a flat set of named arrays, ``N`` = examples:

=========================  =====================  ============================================
key                        shape                  meaning
=========================  =====================  ============================================
``layer.<layer>.<mod>``    ``(N, D)``/``(N,T,D)`` embedding of modality ``<mod>`` at ``<layer>``
``mask.<mod>``             ``(N, T)``             token mask (non-zero = real token) for pooling
``labels``                 ``(N,)``               the task label (any integer or string codes)
``labels.<name>``          ``(N,)``               further label sets
``predictions``            ``(N,)``               the model's predicted label
=========================  =====================  ============================================

``<layer>`` may contain dots (``layer.encoder.3.text`` is layer ``encoder.3``); ``<mod>`` may
not. Token-level arrays ``(N, T, D)`` are mean-pooled over the tokens the mask keeps (all
tokens when there is no mask). The same keys can live in one ``.npz`` or ``.safetensors`` file
or be spread over a folder of such files; in a file named ``layer.<layer>.npz`` (or
``.safetensors``) a bare key ``<mod>`` stands for ``layer.<layer>.<mod>``.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np

from pidjax.io._formats import InputError, open_arrays, write_safetensors

SUFFIXES = (".npz", ".safetensors", ".npy")
LABEL_KEYS = ("labels", "predictions")


class Embeddings(NamedTuple):
    """Lazily opened embeddings: arrays are memory maps until a layer is asked for.

    Fields:
      layers: ``{layer: {modality: array}}`` in natural layer order; arrays ``(N, D)`` or
        ``(N, T, D)``, not yet read.
      masks: ``{modality: array (N, T)}`` token masks.
      label_sets: ``{name: array (N,)}``: ``labels``, ``labels.<name>`` as ``<name>``,
        ``predictions``.
      n_samples: ``N``.
      modalities: modality names in the order first seen.
      sources: the files read.
    """

    layers: dict
    masks: dict
    label_sets: dict
    n_samples: int
    modalities: tuple
    sources: tuple


def natural_key(name: str):
    """Sort key putting ``layer2`` before ``layer10``."""
    return tuple((0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.split(r"(\d+)", name) if t)


def _files_of(path: Path) -> list[Path]:
    if not path.exists():
        raise InputError(f"no such file or folder: {path}")
    if path.is_file():
        return [path]
    files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES)
    if not files:
        raise InputError(f"folder {path} holds no .npz, .safetensors or .npy files")
    return files


def _keys_of(file: Path) -> dict[str, object]:
    arrays = open_arrays(file)
    stem = file.name[: -len(file.suffix)]
    if file.suffix.lower() != ".npy" and stem.startswith("layer.") and stem.count(".") >= 1:
        layer = stem[len("layer."):]
        arrays = {(k if k.startswith(("layer.", "mask.", "labels", "predictions")) else f"layer.{layer}.{k}"): v
                  for k, v in arrays.items()}
    return arrays


def load_embeddings(path) -> Embeddings:
    """Open an embeddings file or folder, checking names and shapes without reading data.

    Args:
      path: a ``.npz``/``.safetensors`` file or a folder of ``.npz``/``.safetensors``/``.npy``
        files following the naming convention of this module.

    Returns:
      An :class:`Embeddings` whose arrays are read-only memory maps.

    Raises:
      InputError: missing or unreadable files, a key found twice, no ``layer.*`` keys, a layer
        lacking a modality, arrays whose first axis is not ``N``, or masks/labels of the
        wrong shape. The message is one line naming the key and the file.

    Example:
      >>> emb = load_embeddings("embeddings.npz")  # doctest: +SKIP
      >>> list(emb.layers), emb.modalities, emb.n_samples  # doctest: +SKIP
      (['0', '1', '2'], ('text', 'image'), 1000)
    """
    path = Path(path)
    files = _files_of(path)
    keys: dict[str, tuple[object, Path]] = {}
    for file in files:
        for key, arr in _keys_of(file).items():
            if key in keys:
                raise InputError(f"key {key!r} appears in both {keys[key][1]} and {file}")
            keys[key] = (arr, file)

    layers: dict[str, dict[str, object]] = {}
    masks, label_sets, modalities, ignored = {}, {}, [], []
    for key, (arr, _) in keys.items():
        if key.startswith("layer."):
            rest = key[len("layer."):]
            if "." not in rest:
                raise InputError(f"key {key!r} in {keys[key][1]} must be layer.<layer>.<modality>")
            layer, mod = rest.rsplit(".", 1)
            if not layer or not mod:
                raise InputError(f"key {key!r} in {keys[key][1]} must be layer.<layer>.<modality>")
            layers.setdefault(layer, {})[mod] = arr
            if mod not in modalities:
                modalities.append(mod)
        elif key.startswith("mask."):
            masks[key[len("mask."):]] = arr
        elif key == "labels" or key == "predictions":
            label_sets[key] = arr
        elif key.startswith("labels."):
            label_sets[key[len("labels."):]] = arr
        else:
            ignored.append(key)
    if ignored:
        warnings.warn(f"ignoring keys outside the naming convention: {', '.join(sorted(ignored)[:5])}", stacklevel=2)
    if not layers:
        raise InputError(f"{path} holds no embeddings: expected keys layer.<layer>.<modality> (found {_few(keys)})")

    where = {k: str(f) for k, (_, f) in keys.items()}
    first_key = next(k for k in keys if k.startswith("layer."))
    n = int(np.shape(keys[first_key][0])[0]) if np.ndim(keys[first_key][0]) else 0
    for layer, mods in layers.items():
        missing = [m for m in modalities if m not in mods]
        if missing:
            raise InputError(f"layer {layer!r} lacks modality {missing[0]!r} (every layer needs {', '.join(modalities)})")
        for mod, arr in mods.items():
            key = f"layer.{layer}.{mod}"
            shape = tuple(arr.shape)
            if len(shape) not in (2, 3):
                raise InputError(f"{key} in {where[key]} has shape {shape}; expected (N, D) or (N, tokens, D)")
            if shape[0] != n:
                raise InputError(f"{key} in {where[key]} has {shape[0]} rows but {first_key} has {n}: every layer needs the same N examples")
            if not (np.issubdtype(arr.dtype, np.number) or arr.dtype.name == "bfloat16"):
                raise InputError(f"{key} in {where[key]} has non-numeric dtype {arr.dtype}")
    for mod, mask in masks.items():
        key = f"mask.{mod}"
        if mod not in modalities:
            raise InputError(f"{key} in {where[key]} names modality {mod!r}, which no layer has (modalities: {', '.join(modalities)})")
        tokens = {tuple(layers[l][mod].shape[:2]) for l in layers if len(layers[l][mod].shape) == 3}
        if len(mask.shape) != 2 or (tokens and tuple(mask.shape) not in tokens) or mask.shape[0] != n:
            raise InputError(f"{key} in {where[key]} has shape {tuple(mask.shape)}; expected (N, tokens) = {sorted(tokens)[0] if tokens else (n, 'T')}")
    for name, lab in label_sets.items():
        key = name if name in LABEL_KEYS else f"labels.{name}"
        if tuple(lab.shape) != (n,):
            raise InputError(f"{key} in {where[key]} has shape {tuple(lab.shape)} but the embeddings have N={n} examples; expected ({n},)")
    ordered = {k: layers[k] for k in sorted(layers, key=natural_key)}
    return Embeddings(ordered, masks, label_sets, n, tuple(modalities), tuple(files))


def _few(keys) -> str:
    names = list(keys)[:4]
    return ", ".join(names) + (" ..." if len(keys) > 4 else "") if names else "no arrays"


def select_modalities(emb: Embeddings, requested=None) -> tuple[str, str]:
    """The two modalities to decompose, ``(modality 1, modality 2)``.

    Args:
      emb: opened embeddings.
      requested: two names, a ``"a,b"`` string, or ``None`` for the file's two modalities.

    Raises:
      InputError: an unknown name, not exactly two names, or ``None`` with other than two
        modalities in the file.
    """
    if requested is None:
        if len(emb.modalities) != 2:
            raise InputError(f"the embeddings have modalities {', '.join(emb.modalities)}; choose two with --modalities a,b")
        return tuple(emb.modalities)
    names = [s.strip() for s in requested.split(",")] if isinstance(requested, str) else list(requested)
    if len(names) != 2 or names[0] == names[1]:
        raise InputError(f"--modalities needs two different names separated by a comma; got {requested!r}")
    for name in names:
        if name not in emb.modalities:
            raise InputError(f"unknown modality {name!r}; the embeddings have {', '.join(emb.modalities)}")
    return names[0], names[1]


def pool(arr, mask=None, dtype=np.float32, chunk: int = 4096) -> np.ndarray:
    """An ``(N, D)`` array from ``(N, D)`` or token-level ``(N, T, D)`` embeddings.

    Token-level arrays are averaged over the tokens where ``mask`` (``(N, T)``) is non-zero, or
    over all tokens without a mask; rows are read ``chunk`` at a time so a memory-mapped input
    never has to fit in RAM whole.

    Raises:
      InputError: an example whose mask keeps no token.
    """
    n = arr.shape[0]
    if len(arr.shape) == 2:
        return np.asarray(arr, dtype=dtype) if not hasattr(arr, "member") else np.asarray(arr).astype(dtype)
    out = np.empty((n, arr.shape[2]), dtype)
    for start in range(0, n, chunk):
        block = np.asarray(arr[start:start + chunk], dtype=np.float64)
        if mask is None:
            out[start:start + chunk] = block.mean(axis=1)
            continue
        keep = np.asarray(mask[start:start + chunk]) != 0
        counts = keep.sum(axis=1)
        if (counts == 0).any():
            raise InputError(f"the token mask keeps no token for example {start + int(np.argmin(counts))}")
        out[start:start + chunk] = (block * keep[..., None]).sum(axis=1) / counts[:, None]
    return out


def layer_embeddings(emb: Embeddings, layer: str, modalities=None, dtype=np.float32) -> tuple[np.ndarray, np.ndarray]:
    """Read one layer's two modalities into memory, pooled to ``(N, D1)`` and ``(N, D2)``.

    Raises:
      InputError: an unknown layer or modality.

    Example:
      >>> e1, e2 = layer_embeddings(emb, "3", ("text", "image"))  # doctest: +SKIP
    """
    if layer not in emb.layers:
        raise InputError(f"unknown layer {layer!r}; the embeddings have {', '.join(list(emb.layers)[:8])}")
    m1, m2 = select_modalities(emb, modalities)
    mods = emb.layers[layer]
    return pool(mods[m1], emb.masks.get(m1), dtype), pool(mods[m2], emb.masks.get(m2), dtype)


def label_codes(values) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes ``0..k-1`` for any label values, and the values they stand for.

    Returns:
      ``(codes (N,) int32, classes (k,))`` with ``classes[codes] == values``.

    Raises:
      InputError: labels that are not one-dimensional or hold NaN.
    """
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise InputError(f"labels must be one value per example, shape (N,); got shape {arr.shape}")
    if np.issubdtype(arr.dtype, np.floating):
        if not np.isfinite(arr).all():
            raise InputError("labels hold NaN or inf; give a class for every example")
        if np.array_equal(arr, np.round(arr)):
            arr = arr.astype(np.int64)
    classes, codes = np.unique(arr, return_inverse=True)
    return codes.astype(np.int32), classes


def read_labels(path) -> dict[str, np.ndarray]:
    """Label sets from a separate file: ``.npy`` (one set, named by the file), ``.npz`` or
    ``.safetensors`` (one set per key), or ``.txt``/``.csv`` (one label per line; a CSV with a
    header row gives one set per column).

    Raises:
      InputError: a missing or unreadable file.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"no such labels file: {path}")
    suffix = path.suffix.lower()
    if suffix in (".npz", ".safetensors", ".npy"):
        arrays = open_arrays(path)
        out = {}
        for k, v in arrays.items():
            name = k[len("labels."):] if k.startswith("labels.") else k
            out[name] = np.asarray(v)
        return out
    if suffix in (".txt", ".csv", ".tsv"):
        try:
            lines = [ln.strip() for ln in path.read_text().splitlines() if ln.strip()]
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read labels file {path} ({exc})") from None
        if not lines:
            raise InputError(f"labels file {path} is empty")
        sep = "\t" if suffix == ".tsv" else ","
        if suffix == ".txt" or sep not in lines[0] and not _is_header(lines[0], lines[1:2]):
            return {path.stem: _parse_column(lines)}
        header = [h.strip() for h in lines[0].split(sep)]
        rows = [ln.split(sep) for ln in lines[1:]]
        if any(len(r) != len(header) for r in rows):
            raise InputError(f"labels file {path}: every row needs {len(header)} columns")
        return {h: _parse_column([r[i].strip() for r in rows]) for i, h in enumerate(header)}
    raise InputError(f"labels file {path}: unsupported type {suffix}; use .npy, .npz, .safetensors, .txt or .csv")


def _is_header(first: str, rest: list[str]) -> bool:
    return bool(rest) and not _numeric(first) and _numeric(rest[0])


def _numeric(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _parse_column(values: list[str]) -> np.ndarray:
    if all(_numeric(v) for v in values):
        arr = np.array([float(v) for v in values])
        return arr.astype(np.int64) if np.array_equal(arr, np.round(arr)) else arr
    return np.array(values)


def save_embeddings(path, layers: dict, *, masks=None, labels=None, predictions=None, label_sets=None,
                    file_format: str = "npz") -> Path:
    """Write embeddings in the naming convention, as one file or a folder of one file per layer.

    Args:
      path: ``*.npz`` or ``*.safetensors`` for one file; any other path is a folder, written
        as ``layer.<layer>.<file_format>`` files plus ``meta.<file_format>``.
      layers: ``{layer: {modality: array (N, D) or (N, T, D)}}``.
      masks: ``{modality: array (N, T)}``.
      labels, predictions: arrays ``(N,)``.
      label_sets: further ``{name: array (N,)}``, stored as ``labels.<name>``.
      file_format: ``"npz"`` or ``"safetensors"`` for the folder form.

    Returns:
      The path written.

    Raises:
      InputError: a layer or modality name that breaks the convention, or a dtype safetensors
        cannot store.

    Example:
      >>> save_embeddings("emb.npz", {"0": {"text": t0, "image": i0}}, labels=y)  # doctest: +SKIP
    """
    path = Path(path)
    meta: dict[str, np.ndarray] = {}
    for mod, m in (masks or {}).items():
        meta[f"mask.{mod}"] = np.asarray(m)
    if labels is not None:
        meta["labels"] = np.asarray(labels)
    if predictions is not None:
        meta["predictions"] = np.asarray(predictions)
    for name, lab in (label_sets or {}).items():
        meta[f"labels.{name}"] = np.asarray(lab)
    per_layer = {}
    for layer, mods in layers.items():
        layer = str(layer)
        if not layer or layer.startswith(".") or layer.endswith("."):
            raise InputError(f"layer name {layer!r} cannot be empty or start/end with a dot")
        for mod in mods:
            if not mod or "." in mod:
                raise InputError(f"modality name {mod!r} cannot be empty or contain a dot")
        per_layer[layer] = {f"layer.{layer}.{mod}": np.asarray(a) for mod, a in mods.items()}

    def write(target: Path, arrays: dict):
        if target.suffix == ".safetensors":
            write_safetensors(target, arrays)
        else:
            np.savez(target, **arrays)

    suffix = path.suffix.lower()
    if suffix in (".npz", ".safetensors"):
        if path.is_dir():
            raise InputError(f"{path} is a folder; give a file name or a folder path without .npz/.safetensors")
        arrays = {k: v for arrs in per_layer.values() for k, v in arrs.items()}
        arrays.update(meta)
        write(path, arrays)
        return path
    if file_format not in ("npz", "safetensors"):
        raise InputError(f"file_format must be 'npz' or 'safetensors'; got {file_format!r}")
    if path.exists() and not path.is_dir():
        raise InputError(f"{path} is a file; the folder form needs a folder path")
    path.mkdir(parents=True, exist_ok=True)
    for layer, arrays in per_layer.items():
        write(path / f"layer.{layer}.{file_format}", arrays)
    if meta:
        write(path / f"meta.{file_format}", meta)
    return path
