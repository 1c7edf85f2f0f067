"""Embedding files from any framework: the naming convention, lazy loading and writing.

The convention (see docs/file-format.md) is a flat set of named arrays, ``N`` = examples:

============================  =====================  ===========================================
key                           shape                  meaning
============================  =====================  ===========================================
``layer.<layer>.<mod>``       ``(N, D)``/``(N,T,D)`` embedding of modality ``<mod>`` at ``<layer>``
``fused.<layer>``             ``(N, T, D)``          one token array holding every modality that
                                                     has a ``mask.<mod>`` (single-stream models)
``mask.<mod>``                ``(N, T)``             token mask (non-zero = real token) for pooling
``labels``                    ``(N,)``               the task label (any integer or string codes)
``labels.<name>``             ``(N,)``               further label sets
``predictions``               ``(N,)``               the model's predicted label
``ablated.<layer>.<mod>``     ``(N,)``               predictions with ``<mod>``'s tokens at
                                                     ``<layer>`` replaced by their data-set mean
``targets.<name>``            ``(N, T)``/``(N,T,d)`` a per-token target (``pidjax analyze
                                                     --per-sample``): codes or embeddings
============================  =====================  ===========================================

``<layer>`` may contain dots (``layer.encoder.3.text`` is layer ``encoder.3``); ``<mod>`` may
not. Token-level arrays ``(N, T, D)`` are mean-pooled over the tokens the mask keeps (all
tokens when there is no mask). A ``fused.<layer>`` array stands for ``layer.<layer>.<mod>``
of every modality with a mask, each pooled over its own mask; it is stored, opened and read
once, whatever the number of modalities. The same keys can live in one ``.npz`` or
``.safetensors`` file or be spread over a folder of such files (a ``.npy`` file is one array
named by its file name, e.g. ``fused.3.npy``); in a file named ``layer.<layer>.npz`` (or
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
# keys a layer file (``layer.<layer>.npz``) keeps as they are instead of reading them as bare modality names
_FULL_KEYS = ("layer.", "fused.", "mask.", "labels", "predictions", "ablated.", "targets.")


class Embeddings(NamedTuple):
    """Lazily opened embeddings: arrays are memory maps until a layer is asked for.

    Fields:
      layers: ``{layer: {modality: array}}`` in natural layer order; arrays ``(N, D)`` or
        ``(N, T, D)``, not yet read. A ``fused.<layer>`` array appears under every modality
        with a mask, as the SAME object (never a copy per modality).
      masks: ``{modality: array (N, T)}`` token masks.
      label_sets: ``{name: array (N,)}``: ``labels``, ``labels.<name>`` as ``<name>``,
        ``predictions``.
      n_samples: ``N``.
      modalities: modality names in the order first seen.
      sources: the files read.
      ablated: ``{layer: {modality: array (N,)}}``, the model's predictions with that
        modality's tokens at that layer replaced by their data-set mean (``ablated.*`` keys).
      targets: ``{name: array (N, T) or (N, T, d)}``, per-token targets (``targets.*`` keys).
      fused: the layers stored as one ``fused.<layer>`` array, in layer order.
    """

    layers: dict
    masks: dict
    label_sets: dict
    n_samples: int
    modalities: tuple
    sources: tuple
    ablated: dict = {}
    targets: dict = {}
    fused: tuple = ()


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
        arrays = {(k if k.startswith(_FULL_KEYS) else f"layer.{layer}.{k}"): v for k, v in arrays.items()}
    return arrays


def _split_key(key: str, prefix: str, where) -> tuple[str, str]:
    """``(layer, modality)`` of ``<prefix><layer>.<modality>``."""
    rest = key[len(prefix):]
    layer, _, mod = rest.rpartition(".")
    if not layer or not mod:
        raise InputError(f"key {key!r} in {where} must be {prefix}<layer>.<modality>")
    return layer, mod


def load_embeddings(path) -> Embeddings:
    """Open an embeddings file or folder, checking names and shapes without reading data.

    Args:
      path: a ``.npz``/``.safetensors`` file or a folder of ``.npz``/``.safetensors``/``.npy``
        files following the naming convention of this module.

    Returns:
      An :class:`Embeddings` whose arrays are read-only memory maps.

    Raises:
      InputError: missing or unreadable files, a key found twice, no ``layer.*``/``fused.*``
        keys, a layer lacking a modality, arrays whose first axis is not ``N``, masks/labels of
        the wrong shape; for ``fused.<layer>``: no masks, a mask that is not ``(N, T)`` of the
        fused arrays, fused arrays with different ``T``, or a modality given both fused and as
        ``layer.<layer>.<modality>``; ``ablated.*`` arrays that are not ``(N,)`` or name an
        unknown layer or modality; ``targets.*`` that are not ``(N, T)``/``(N, T, d)``. The
        message is one line naming the key and the file.

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
    where = {k: str(f) for k, (_, f) in keys.items()}

    layers: dict[str, dict[str, object]] = {}
    origin: dict[tuple[str, str], str] = {}  # (layer, modality) -> the key it came from
    fused: dict[str, object] = {}
    masks, label_sets, ablated, targets, modalities, ignored = {}, {}, {}, {}, [], []
    for key, (arr, _) in keys.items():
        if key.startswith("layer."):
            layer, mod = _split_key(key, "layer.", where[key])
            layers.setdefault(layer, {})[mod] = arr
            origin[layer, mod] = key
            if mod not in modalities:
                modalities.append(mod)
        elif key.startswith("fused."):
            if key == "fused.":
                raise InputError(f"key {key!r} in {where[key]} must be fused.<layer>")
            fused[key[len("fused."):]] = arr
        elif key.startswith("mask."):
            masks[key[len("mask."):]] = arr
        elif key.startswith("ablated."):
            ablated[_split_key(key, "ablated.", where[key])] = arr
        elif key.startswith("targets.") and len(key) > len("targets."):
            targets[key[len("targets."):]] = arr
        elif key == "labels" or key == "predictions":
            label_sets[key] = arr
        elif key.startswith("labels."):
            label_sets[key[len("labels."):]] = arr
        else:
            ignored.append(key)
    if ignored:
        warnings.warn(f"ignoring keys outside the naming convention: {', '.join(sorted(ignored)[:5])}", stacklevel=2)
    if not layers and not fused:
        raise InputError(f"{path} holds no embeddings: expected keys layer.<layer>.<modality> or fused.<layer> "
                         f"(found {_few(keys)})")
    if fused:
        _add_fused(fused, masks, layers, origin, modalities, where)

    first_key = next(k for k in keys if k.startswith(("layer.", "fused.")))
    n = int(np.shape(keys[first_key][0])[0]) if np.ndim(keys[first_key][0]) else 0
    for layer, mods in layers.items():
        missing = [m for m in modalities if m not in mods]
        if missing:
            raise InputError(f"layer {layer!r} lacks modality {missing[0]!r} (every layer needs {', '.join(modalities)})")
        for mod, arr in mods.items():
            key = origin[layer, mod]
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
    by_layer: dict[str, dict[str, object]] = {}
    for (layer, mod), arr in ablated.items():
        key = f"ablated.{layer}.{mod}"
        if layer not in layers:
            raise InputError(f"{key} in {where[key]} names layer {layer!r}, which the embeddings do not have "
                             f"(layers: {', '.join(list(ordered)[:8])}{' ...' if len(ordered) > 8 else ''})")
        if mod not in modalities:
            raise InputError(f"{key} in {where[key]} names modality {mod!r}, which no layer has (modalities: {', '.join(modalities)})")
        if tuple(arr.shape) != (n,):
            raise InputError(f"{key} in {where[key]} has shape {tuple(arr.shape)}; expected one prediction per example, ({n},)")
        by_layer.setdefault(layer, {})[mod] = arr
    by_layer = {k: by_layer[k] for k in sorted(by_layer, key=natural_key)}
    token_counts = sorted({int(a.shape[1]) for mods in layers.values() for a in mods.values() if len(a.shape) == 3})
    for name, arr in targets.items():
        key = f"targets.{name}"
        shape = tuple(arr.shape)
        if len(shape) not in (2, 3) or shape[0] != n:
            raise InputError(f"{key} in {where[key]} has shape {shape}; expected one target per token, (N={n}, tokens) "
                             "codes or (N, tokens, d) embeddings")
        if shape[1] not in token_counts:
            raise InputError(f"{key} in {where[key]} has {shape[1]} tokens but no token-level array has "
                             f"({'token counts: ' + ', '.join(map(str, token_counts)) if token_counts else 'every array is pooled'})")
    fused_layers = tuple(k for k in ordered if k in fused)
    return Embeddings(ordered, masks, label_sets, n, tuple(modalities), tuple(files), by_layer, targets, fused_layers)


