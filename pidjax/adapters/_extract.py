"""Per-layer, per-modality embeddings from a Flax model, pooled per example, batch by batch.

The loop: check the layer map against the activations the model exposes (one abstract
evaluation, no compute), compile ONE function that runs the model and pools every requested
activation, then stream the batches through it, keeping the pooled rows in memory or
appending them to per-layer ``.npy`` files on disk.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from pidjax.adapters._backends import CALL, default_call, linen_forward, nnx_forward

POOLINGS = ("mean", "first", "last", "max")
LABEL_KEYS = ("y", "label", "labels")


class Extraction(NamedTuple):
    """What :func:`extract_embeddings` returns.

    Fields:
      layers: ``{layer: (E1 (N, d1), E2 (N, d2))}`` pooled embeddings, in the order asked for;
        read-only memory maps when streamed to disk.
      outputs: ``(N, ...)`` model outputs (e.g. logits), or ``None`` when the model returns
        something other than one array, or when streaming.
      predictions: ``(N,)`` predicted classes (argmax of 2-D outputs, or ``predict_fn``), or
        ``None``.
      labels: ``(N,)`` labels found in the batches under ``label_key``, or ``None``.
      path: the folder written in streaming mode (readable by
        :func:`pidjax.io.load_embeddings`), else ``None``.
    """

    layers: dict
    outputs: Any
    predictions: Any
    labels: Any
    path: Any


@dataclass(frozen=True)
class _Selector:
    """One modality of one layer: which captured array, which tokens, which per-example mask."""

    layer: str
    which: int  # 1 or 2
    path: str  # as the user wrote it
    key: str  # the captured name it resolved to
    tokens: Any  # None or a tuple of token indices
    mask_key: str | None  # batch key of an (B, T) per-example token mask


# --------------------------------------------------------------------------- the layer map


def _norm(path: str) -> str:
    return "/".join(p for p in re.split(r"[./]", path) if p)


def _available(flat: Mapping) -> list[str]:
    names = sorted({k[: -len(CALL) - 1] if k.endswith("/" + CALL) else k for k in flat})
    return [n for n in names if n and n != CALL]


def _few(names: list[str], limit: int = 12) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def _single(value, layer: str, which: int, key: str):
    """The one recorded call of a captured entry (a tuple of calls, or an array)."""
    if isinstance(value, tuple):
        if len(value) != 1:
            raise ValueError(
                f"layers[{layer!r}][{which - 1}]: {key!r} was recorded {len(value)} times in one forward pass "
                "(a module called more than once); sow the activation you want under its own name"
            )
        value = value[0]
    if not hasattr(value, "shape"):
        raise ValueError(f"layers[{layer!r}][{which - 1}]: {key!r} is not an array (got {type(value).__name__})")
    return value


def _token_indices(tokens, n_tokens: int, where: str):
    if tokens is None or isinstance(tokens, str):
        return None
    if isinstance(tokens, slice):
        idx = np.arange(n_tokens)[tokens]
    else:
        arr = np.asarray(tokens)
        if arr.ndim == 0 and np.issubdtype(arr.dtype, np.integer):
            arr = arr.reshape(1)  # one token, e.g. 0 for a [CLS] position
        if arr.ndim != 1:
            raise ValueError(f"{where}: a token mask or index list must be 1-D; got shape {arr.shape}")
        if arr.dtype == bool:
            if arr.shape[0] != n_tokens:
                raise ValueError(f"{where}: token mask has length {arr.shape[0]} but the activation has "
                                 f"{n_tokens} tokens")
            idx = np.flatnonzero(arr)
        elif np.issubdtype(arr.dtype, np.integer):
            if arr.size and (arr.min() < -n_tokens or arr.max() >= n_tokens):
                raise ValueError(f"{where}: token index out of range for {n_tokens} tokens: {arr.tolist()}")
            idx = np.where(arr < 0, arr + n_tokens, arr)
        else:
            raise ValueError(f"{where}: tokens must be a slice, a boolean mask, integer indices or a batch key; "
                             f"got dtype {arr.dtype}")
    if idx.size == 0:
        raise ValueError(f"{where}: the token selection keeps no token")
    return tuple(int(i) for i in idx)


def _parse(layers: Mapping, flat: Mapping, batch, label_key: str) -> list[_Selector]:
    if not isinstance(layers, Mapping) or not layers:
        raise ValueError("layers must be a non-empty mapping {layer name: (modality 1, modality 2)}")
    names = _available(flat)
    selectors = []
    for layer, pair in layers.items():
        layer = str(layer)
        if not layer or "/" in layer or layer.startswith(".") or layer.endswith("."):
            raise ValueError(f"layer name {layer!r} must be non-empty, without '/' and not start or end with '.'")
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise ValueError(f"layers[{layer!r}] must be a pair (modality 1, modality 2); got {pair!r}")
        for which, item in enumerate(pair, start=1):
            where = f"layers[{layer!r}][{which - 1}]"
            path, tokens = (item, None) if isinstance(item, str) else tuple(item) if (
                isinstance(item, (tuple, list)) and len(item) == 2 and isinstance(item[0], str)) else (None, None)
            if path is None:
                raise ValueError(f"{where} must be a module path or (module path, tokens); got {item!r}")
            norm = _norm(path)
            key = next((k for k in (norm, f"{norm}/{CALL}") if k in flat), None)
            if key is None or not norm:
                raise ValueError(f"{where}: the model has no module or sown value named {path!r}; "
                                 f"available: {_few(names)}")
            act = _single(flat[key], layer, which, key)
            mask_key = tokens if isinstance(tokens, str) else None
            if act.ndim < 2:
                raise ValueError(f"{where}: {path!r} has shape {tuple(act.shape)}; expected (batch, ...) per example")
            if tokens is not None and act.ndim == 2:
                raise ValueError(f"{where}: {path!r} has shape {tuple(act.shape)} with no token axis, so tokens "
                                 "cannot be selected")
            if mask_key is not None:
                if not isinstance(batch, Mapping) or mask_key not in batch:
                    raise ValueError(f"{where}: token mask key {mask_key!r} is not in the batch")
                shape = np.shape(batch[mask_key])
                if len(shape) != 2 or shape[1] != act.shape[1]:
                    raise ValueError(f"{where}: batch[{mask_key!r}] has shape {shape} but {path!r} has "
                                     f"{act.shape[1]} tokens; expected (batch, {act.shape[1]})")
            idx = _token_indices(tokens, act.shape[1], where) if act.ndim > 2 else None
            selectors.append(_Selector(layer, which, path, key, idx, mask_key))
    return selectors


# --------------------------------------------------------------------------- pooling


def pool_tokens(act, pooling="mean", mask=None):
    """Pool a token axis away: ``(B, T, ...)`` -> ``(B, d)`` (trailing axes flattened into ``d``).

    Args:
      act: ``(B, d)`` (returned as is) or ``(B, T, ...)`` activations.
      pooling: "mean", "first", "last", "max" over the kept tokens, or a callable
        ``(act (B, T, d), mask (B, T) bool or None) -> (B, d)``.
      mask: optional ``(B, T)`` per-example token mask (non-zero = keep).

    Returns:
      ``(B, d)`` array.

    Raises:
      ValueError: an unknown pooling name.

    Example:
      >>> pool_tokens(jnp.arange(12.0).reshape(1, 3, 4), "first").tolist()
      [[0.0, 1.0, 2.0, 3.0]]
    """
    if act.ndim == 2:
        return act
    act = act.reshape(act.shape[0], act.shape[1], -1)
    keep = None if mask is None else mask.astype(bool)
    if callable(pooling):
        return pooling(act, keep)
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS} or a callable; got {pooling!r}")
    if keep is None:
        return {"mean": lambda: act.mean(1), "first": lambda: act[:, 0], "last": lambda: act[:, -1],
                "max": lambda: act.max(1)}[pooling]()
    if pooling == "mean":
        weights = keep.astype(act.dtype)[..., None]
        return (act * weights).sum(1) / jnp.maximum(weights.sum(1), 1)
    if pooling == "max":
        return jnp.where(keep[..., None], act, -jnp.inf).max(1)
    pos = jnp.argmax(keep, 1) if pooling == "first" else keep.shape[1] - 1 - jnp.argmax(keep[:, ::-1], 1)
    return jnp.take_along_axis(act, pos[:, None, None], 1)[:, 0]


def _predictions(output, predict_fn):
    if predict_fn is not None:
        return predict_fn(output)
    if not hasattr(output, "ndim"):
        return None
    if output.ndim == 2 and output.shape[1] > 1:
        return jnp.argmax(output, -1)
    if output.ndim == 2 and output.shape[1] == 1:
        return (output[:, 0] > 0).astype(jnp.int32)
    if output.ndim == 1 and jnp.issubdtype(output.dtype, jnp.integer):
        return output
    return None


# --------------------------------------------------------------------------- streaming to disk


class _NpyAppender:
    """An ``.npy`` file grown row block by row block; the header is rewritten on close.

    The header is padded to a fixed 128 bytes, enough for any 2-D shape, so closing only
    rewrites the first 128 bytes in place.
    """

    HEADER = 128

    def __init__(self, path: Path, dtype):
        self.path, self.dtype, self.rows, self.width = path, np.dtype(dtype), 0, None
        self.file = open(path, "wb")
        self.file.write(b"\0" * self.HEADER)

    def append(self, block: np.ndarray):
        block = np.ascontiguousarray(block, dtype=self.dtype)
        if self.width is None:
            self.width = block.shape[1:]
        self.file.write(block.tobytes())
        self.rows += block.shape[0]

    def close(self) -> Path:
        shape = (self.rows, *(self.width or ()))
        text = repr({"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False, "shape": shape})
        body = text.encode("latin1")
        pad = self.HEADER - 10 - len(body) - 1
        self.file.seek(0)
        self.file.write(b"\x93NUMPY\x01\x00" + (self.HEADER - 10).to_bytes(2, "little") + body + b" " * pad + b"\n")
        self.file.close()
        return self.path


# --------------------------------------------------------------------------- the public entry


def _backend(model, variables, call):
    from flax import linen, nnx

    if isinstance(model, nnx.Module):
        if variables is not None:
            raise ValueError("variables is only for linen modules; an nnx model carries its own state")
        return nnx_forward(model, call)
    if isinstance(model, linen.Module):
        if variables is None:
            raise ValueError("a linen module needs its variables (e.g. {'params': ...}) in `variables`")
        return linen_forward(model, variables, call)
    raise ValueError(f"model must be a flax.nnx.Module or a flax.linen.Module; got {type(model).__name__}")


def _rows(batch) -> int:
    sizes = {np.shape(x)[0] for x in jax.tree_util.tree_leaves(batch) if np.ndim(x) > 0}
    if not sizes:
        raise ValueError("a batch holds no arrays with a leading example axis")
    return max(sizes)


def _pad(batch, rows: int, target: int):
    """Repeat the last example so a short final batch reuses the compiled shape."""
    def pad(x):
        if np.ndim(x) == 0 or np.shape(x)[0] != rows:
            return x
        x = np.asarray(x)
        return np.concatenate([x, np.repeat(x[-1:], target - rows, axis=0)])
    return jax.tree_util.tree_map(pad, batch)


def _check_masks(batch, selectors, start: int):
    for s in selectors:
        if s.mask_key is None:
            continue
        mask = np.asarray(batch[s.mask_key]) != 0
        if s.tokens is not None:
            mask = mask[:, list(s.tokens)]
        empty = ~mask.any(axis=1)
        if empty.any():
            raise ValueError(f"layers[{s.layer!r}][{s.which - 1}]: batch[{s.mask_key!r}] keeps no token for "
                             f"example {start + int(np.argmax(empty))}")


def extract_embeddings(
    model,
    batches: Iterable,
    layers: Mapping,
    *,
    variables=None,
    pooling="mean",
    call: Callable | None = None,
    predict_fn: Callable | None = None,
    label_key: str = "y",
    out_dir=None,
    modality_names: tuple[str, str] = ("modality_1", "modality_2"),
    dtype=np.float32,
    progress: bool = True,
) -> Extraction:
    """Per-layer ``(E1, E2)`` embeddings of a Flax nnx or linen model over a dataset, pooled per example.

    Args:
      model: a ``flax.nnx.Module`` (run as given: switch dropout off with ``model.eval()``
        first) or a ``flax.linen.Module`` together with ``variables``. It is not modified.
      batches: an iterable of batches: dicts (passed as keyword arguments, without
        ``label_key`` and mask keys), tuples (positional arguments) or single arrays.
      layers: ``{layer name: (modality 1, modality 2)}``; each modality is a module path
        (``"blocks_1/0"``, ``"encoder.layers_2"``, or the path of a value the model sows) or
        ``(path, tokens)`` where ``tokens`` is a slice, a boolean mask over the token axis,
        a token index or a list of them, or the name of a batch key holding an ``(B, T)``
        per-example token mask. The two modalities may name the same module with different
        tokens (a single-stream model over concatenated tokens).
      variables: the linen module's variables.
      pooling: "mean", "first", "last", "max" over the kept tokens, or a callable, see
        :func:`pool_tokens`. Activations without a token axis ``(B, d)`` are used as they are.
      call: ``call(model_fn, batch) -> output`` when the default calling convention above
        does not fit (``model_fn`` is the nnx module, or linen's apply with the variables bound).
      predict_fn: ``output -> (B,) classes``; default argmax of 2-D outputs.
      label_key: batch key of the labels collected into ``Extraction.labels``.
      out_dir: stream to this folder instead of memory: one ``layer.<layer>.<modality>.npy``
        file per layer and modality, plus ``labels.npy`` and ``predictions.npy``
        (the :mod:`pidjax.io` naming convention); only one batch is ever held in memory.
      modality_names: the two modality names used for the files.
      dtype: float dtype of the returned embeddings.
      progress: show a tqdm progress bar over the batches.

    Returns:
      :class:`Extraction` with ``layers = {layer: (E1 (N, d1), E2 (N, d2))}``.

    Raises:
      ValueError: an unknown module path (the message lists the available ones), a token mask
        of the wrong length or an index out of range, tokens asked of an activation without a
        token axis, a module recorded more than once, a per-example mask keeping no token, an
        unsupported model type, a linen module without variables, no batches.

    Example:
      >>> from pidjax.models import ModelConfig, build_model, layer_spec
      >>> from pidjax.data import batches, load_digits_views
      >>> data = load_digits_views()
      >>> cfg = ModelConfig(4, 8, 4, 8, n_classes=10, depth=2)
      >>> ex = extract_embeddings(build_model(cfg), batches(data, 512), layer_spec(cfg), progress=False)
      >>> ex.layers["block_1"][0].shape, ex.predictions.shape
      ((1797, 32), (1797,))
    """
    from tqdm.auto import tqdm

    if not (callable(pooling) or pooling in POOLINGS):
        raise ValueError(f"pooling must be one of {POOLINGS} or a callable; got {pooling!r}")
    names = tuple(str(m) for m in modality_names)
    if len(names) != 2 or len(set(names)) != 2 or any(not m or "." in m or "/" in m for m in names):
        raise ValueError(f"modality_names must be two different names without '.' or '/'; got {modality_names!r}")
    iterator = iter(batches)
    total = len(batches) if hasattr(batches, "__len__") else None
    try:
        first = next(iterator)
    except StopIteration:
        raise ValueError("batches is empty") from None

    mask_keys: set[str] = set()
    for pair in (layers.values() if isinstance(layers, Mapping) else ()):
        for item in (pair if isinstance(pair, (tuple, list)) else ()):
            if isinstance(item, (tuple, list)) and len(item) == 2 and isinstance(item[1], str):
                mask_keys.add(item[1])
    skip = tuple(mask_keys)
    run = call if call is not None else (lambda fn, b: default_call(fn, b, LABEL_KEYS, skip))
    params, forward = _backend(model, variables, run)
    _, flat = jax.eval_shape(forward, params, first)
    selectors = _parse(layers, flat, first, label_key)

    def step(params, batch):
        output, captured = forward(params, batch)
        pooled = {}
        for s in selectors:
            act = _single(captured[s.key], s.layer, s.which, s.key)
            if act.ndim > 2 and s.tokens is not None:
                act = act[:, jnp.asarray(s.tokens)]
            mask = None
            if s.mask_key is not None:
                mask = jnp.asarray(batch[s.mask_key])
                mask = mask[:, jnp.asarray(s.tokens)] if s.tokens is not None else mask
            pooled[(s.layer, s.which)] = pool_tokens(act, pooling, mask).astype(dtype)
        keep = output if hasattr(output, "ndim") else None
        return keep, _predictions(output, predict_fn), pooled

    compiled = jax.jit(step)
    stream = out_dir is not None
    if stream:
        folder = Path(out_dir)
        if folder.exists() and not folder.is_dir():
            raise ValueError(f"out_dir {folder} exists and is not a folder")
        folder.mkdir(parents=True, exist_ok=True)
        sinks = {(s.layer, s.which): _NpyAppender(folder / f"layer.{s.layer}.{names[s.which - 1]}.npy", dtype)
                 for s in selectors}
    else:
        sinks = {(s.layer, s.which): [] for s in selectors}
    outputs, preds, labels, n_batches = [], [], [], 0
    width, seen = _rows(first), 0
    bar = tqdm(total=total, desc="embeddings", unit="batch", disable=not progress)
    batch = first
    try:
        while True:
            rows = _rows(batch)
            _check_masks(batch, selectors, seen)
            run_batch = _pad(batch, rows, width) if rows < width else batch
            out, pred, pooled = compiled(params, run_batch)
            for key, value in pooled.items():
                block = np.asarray(value)[:rows]
                sinks[key].append(block)
            if pred is not None:
                preds.append(np.asarray(pred)[:rows])
            if out is not None and not stream and np.ndim(out) >= 1 and np.shape(out)[0] == width:
                outputs.append(np.asarray(out)[:rows])
            if isinstance(batch, Mapping) and label_key in batch:
                labels.append(np.asarray(batch[label_key])[:rows])
            seen += rows
            n_batches += 1
            bar.update(1)
            batch = next(iterator, None)
            if batch is None:
                break
    finally:
        bar.close()
        if stream:
            for sink in sinks.values():
                sink.close()

    predictions = np.concatenate(preds) if preds else None
    label_arr = np.concatenate(labels) if labels and sum(len(x) for x in labels) == seen else None
    if stream:
        if predictions is not None:
            np.save(folder / "predictions.npy", predictions)
        if label_arr is not None:
            np.save(folder / "labels.npy", label_arr)
        result = {layer: tuple(np.load(sinks[(layer, w)].path, mmap_mode="r") for w in (1, 2))
                  for layer in dict.fromkeys(s.layer for s in selectors)}
        return Extraction(result, None, predictions, label_arr, folder)
    result = {layer: tuple(np.concatenate(sinks[(layer, w)]) for w in (1, 2))
              for layer in dict.fromkeys(s.layer for s in selectors)}
    out_arr = np.concatenate(outputs) if outputs and len(outputs) == n_batches else None
    return Extraction(result, out_arr, predictions, label_arr, None)
