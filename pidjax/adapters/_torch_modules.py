"""Embeddings of any ``torch.nn.Module``, read by forward hooks on modules named by their path.

For models no layout knows: each layer names one module per modality (a path from
``model.named_modules()``), a temporary forward hook records that module's output in every
batch, and the output is mean-pooled over its tokens (under a per-example mask taken from the
batch, when given). One batch is held at a time; hooks are removed and the model's training
flags restored on exit, also after an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Callable, Iterable

import numpy as np
import torch

from pidjax.adapters._torch_extract import (
    TorchExtraction,
    _device,
    _numpy,
    _out_folder,
    _passes,
    _pool,
    _predictions,
    _save,
    _Sink,
    _untouched,
)


def _to(batch, device):
    """The batch's tensors on the model's device (dicts, tuples or one tensor)."""
    if torch.is_tensor(batch):
        return batch.to(device)
    if isinstance(batch, Mapping):
        return {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}
    if isinstance(batch, (tuple, list)):
        return type(batch)(v.to(device) if torch.is_tensor(v) else v for v in batch)
    return batch


def _spec(item, where: str) -> tuple[str, str | None]:
    if isinstance(item, str):
        return item, None
    if isinstance(item, (tuple, list)) and len(item) == 2 and all(isinstance(v, str) for v in item):
        return item[0], item[1]
    raise ValueError(f"{where} must be a module path or (module path, batch key of a (B, T) token mask); got {item!r}")


def _tensor(output, path: str) -> torch.Tensor:
    """The array a module returned: itself, the first element of a tuple, or ``last_hidden_state``."""
    if torch.is_tensor(output):
        return output
    hidden = getattr(output, "last_hidden_state", None)
    if torch.is_tensor(hidden):
        return hidden
    if isinstance(output, (tuple, list)) and output and torch.is_tensor(output[0]):
        return output[0]
    raise ValueError(f"module {path!r} returned {type(output).__name__}, not a tensor (or a tuple / model output "
                     "holding one)")


def _pooled(act: torch.Tensor, mask, where: str, start: int) -> np.ndarray:
    if act.ndim == 2:
        return _numpy(act.float())
    if act.ndim != 3:
        raise ValueError(f"{where}: the output has shape {tuple(act.shape)}; expected (B, D) or (B, T, D)")
    if mask is None:
        keep = torch.ones(act.shape[:2], dtype=torch.bool, device=act.device)
    else:
        keep = torch.as_tensor(mask, device=act.device).bool()
    if keep.shape != act.shape[:2]:
        raise ValueError(f"{where}: the token mask has shape {tuple(keep.shape)} but the output has "
                         f"{tuple(act.shape[:2])} (batch, tokens)")
    counts = keep.sum(1)
    if (counts == 0).any():
        raise ValueError(f"{where}: the token mask keeps no token for example {start + int(torch.argmin(counts))}")
    return _numpy(_pool(act, keep, np.float32))


def extract_modules(
    model,
    batches: Iterable | Callable,
    layers: Mapping,
    *,
    call: Callable | None = None,
    predict: Callable | None = None,
    label_key: str = "labels",
    out_dir=None,
    modality_names: tuple[str, str] = ("modality_1", "modality_2"),
    dtype=np.float32,
    progress: bool = True,
) -> TorchExtraction:
    """Per-layer ``(E1, E2)`` embeddings of any PyTorch model, from forward hooks on named modules.

    Args:
      model: a ``torch.nn.Module``, run in eval mode under ``torch.no_grad()``; left as found.
      batches: dicts of tensors (passed as keyword arguments, without ``label_key``), tuples
        (positional) or single tensors; or a zero-arg callable returning such an iterator.
        Tensors are moved to the model's device.
      layers: ``{layer: (modality 1, modality 2)}``, each modality a module path from
        ``model.named_modules()`` (``"encoder.layers.3"``) or ``(path, mask key)`` where the
        batch holds a ``(B, T)`` token mask under ``mask key``. The module's output (a tensor,
        the first element of a tuple, or ``last_hidden_state``) is used as is when ``(B, D)``
        and mean-pooled over its (kept) tokens when ``(B, T, D)``. Both modalities may name the
        same module with different masks (one fused stream).
      call: ``call(model, batch) -> output`` when the default calling convention does not fit.
      predict: ``(output, batch) -> (B,)`` predictions; default the argmax of ``output.logits``
        (or of a ``(B, C)`` output tensor).
      label_key: the batch key of the labels.
      out_dir: stream to this new or empty folder: ``layer.<layer>.<modality>.npy`` ``(N, D)``,
        ``labels.npy``, ``predictions.npy``; each written as ``*.partial`` and renamed when done.
      modality_names: the two modality names used for the files.
      dtype: float dtype of the saved embeddings.
      progress: a tqdm progress bar over the batches.

    Returns:
      :class:`TorchExtraction` with ``layers = {layer: (E1 (N, d1), E2 (N, d2))}``,
      ``predictions``, ``labels``, ``path`` and ``meta`` (the hooked modules); ``masks``,
      ``ablated`` and ``ablation`` are ``None``.

    Raises:
      ValueError: an unknown module path (the message lists some that exist), a module that
        returns no tensor, an output other than ``(B, D)`` / ``(B, T, D)``, a mask key missing
        from a batch or of the wrong shape, a mask keeping no token, a non-empty ``out_dir``,
        no batches.

    Example:
      >>> ex = extract_modules(model, loader, {"3": ("text_encoder.layers.3", "vision_encoder.layers.3")},
      ...                      modality_names=("text", "image"))  # doctest: +SKIP
      >>> ex.layers["3"][0].shape  # doctest: +SKIP
      (1000, 768)
    """
    from tqdm.auto import tqdm

    if not isinstance(layers, Mapping) or not layers:
        raise ValueError("layers must be a non-empty mapping {layer: (module path 1, module path 2)}")
    names = tuple(str(m) for m in modality_names)
    if len(names) != 2 or len(set(names)) != 2 or any(not m or "." in m for m in names):
        raise ValueError(f"modality_names must be two different names without '.'; got {modality_names!r}")
    modules = dict(model.named_modules())
    specs = {}
    for layer, pair in layers.items():
        if not str(layer) or "/" in str(layer) or str(layer).startswith(".") or str(layer).endswith("."):
            raise ValueError(f"layer name {layer!r} must be non-empty, without '/' and not start or end with '.'")
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise ValueError(f"layers[{layer!r}] must be a pair (modality 1, modality 2); got {pair!r}")
        for which, item in enumerate(pair):
            path, mask_key = _spec(item, f"layers[{layer!r}][{which}]")
            if path not in modules:
                known = [n for n in modules if n][:12]
                raise ValueError(f"layers[{layer!r}][{which}]: the model has no module {path!r}; modules include "
                                 f"{', '.join(known)}{' ...' if len(modules) > 13 else ''}")
            specs[(str(layer), which)] = (path, mask_key)
    open_pass = _passes(batches, ablation=False)
    folder = _out_folder(out_dir)
    sinks = {key: _Sink(None if folder is None else folder / f"layer.{key[0]}.{names[key[1]]}.npy", dtype)
             for key in specs}
    captured: dict[str, object] = {}
    preds, labels, seen = [], [], 0
    try:
        with _untouched(model), torch.no_grad():
            model.eval()
            for path in {p for p, _ in specs.values()}:
                modules[path].register_forward_hook(lambda _m, _a, out, path=path: captured.__setitem__(path, out))
            iterator, total = open_pass()
            device = _device(model)
            for batch in tqdm(iterator, total=total, desc="embeddings", unit="batch", disable=not progress):
                captured.clear()
                batch = _to(batch, device)
                inputs = {k: v for k, v in batch.items() if k != label_key} if isinstance(batch, Mapping) else batch
                if call is not None:
                    output = call(model, inputs)
                elif isinstance(inputs, Mapping):
                    output = model(**inputs)
                elif isinstance(inputs, (tuple, list)):
                    output = model(*inputs)
                else:
                    output = model(inputs)
                rows = None
                for (layer, which), (path, mask_key) in specs.items():
                    where = f"layers[{layer!r}][{which}] ({path})"
                    if path not in captured:
                        raise ValueError(f"{where}: the module did not run in the forward pass")
                    mask = None
                    if mask_key is not None:
                        if not isinstance(batch, Mapping) or mask_key not in batch:
                            raise ValueError(f"{where}: the batch has no token mask {mask_key!r}")
                        mask = batch[mask_key]
                    block = _pooled(_tensor(captured[path], path), mask, where, seen)
                    sinks[(layer, which)].append(block)
                    rows = block.shape[0]
                if predict is not None or hasattr(output, "logits"):
                    pred = _predictions(output, inputs if isinstance(inputs, Mapping) else {}, batch, predict,
                                        rows, seen)
                elif torch.is_tensor(output) and output.ndim == 2:
                    pred = _numpy(output.argmax(-1))
                else:
                    pred = None
                if pred is not None:
                    preds.append(pred)
                if isinstance(batch, Mapping) and label_key in batch:
                    labels.append(_numpy(batch[label_key]).reshape(-1))
                seen += rows
        if seen == 0:
            raise ValueError("batches is empty")
        result = {}
        for (layer, which), sink in sinks.items():
            result.setdefault(layer, [None, None])[which] = sink.finish()
        predictions = np.concatenate(preds) if preds and sum(len(p) for p in preds) == seen else None
        label_arr = np.concatenate(labels) if labels and sum(len(y) for y in labels) == seen else None
        if folder is not None:
            for name, arr in (("predictions", predictions), ("labels", label_arr)):
                if arr is not None:
                    _save(folder / f"{name}.npy", arr)
    except BaseException:
        for sink in sinks.values():
            sink.abort()
        raise
    meta = {"layout": "modules", "model": type(model).__name__, "n_examples": seen,
            "modules": {f"{layer}.{names[which]}": path for (layer, which), (path, _) in specs.items()},
            "masks": {f"{layer}.{names[which]}": key for (layer, which), (_, key) in specs.items() if key}}
    return TorchExtraction({layer: tuple(pair) for layer, pair in result.items()}, predictions, label_arr, None,
                           None, None, folder, meta)