def _add_fused(fused: dict, masks: dict, layers: dict, origin: dict, modalities: list, where: dict):
    """Enter each ``fused.<layer>`` as ``layer.<layer>.<mod>`` of every modality with a mask."""
    first = next(iter(fused))
    ref_key = f"fused.{first}"
    for layer, arr in fused.items():
        key = f"fused.{layer}"
        if len(arr.shape) != 3:
            raise InputError(f"{key} in {where[key]} has shape {tuple(arr.shape)}; expected (N, tokens, D)")
    if not masks:
        raise InputError(f"{ref_key} in {where[ref_key]} holds the tokens of every modality but there is no "
                         "mask.<modality> (N, tokens) to say which tokens belong to which modality")
    n, t = (int(s) for s in fused[first].shape[:2])
    for layer, arr in fused.items():
        key = f"fused.{layer}"
        if int(arr.shape[1]) != t:
            raise InputError(f"{key} in {where[key]} has {arr.shape[1]} tokens but {ref_key} in {where[ref_key]} has {t}: "
                             "the masks are shared by every layer, so every fused array needs the same token count")
    for mod, mask in masks.items():
        key = f"mask.{mod}"
        if tuple(mask.shape) != (n, t):
            raise InputError(f"{key} in {where[key]} has shape {tuple(mask.shape)}; expected (N, tokens) = {(n, t)} "
                             f"of the fused arrays ({ref_key} in {where[ref_key]})")
    for layer, arr in fused.items():
        mods = layers.setdefault(layer, {})
        for mod in masks:
            if mod in mods:
                other = origin[layer, mod]
                raise InputError(f"modality {mod!r} of layer {layer!r} is given twice: in fused.{layer} "
                                 f"({where[f'fused.{layer}']}, by mask.{mod}) and as {other} ({where[other]}); keep one")
            mods[mod] = arr  # the same memory map for every modality
            origin[layer, mod] = f"fused.{layer}"
    for mod in masks:
        if mod not in modalities:
            modalities.append(mod)


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


# --------------------------------------------------------------------------- empty masks, subsets


def _token_masked(emb: Embeddings, modalities) -> list[str]:
    """The modalities among ``modalities`` whose mask is used: they have a mask and token-level arrays."""
    if modalities is None:
        mods = list(emb.modalities)
    else:
        mods = [s.strip() for s in modalities.split(",")] if isinstance(modalities, str) else list(modalities)
    for mod in mods:
        if mod not in emb.modalities:
            raise InputError(f"unknown modality {mod!r}; the embeddings have {', '.join(emb.modalities)}")
    return [m for m in mods if m in emb.masks
            and any(len(layer[m].shape) == 3 for layer in emb.layers.values())]


def empty_masks(emb: Embeddings, modalities=None) -> dict[str, np.ndarray]:
    """The examples whose token mask keeps no token, per mask.

    Args:
      emb: opened embeddings.
      modalities: names (or ``"a,b"``) to look at; ``None`` for every modality.

    Returns:
      ``{"mask.<modality>": sorted example indices (k,) int64}``, only masks with ``k > 0``.
      Masks of modalities stored only pooled ``(N, D)`` are not consulted (nothing pools them).

    Raises:
      InputError: an unknown modality.

    Example:
      >>> empty_masks(emb, ("text", "image"))  # doctest: +SKIP
      {'mask.image': array([ 4, 17])}
    """
    out = {}
    for mod in _token_masked(emb, modalities):
        empty = np.flatnonzero(~(np.asarray(emb.masks[mod]) != 0).any(axis=1))
        if empty.size:
            out[f"mask.{mod}"] = empty.astype(np.int64)
    return out


def nonempty_examples(emb: Embeddings, modalities=None) -> np.ndarray:
    """Which examples every selected modality's mask keeps at least one token of.

    Args:
      emb: opened embeddings.
      modalities: names (or ``"a,b"``) to look at; ``None`` for every modality.

    Returns:
      ``(N,)`` bool, True where pooling every selected modality is defined; all True when the
      modalities have no masks.

    Raises:
      InputError: an unknown modality.

    Example:
      >>> keep = nonempty_examples(emb, ("text", "image"))  # doctest: +SKIP
      >>> emb = subset_examples(emb, keep)  # doctest: +SKIP
    """
    keep = np.ones(emb.n_samples, bool)
    for rows in empty_masks(emb, modalities).values():
        keep[rows] = False
    return keep


class _Rows:
    """Some rows of a (memory-mapped) array, read only when sliced: what :func:`subset_examples` holds."""

    def __init__(self, base, index: np.ndarray):
        self.base, self.index = base, index
        self.shape = (len(index), *tuple(base.shape)[1:])
        self.dtype = np.dtype(base.dtype)
        self.ndim = len(self.shape)

    def __len__(self):
        return self.shape[0]

    def __getitem__(self, item):
        if isinstance(item, tuple):
            head, rest = item[0], item[1:]
            rows = self[head]
            return rows[rest] if np.ndim(self.index[head]) == 0 else rows[(slice(None), *rest)]
        return np.asarray(self.base[self.index[item]])

    def __array__(self, dtype=None, copy=None):
        arr = np.asarray(self.base[self.index])
        return arr if dtype is None else arr.astype(dtype, copy=False)

    def __repr__(self):
        return f"_Rows({len(self.index)} of {self.base.shape[0]} rows, shape={self.shape}, dtype={self.dtype})"


def subset_examples(emb: Embeddings, keep) -> Embeddings:
    """The same embeddings restricted to some examples, without reading any array.

    Every array (layers, masks, label sets, predictions, ablated predictions, targets) is cut the
    same way. Token arrays become lazy row views read chunk by chunk when pooled; an array shared
    by several modalities (``fused.<layer>``) stays one shared view.

    Args:
      emb: opened embeddings.
      keep: ``(N,)`` bool, or increasing integer indices of the examples to keep.

    Returns:
      :class:`Embeddings` with ``n_samples`` = the examples kept, in their original order.

    Raises:
      InputError: a mask of the wrong length, indices out of range or not increasing, or no
        example left.

    Example:
      >>> emb = subset_examples(emb, nonempty_examples(emb, ("text", "image")))  # doctest: +SKIP
    """
    keep = np.asarray(keep)
    n = emb.n_samples
    if keep.dtype == bool:
        if keep.shape != (n,):
            raise InputError(f"keep must be ({n},) booleans, one per example; got shape {keep.shape}")
        index = np.flatnonzero(keep)
    elif keep.ndim == 1 and np.issubdtype(keep.dtype, np.integer):
        index = keep.astype(np.int64)
        if index.size and (index.min() < 0 or index.max() >= n or (np.diff(index) <= 0).any()):
            raise InputError(f"keep must hold increasing example indices in 0..{n - 1}")
    else:
        raise InputError(f"keep must be ({n},) booleans or increasing integer indices; got {keep.dtype} {keep.shape}")
    if index.size == 0:
        raise InputError(f"no example is left of the {n}")
    views: dict[int, object] = {}

    def cut(arr):
        if len(arr.shape) == 1:
            return np.asarray(arr)[index]
        if id(arr) not in views:
            views[id(arr)] = _Rows(arr, index)
        return views[id(arr)]

    return emb._replace(
        layers={layer: {m: cut(a) for m, a in mods.items()} for layer, mods in emb.layers.items()},
        masks={m: cut(a) for m, a in emb.masks.items()},
        label_sets={k: cut(a) for k, a in emb.label_sets.items()},
        n_samples=int(index.size),
        ablated={layer: {m: cut(a) for m, a in mods.items()} for layer, mods in emb.ablated.items()},
        targets={k: cut(a) for k, a in emb.targets.items()},
    )


# --------------------------------------------------------------------------- pooling


class _EmptyMask(InputError):
    """A mask keeps no token of one example; ``example`` and ``count`` (all such examples) say which."""

    def __init__(self, which: int, example: int, count: int, name: str = "the token mask"):
        hint = ("; leave such examples out with subset_examples(emb, nonempty_examples(emb)) "
                "(pidjax analyze --drop-empty)")
        super().__init__(f"{name} keeps no token for example {example} ({count} example{'s' * (count != 1)} "
                         f"in all){hint}")
        self.which, self.example, self.count = which, example, count


def _pool_many(arr, masks, dtype, chunk: int) -> list[np.ndarray]:
    """Pool one ``(N, T, D)`` array under several masks, reading each chunk of rows once."""
    n = arr.shape[0]
    outs = [np.empty((n, arr.shape[2]), dtype) for _ in masks]
    for start in range(0, n, chunk):
        block = np.asarray(arr[start:start + chunk], dtype=np.float64)
        for which, (mask, out) in enumerate(zip(masks, outs)):
            if mask is None:
                out[start:start + chunk] = block.mean(axis=1)
                continue
            keep = np.asarray(mask[start:start + chunk]) != 0
            counts = keep.sum(axis=1)
            if (counts == 0).any():
                total = int((~(np.asarray(mask) != 0).any(axis=1)).sum())
                raise _EmptyMask(which, start + int(np.argmin(counts)), total)
            out[start:start + chunk] = (block * keep[..., None]).sum(axis=1) / counts[:, None]
    return outs


def pool(arr, mask=None, dtype=np.float32, chunk: int = 4096) -> np.ndarray:
    """An ``(N, D)`` array from ``(N, D)`` or token-level ``(N, T, D)`` embeddings.

    Token-level arrays are averaged over the tokens where ``mask`` (``(N, T)``) is non-zero, or
    over all tokens without a mask; rows are read ``chunk`` at a time so a memory-mapped input
    never has to fit in RAM whole.

    Raises:
      InputError: an example whose mask keeps no token (the message names it and how many
        such examples there are).
    """
    if len(arr.shape) == 2:
        return np.asarray(arr, dtype=dtype) if not hasattr(arr, "member") else np.asarray(arr).astype(dtype)
    return _pool_many(arr, [mask], dtype, chunk)[0]


def layer_embeddings(emb: Embeddings, layer: str, modalities=None, dtype=np.float32) -> tuple[np.ndarray, np.ndarray]:
    """Read one layer's two modalities into memory, pooled to ``(N, D1)`` and ``(N, D2)``.

    A fused layer (one array for both modalities) is read once and pooled under each mask.

    Raises:
      InputError: an unknown layer or modality, or an example whose mask keeps no token (the
        message names the mask, the example and the count of such examples).

    Example:
      >>> e1, e2 = layer_embeddings(emb, "3", ("text", "image"))  # doctest: +SKIP
    """
    if layer not in emb.layers:
        raise InputError(f"unknown layer {layer!r}; the embeddings have {', '.join(list(emb.layers)[:8])}")
    m1, m2 = select_modalities(emb, modalities)
    mods, masks = emb.layers[layer], (emb.masks.get(m1), emb.masks.get(m2))
    shared = mods[m1] is mods[m2] and len(mods[m1].shape) == 3
    out = [None, None]
    for arr, which in ([(mods[m1], (0, 1))] if shared else [(mods[m1], (0,)), (mods[m2], (1,))]):
        if len(arr.shape) == 2:
            out[which[0]] = pool(arr, None, dtype)
            continue
        try:
            pooled = _pool_many(arr, [masks[w] for w in which], dtype, 4096)
        except _EmptyMask as exc:
            w = which[exc.which]
            raise _EmptyMask(w, exc.example, exc.count, f"mask.{(m1, m2)[w]}") from None
        for w, p in zip(which, pooled):
            out[w] = p
    return out[0], out[1]


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


def save_embeddings(path, layers: dict | None = None, *, fused=None, masks=None, labels=None, predictions=None,
                    label_sets=None, ablated=None, targets=None, file_format: str = "npz") -> Path:
    """Write embeddings in the naming convention, as one file or a folder of one file per layer.

    Args:
      path: ``*.npz`` or ``*.safetensors`` for one file; any other path is a folder, written
        as ``layer.<layer>.<file_format>`` files, ``fused.<layer>.npy`` (or ``.safetensors``)
        files and ``meta.<file_format>``.
      layers: ``{layer: {modality: array (N, D) or (N, T, D)}}``.
      fused: ``{layer: array (N, T, D)}``, one token array per layer holding every modality of
        ``masks`` (single-stream models); stored once, whatever the number of modalities.
      masks: ``{modality: array (N, T)}``.
      labels, predictions: arrays ``(N,)``.
      label_sets: further ``{name: array (N,)}``, stored as ``labels.<name>``.
      ablated: ``{layer: {modality: array (N,)}}`` predictions with that modality's tokens at
        that layer mean-ablated, stored as ``ablated.<layer>.<modality>``.
      targets: ``{name: array (N, T) or (N, T, d)}`` per-token targets, stored as
        ``targets.<name>``.
      file_format: ``"npz"`` or ``"safetensors"`` for the folder form.

    Returns:
      The path written.

    Raises:
      InputError: a layer or modality name that breaks the convention, fused arrays without
        masks, a modality given both fused and in ``layers`` at the same layer, or a dtype
        safetensors cannot store.

    Example:
      >>> save_embeddings("emb.npz", {"0": {"text": t0, "image": i0}}, labels=y)  # doctest: +SKIP
      >>> save_embeddings("emb/", fused={"0": tokens}, masks={"text": mt, "image": mi})  # doctest: +SKIP
    """
    path = Path(path)
    layers, fused = dict(layers or {}), {str(k): v for k, v in (fused or {}).items()}
    if not layers and not fused:
        raise InputError("save_embeddings needs layers or fused arrays")
    if fused and not masks:
        raise InputError("fused arrays need masks={modality: (N, T)} saying which tokens belong to which modality")
    meta: dict[str, np.ndarray] = {}
    for mod, m in (masks or {}).items():
        _check_modality(mod)
        meta[f"mask.{mod}"] = np.asarray(m)
    if labels is not None:
        meta["labels"] = np.asarray(labels)
    if predictions is not None:
        meta["predictions"] = np.asarray(predictions)
    for name, lab in (label_sets or {}).items():
        meta[f"labels.{name}"] = np.asarray(lab)
    for layer, mods in (ablated or {}).items():
        _check_layer(str(layer))
        for mod, preds in mods.items():
            _check_modality(mod)
            meta[f"ablated.{layer}.{mod}"] = np.asarray(preds)
    for name, arr in (targets or {}).items():
        if not str(name):
            raise InputError("a target name cannot be empty")
        meta[f"targets.{name}"] = np.asarray(arr)
    per_layer = {}
    for layer, mods in layers.items():
        layer = str(layer)
        _check_layer(layer)
        for mod in mods:
            _check_modality(mod)
            if layer in fused and mod in (masks or {}):
                raise InputError(f"modality {mod!r} of layer {layer!r} is given twice: in fused[{layer!r}] (by its mask) "
                                 "and in layers; keep one")
        per_layer[layer] = {f"layer.{layer}.{mod}": np.asarray(a) for mod, a in mods.items()}
    for layer in fused:
        _check_layer(layer)

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
        arrays.update({f"fused.{layer}": np.asarray(a) for layer, a in fused.items()})
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
    for layer, arr in fused.items():
        if file_format == "npz":
            np.save(path / f"fused.{layer}.npy", np.asarray(arr))  # the form the streaming extractors write
        else:
            write(path / f"fused.{layer}.safetensors", {f"fused.{layer}": np.asarray(arr)})
    if meta:
        write(path / f"meta.{file_format}", meta)
    return path


def _check_layer(layer: str):
    if not layer or layer.startswith(".") or layer.endswith("."):
        raise InputError(f"layer name {layer!r} cannot be empty or start/end with a dot")


def _check_modality(mod: str):
    if not mod or "." in mod:
        raise InputError(f"modality name {mod!r} cannot be empty or contain a dot")
