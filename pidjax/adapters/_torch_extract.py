"""The batch loop behind :func:`pidjax.adapters.torch.extract_torch`.

One pass over the batches runs the model (``output_hidden_states=True``), pools every
requested hidden state over each modality's kept tokens, keeps token arrays when asked, and
collects predictions and labels, holding one batch at a time when streaming to disk. With
``ablation=True`` it also accumulates one mean vector per layer and modality, then reruns the
data once per (layer, modality) with that modality's tokens replaced by the mean through a
temporary forward hook, and records the predictions.

The model is left as it was found: every module's training flag, its hooks (ours, and the
output-capturing hooks recent ``transformers`` installs on first use of
``output_hidden_states``) and that library's "hooks installed" marker are restored on exit,
also after an error.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Callable, Iterable, NamedTuple

import numpy as np
import torch

from pidjax.adapters._extract import _NpyAppender
from pidjax.adapters._torch_layouts import ALIASES, LAYOUTS, Bound, Layout, guess

_HOOK_DICTS = ("_forward_hooks", "_forward_hooks_with_kwargs", "_forward_hooks_always_called", "_forward_pre_hooks",
               "_forward_pre_hooks_with_kwargs", "_backward_hooks", "_backward_pre_hooks")
_HF_MARK = "_output_capturing_hooks_installed"
_LOADABLE = (".npy", ".npz", ".safetensors")


class TorchExtraction(NamedTuple):
    """What :func:`extract_torch` returns.

    Fields:
      layers: ``{layer: (E1 (N, d1), E2 (N, d2))}`` pooled embeddings (mean over each
        modality's kept tokens), in model order; read-only memory maps when streamed.
      predictions: ``(N,)`` the model's predictions, or ``None`` (e.g. CLIP without ``predict``).
      labels: ``(N,)`` the labels found under ``label_key``, or ``None``.
      masks: ``{modality: (N, T) bool}`` kept-token masks of the token arrays (``tokens=True``),
        else ``None``.
      ablated: ``{layer: {modality: (N,) predictions}}`` with that modality mean-ablated at that
        layer (``ablation=True``), else ``None``.
      ablation: ``{layer: {"accuracy", "ablation_drop_1", "ablation_drop_2"}}`` fractions
        (drop = full accuracy - ablated accuracy), when ablating with labels, else ``None``.
      path: the folder written (``out_dir``), else ``None``.
      meta: what was extracted: layout, model class, layer pairing, special-token policy,
        counts (the content of ``extraction.json``).
      tokens: ``{layer: (X1 (N, T1, d1), X2 (N, T2, d2))}`` token arrays (``tokens=True``), else
        ``None``; single-stream layouts give the same fused array twice, one mask per modality.
    """

    layers: dict
    predictions: Any
    labels: Any
    masks: Any
    ablated: Any
    ablation: Any
    path: Any
    meta: dict
    tokens: Any = None


class _Site(NamedTuple):
    """One modality of one layer: hidden state ``index`` of stream ``stream``."""

    stream: int
    index: int


# --------------------------------------------------------------------------- layouts by name


def resolve_layout(name_or_model) -> Layout:
    """A :class:`Layout` by name or alias, or the one a model's structure suggests."""
    if isinstance(name_or_model, Layout):
        return name_or_model
    known = ", ".join(LAYOUTS) + " (aliases: " + ", ".join(f"{a}->{b}" for a, b in ALIASES.items()) + ")"
    if isinstance(name_or_model, str):
        key = name_or_model.strip().lower().replace("_", "-")
        key = ALIASES.get(key, key)
        if key not in LAYOUTS:
            raise ValueError(f"unknown layout {name_or_model!r}; known layouts: {known}")
        return LAYOUTS[key]
    found = guess(name_or_model)
    if found is None:
        raise ValueError(f"cannot tell the layout of a {type(name_or_model).__name__}; pass one of: {known}")
    return LAYOUTS[found]


# --------------------------------------------------------------------------- the model, untouched


@contextlib.contextmanager
def _untouched(model):
    """Restore every module's training flag, hooks and transformers' hook marker on exit."""
    modules = list(model.modules())
    modes = [m.training for m in modules]
    hooks = [{name: set(getattr(m, name, {}) or {}) for name in _HOOK_DICTS} for m in modules]
    marks = [(_HF_MARK in vars(m), vars(m).get(_HF_MARK)) for m in modules]
    try:
        yield
    finally:
        for m, mode, saved, (had, mark) in zip(modules, modes, hooks, marks):
            m.training = mode
            for name, keys in saved.items():
                table = getattr(m, name, None)
                for key in [k for k in (table or {}) if k not in keys]:
                    del table[key]
            if had:
                setattr(m, _HF_MARK, mark)
            elif _HF_MARK in vars(m):
                delattr(m, _HF_MARK)


# --------------------------------------------------------------------------- batches


def _passes(batches, ablation: bool) -> Callable[[], tuple[Any, int | None]]:
    """A function opening one pass over the batches: ``() -> (iterator, number of batches or None)``."""
    if callable(batches) and not hasattr(batches, "__iter__"):
        def open_pass():
            it = batches()
            return iter(it), (len(it) if hasattr(it, "__len__") else None)
        return open_pass
    if not hasattr(batches, "__iter__"):
        raise ValueError(f"batches must be an iterable of dicts or a zero-arg callable; got {type(batches).__name__}")
    if ablation and iter(batches) is batches:
        raise ValueError("ablation=True reruns the data once per layer and modality, so batches must be "
                         "re-iterable: pass a list of batches or a zero-arg callable returning a fresh iterator, "
                         "not a one-shot iterator or generator")
    total = len(batches) if hasattr(batches, "__len__") else None
    return lambda: (iter(batches), total)


def _device(model):
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


def _split(batch, label_key: str, device, start: int):
    if not isinstance(batch, Mapping):
        raise ValueError(f"batch at example {start}: expected a dict of tensors as a processor returns them "
                         f"(input_ids, attention_mask, pixel_values, ...); got {type(batch).__name__}")
    inputs = {k: (v.to(device) if torch.is_tensor(v) else v) for k, v in batch.items() if k != label_key}
    labels = batch.get(label_key)
    if labels is not None:
        labels = labels.detach().cpu().numpy() if torch.is_tensor(labels) else np.asarray(labels)
        labels = labels.reshape(-1)
    return inputs, labels


def _rows(inputs: Mapping, start: int) -> int:
    for key in ("input_ids", "pixel_values"):
        if torch.is_tensor(inputs.get(key)):
            return int(inputs[key].shape[0])
    raise ValueError(f"batch at example {start} has neither input_ids nor pixel_values; got keys {sorted(inputs)}")


def _numpy(x) -> np.ndarray:
    return x.detach().cpu().numpy() if torch.is_tensor(x) else np.asarray(x)


# --------------------------------------------------------------------------- predictions


def _predictions(output, inputs, batch, predict, rows: int, start: int):
    if predict is not None:
        pred = _numpy(predict(output, batch)).reshape(-1)
        if pred.shape[0] != rows:
            raise ValueError(f"predict returned {pred.shape[0]} values for the batch at example {start} of "
                             f"{rows} examples; expected shape ({rows},)")
        return pred
    logits = getattr(output, "logits", None)
    if not torch.is_tensor(logits):
        return None
    if logits.ndim == 2:
        return _numpy(logits.argmax(-1))
    if logits.ndim == 3:  # causal LM: the next token after the last kept position
        att = inputs.get("attention_mask")
        steps = torch.arange(logits.shape[1], device=logits.device)
        if att is None:
            last = torch.full((logits.shape[0],), logits.shape[1] - 1, device=logits.device)
        else:
            last = torch.where(att.to(logits.device).bool(), steps, -1).max(dim=1).values.clamp_min(0)
        return _numpy(logits[torch.arange(logits.shape[0], device=logits.device), last].argmax(-1))
    return None


def _prediction_source(predict, output) -> str:
    if predict is not None:
        return "predict(model_output, batch)"
    logits = getattr(output, "logits", None)
    if torch.is_tensor(logits) and logits.ndim == 2:
        return "argmax of logits (B, C)"
    if torch.is_tensor(logits) and logits.ndim == 3:
        return "argmax of logits (B, T, V) at the last attention-masked position (the next token)"
    return "none (the model returns no classification or LM logits; pass predict=)"


# --------------------------------------------------------------------------- the layer plan


def _width(n: int) -> int:
    return max(2, len(str(n - 1)))


def _plan(bound: Bound, pairing, names) -> tuple[dict, dict]:
    """``{layer name: (site of modality 1, site of modality 2)}`` and what goes in meta about it."""
    counts = [len(b) + 1 for b in bound.blocks]
    if bound.layout.single_stream:
        if not (isinstance(pairing, str) and pairing == "relative"):
            raise ValueError(f"pairing applies to the two-tower layout only; layout {bound.layout.name!r} has one "
                             "stream, whose hidden state i is layer i for both modalities")
        w = _width(counts[0])
        return {f"{i:0{w}d}": (_Site(0, i), _Site(0, i)) for i in range(counts[0])}, {"pairing": "shared stream"}
    n_text, n_image = counts
    if isinstance(pairing, str):
        if pairing != "relative":
            raise ValueError(f"pairing must be 'relative' or a list of (text index, image index); got {pairing!r}")
        shallow, deep = (0, 1) if n_text <= n_image else (1, 0)
        n_shallow, n_deep = counts[shallow], counts[deep]
        w = _width(n_shallow)
        plan = {}
        for j in range(n_shallow):
            k = int(np.floor(j * (n_deep - 1) / (n_shallow - 1) + 0.5)) if n_shallow > 1 else 0
            pair = [None, None]
            pair[shallow], pair[deep] = _Site(shallow, j), _Site(deep, k)
            plan[f"{j:0{w}d}"] = tuple(pair)
        info = {"pairing": "relative", "named_by": names[shallow],
                "rule": f"{names[shallow]} hidden state j <-> {names[deep]} hidden state "
                        f"round_half_up(j * {n_deep - 1} / {n_shallow - 1})" if n_shallow > 1 else "0 <-> 0"}
    else:
        pairs = list(pairing)
        if not pairs:
            raise ValueError("pairing is an empty list; give (text index, image index) pairs or 'relative'")
        plan = {}
        for p, pair in enumerate(pairs):
            if not (isinstance(pair, (tuple, list)) and len(pair) == 2 and all(isinstance(i, (int, np.integer))
                                                                              for i in pair)):
                raise ValueError(f"pairing[{p}] must be a (text index, image index) pair of ints; got {pair!r}")
            sites = []
            for s, i in enumerate(pair):
                i = int(i)
                if not -counts[s] <= i < counts[s]:
                    raise ValueError(f"pairing[{p}]: {names[s]} hidden-state index {i} out of range; the "
                                     f"{names[s]} tower has hidden states 0..{counts[s] - 1}")
                sites.append(_Site(s, i % counts[s]))
            name = f"t{sites[0].index}-v{sites[1].index}"
            if name in plan:
                raise ValueError(f"pairing[{p}] repeats the pair {tuple(pair)}")
            plan[name] = tuple(sites)
        info = {"pairing": "explicit", "named_by": "t<text index>-v<image index>"}
    for s in (0, 1):
        used = {sites[s].index for sites in plan.values()}
        info.setdefault("unpaired", {})[names[s]] = [i for i in range(counts[s]) if i not in used]
    return plan, info


def _select(plan: dict, layers, has_proj: bool) -> list[str]:
    available = list(plan) + (["proj"] if has_proj else [])
    if layers is None:
        return available
    wanted = [layers] if isinstance(layers, (str, int)) else list(layers)
    chosen = []
    for item in wanted:
        name = item if isinstance(item, str) else None
        if isinstance(item, (int, np.integer)):
            name = next((n for n in plan if n.isdigit() and int(n) == int(item)), str(item))
        if name not in available:
            raise ValueError(f"layers: no layer named {item!r}; available: {', '.join(available)}"
                             + ("" if has_proj or "proj" != name else " ('proj' needs projections=True and a model "
                                                                       "returning text_embeds / image_embeds)"))
        chosen.append(name)
    return [n for n in available if n in chosen]


# --------------------------------------------------------------------------- sinks


class _Sink:
    """Row blocks kept in memory, or appended to ``<path>.partial`` and renamed on :meth:`finish`."""

    def __init__(self, path: Path | None, dtype):
        self.path, self.dtype, self.blocks = path, np.dtype(dtype), []
        self.file = None if path is None else _NpyAppender(path.with_name(path.name + ".partial"), dtype)

    def append(self, block: np.ndarray):
        if self.file is None:
            self.blocks.append(np.asarray(block, dtype=self.dtype))
        else:
            self.file.append(block)

    def close(self):
        if self.file is not None and not self.file.file.closed:
            self.file.close()

    def finish(self):
        if self.file is None:
            return np.concatenate(self.blocks) if self.blocks else np.zeros((0,), self.dtype)
        self.close()
        os.replace(self.file.path, self.path)
        return np.load(self.path, mmap_mode="r")

    def abort(self):
        if self.file is not None:
            self.close()
            with contextlib.suppress(FileNotFoundError):
                self.file.path.unlink()


def _save(path: Path, array: np.ndarray):
    tmp = path.with_name(path.name + ".partial")
    with open(tmp, "wb") as f:
        np.save(f, array)
    os.replace(tmp, path)


def _out_folder(out_dir) -> Path | None:
    if out_dir is None:
        return None
    folder = Path(out_dir)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"out_dir {folder} exists and is not a folder")
    old = [p.name for sub in (folder, folder / "pooled") if sub.is_dir() for p in sub.iterdir()
           if p.suffix.lower() in _LOADABLE or p.name == "extraction.json"]
    if old:
        raise ValueError(f"out_dir {folder} already holds extraction files ({', '.join(sorted(old)[:5])}"
                         f"{', ...' if len(old) > 5 else ''}); choose an empty folder or remove them, so that files "
                         "of two runs are not mixed")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# --------------------------------------------------------------------------- hooks on the blocks


def _hidden_arg(args, kwargs, where: str):
    if args and torch.is_tensor(args[0]):
        return args[0]
    if torch.is_tensor(kwargs.get("hidden_states")):
        return kwargs["hidden_states"]
    raise ValueError(f"{where}: cannot find the block's input hidden states (neither the first argument nor "
                     "hidden_states=)")


def _hook(bound: Bound, site: _Site, fn: Callable[[torch.Tensor], torch.Tensor | None]):
    """Hook the module producing hidden state ``site.index`` of its stream; ``fn(h)`` may return a replacement."""
    blocks = bound.blocks[site.stream]
    where = f"{bound.block_paths[site.stream]}[{max(site.index - 1, 0)}]"
    if site.index == 0:
        def pre(module, args, kwargs):
            h = _hidden_arg(args, kwargs, where)
            new = fn(h)
            if new is None:
                return None
            if args and args[0] is h:
                return (new, *args[1:]), kwargs
            return args, {**kwargs, "hidden_states": new}
        return blocks[0].register_forward_pre_hook(pre, with_kwargs=True)

    def post(module, args, output):
        h = output if torch.is_tensor(output) else output[0] if isinstance(output, (tuple, list)) else None
        if h is None:
            raise ValueError(f"{where} returned a {type(output).__name__}; expected a tensor or a tuple starting "
                             "with the hidden states")
        new = fn(h)
        if new is None:
            return None
        return new if torch.is_tensor(output) else type(output)((new, *output[1:]))
    return blocks[site.index - 1].register_forward_hook(post)


def _point(bound: Bound, site: _Site) -> str:
    path = bound.block_paths[site.stream]
    return f"{path}.0 (input)" if site.index == 0 else f"{path}.{site.index - 1} (output)"


# --------------------------------------------------------------------------- the entry


def _modality_names(modality_names) -> tuple[str, str]:
    names = tuple(str(m) for m in modality_names)
    if len(names) != 2 or len(set(names)) != 2 or any(not m or "." in m or "/" in m for m in names):
        raise ValueError(f"modality_names must be two different names without '.' or '/'; got {modality_names!r}")
    return names


def _targets(max_tokens, names, streams) -> dict:
    """``{stream: padded length or None}`` from ``max_tokens`` (an int, or ``{modality: int}``)."""
    if max_tokens is None:
        return {s: None for s in set(streams)}
    if isinstance(max_tokens, Mapping):
        unknown = set(max_tokens) - set(names)
        if unknown:
            raise ValueError(f"max_tokens names unknown modalities {sorted(unknown)}; modalities: {list(names)}")
        out = {s: None for s in set(streams)}
        for n, s in zip(names, streams):  # a shared stream takes the largest length given for it
            if n in max_tokens:
                out[s] = max(int(max_tokens[n]), out[s] or 0)
        return out
    if int(max_tokens) < 1:
        raise ValueError(f"max_tokens must be a positive int; got {max_tokens!r}")
    # two streams (two-tower): an int is the text's length; the image tower's patches are fixed in number
    return {s: (int(max_tokens) if s == streams[0] else None) for s in set(streams)}


def _pad(x: torch.Tensor, length: int, start: int, what: str) -> torch.Tensor:
    if x.shape[1] > length:
        raise ValueError(f"the batch at example {start} has {x.shape[1]} {what} tokens but the token arrays hold "
                         f"{length} (the first batch's length, or max_tokens): pass max_tokens= at least the "
                         f"longest sequence (two-tower: max_tokens={{{what!r}: ...}} for either tower), or make the "
                         "processor pad to a fixed length (padding='max_length', max_length=...)")
    if x.shape[1] == length:
        return x
    pad = x.new_zeros((x.shape[0], length - x.shape[1], *x.shape[2:]))
    return torch.cat([x, pad], dim=1)


def _pool(h: torch.Tensor, mask: torch.Tensor, dtype) -> torch.Tensor:
    """Mean of ``h (B, T, D)`` over the tokens ``mask (B, T)`` keeps, in float32 (float64 if ``dtype`` is)."""
    accumulate = torch.float64 if np.dtype(dtype) == np.float64 else torch.float32
    weights = mask.to(h.device, accumulate)[..., None]
    return (h.to(accumulate) * weights).sum(1) / weights.sum(1).clamp_min(1)


class _Job(NamedTuple):
    """What every pass needs: the model, its layout, the layer plan and the options."""

    model: Any
    bound: Bound
    plan: dict
    names: tuple
    open_pass: Callable
    device: Any
    label_key: str
    predict: Callable | None
    progress: bool


class _First(NamedTuple):
    """What the extraction pass leaves for the ablation and the files."""

    chosen: list
    predictions: Any
    labels: Any
    label_blocks: list
    rows: list
    means: dict | None
    kept: dict
    source: str
    lengths: dict


def extract(model, batches: Iterable, layout, *, out_dir=None, layers=None, pairing="relative",
            projections=True, tokens=False, max_tokens=None, special_ids=None, include_special=False,
            ablation=False, predict=None, label_key="labels", modality_names=("text", "image"),
            dtype=np.float32, progress=True) -> TorchExtraction:
    """The implementation of :func:`pidjax.adapters.torch.extract_torch` (see its docstring)."""
    names = _modality_names(modality_names)
    if not isinstance(model, torch.nn.Module):
        raise ValueError(f"model must be a torch.nn.Module (a Hugging Face model); got {type(model).__name__}")
    if predict is not None and not callable(predict):
        raise ValueError(f"predict must be a callable (model_output, batch) -> (B,) ids; got {type(predict).__name__}")
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise ValueError(f"dtype must be a float dtype; got {dtype}")
    layout = resolve_layout(layout)
    open_pass = _passes(batches, ablation)
    bound = layout.bind(model, special_ids, include_special)
    plan, pairing_info = _plan(bound, pairing, names)
    targets = _targets(max_tokens, names, bound.streams)
    folder = _out_folder(out_dir)
    job = _Job(model, bound, plan, names, open_pass, _device(model), label_key, predict, progress)
    sinks: dict = {}
    try:
        with _untouched(model), torch.no_grad():
            model.eval()
            first = _extraction_pass(job, layers, projections, tokens, targets, ablation, dtype, folder, sinks)
            ablated = _ablation_passes(job, first) if ablation else None
        return _finish(job, first, ablated, pairing_info, sinks, folder, tokens, include_special, dtype)
    except BaseException:
        for sink in sinks.values():
            sink.abort()
        raise


def _extraction_pass(job: _Job, layers, projections, tokens, targets, ablation, dtype, folder, sinks) -> _First:
    from tqdm.auto import tqdm

    bound, plan, names, streams = job.bound, job.plan, job.names, job.bound.streams
    sites = {site for name in plan for site in plan[name]}
    captured: dict = {}
    # capture exactly what an ablation hook will replace: for the last block of a language model that is
    # the block's output, before the final norm that hidden_states[-1] includes
    handles = [_hook(bound, site, lambda h, s=site: captured.__setitem__(s, h)) for site in sites] if ablation else []
    sums, counts, kept = {}, {}, {n: 0 for n in names}
    chosen, source = None, ""
    preds, label_blocks, rows_seen, start = [], [], [], 0
    iterator, total = job.open_pass()
    bar = tqdm(total=total, desc="embeddings", unit="batch", disable=not job.progress)
    try:
        for batch in iterator:
            inputs, labels = _split(batch, job.label_key, job.device, start)
            rows = _rows(inputs, start)
            step = bound.run(inputs, start, True, None)
            if chosen is None:
                _check_depth(job, step)
                has_proj = bool(projections) and step.proj is not None
                chosen = _select(plan, layers, has_proj)
                source = _prediction_source(job.predict, step.output)
                targets = {s: targets[s] or int(step.masks[streams.index(s)].shape[1]) for s in targets}
                _open_sinks(sinks, chosen, names, tokens, folder, dtype, bound.layout.single_stream)
            for k, mask in enumerate(step.masks):
                empty = ~mask.any(dim=1)
                if bool(empty.any()):
                    raise ValueError(f"example {start + int(empty.nonzero()[0, 0])} keeps no {names[k]} token "
                                     f"(layout {bound.layout.name!r}: {bound.policy})")
                kept[names[k]] += int(mask.sum())
            for name in chosen:
                if name == "proj":
                    for k in (0, 1):
                        block = _numpy(step.proj[k].float())
                        sinks[("pooled", name, k)].append(block)
                        if ("proj", name, k) in sinks:
                            sinks[("proj", name, k)].append(block)
                    continue
                for k, site in enumerate(plan[name]):
                    h = step.hidden[site.stream][site.index]
                    sinks[("pooled", name, k)].append(_numpy(_pool(h, step.masks[k], dtype)))
                    sink = sinks.get(("tokens", name, k))
                    if isinstance(sink, _Sink):  # not the second modality of a fused array
                        sink.append(_numpy(_pad(h, targets[site.stream], start, names[k]).float()))
                    if ablation:
                        point = captured[site]
                        m = step.masks[k].to(point.device)
                        sums[(name, k)] = sums.get((name, k), 0) + (point.double() * m[..., None]).sum(dim=(0, 1))
                        counts[(name, k)] = counts.get((name, k), 0) + int(m.sum())
            if tokens:
                for k in (0, 1):
                    sinks[("mask", k)].append(_numpy(_pad(step.masks[k], targets[streams[k]], start, names[k])))
            pred = _predictions(step.output, inputs, batch, job.predict, rows, start)
            if pred is not None:
                preds.append(pred)
            if labels is not None:
                if labels.shape[0] != rows:
                    raise ValueError(f"batch at example {start}: {job.label_key!r} has {labels.shape[0]} entries "
                                     f"for {rows} examples")
                label_blocks.append(labels)
            captured.clear()
            rows_seen.append(rows)
            start += rows
            bar.update(1)
    finally:
        bar.close()
        for handle in handles:
            handle.remove()
    if chosen is None:
        raise ValueError("batches is empty")
    predictions = np.concatenate(preds) if preds and sum(map(len, preds)) == start else None
    labels = np.concatenate(label_blocks) if label_blocks and sum(map(len, label_blocks)) == start else None
    means = {key: sums[key] / max(counts[key], 1) for key in sums} if ablation else None
    lengths = {names[k]: targets[streams[k]] for k in (0, 1)} if tokens else {}
    return _First(chosen, predictions, labels, label_blocks, rows_seen, means, kept, source, lengths)


def _check_depth(job: _Job, step):
    for s, (hidden, blocks) in enumerate(zip(step.hidden, job.bound.blocks)):
        if len(hidden) != len(blocks) + 1:
            raise ValueError(f"{type(job.model).__name__} returned {len(hidden)} hidden states for "
                             f"{job.bound.block_paths[s]} ({len(blocks)} blocks); expected {len(blocks) + 1} (the "
                             "input of the first block, then every block's output)")


def _open_sinks(sinks, chosen, names, tokens, folder, dtype, single_stream):
    def at(name: str, pooled: bool = False):
        if folder is None:
            return None
        sub = folder / "pooled" if (tokens and pooled) else folder
        sub.mkdir(exist_ok=True)
        return sub / name

    for name in chosen:
        for k in (0, 1):
            sinks[("pooled", name, k)] = _Sink(at(f"layer.{name}.{names[k]}.npy", pooled=True), dtype)
        if not tokens:
            continue
        if name == "proj":
            if folder is not None:  # no token axis: the projected vectors stand beside the token arrays as they are
                for k in (0, 1):
                    sinks[("proj", name, k)] = _Sink(at(f"layer.{name}.{names[k]}.npy"), dtype)
        elif single_stream:
            sink = _Sink(at(f"fused.{name}.npy"), dtype)
            sinks[("tokens", name, 0)] = sink
            sinks[("tokens", name, 1)] = _Alias(sink)
        else:
            for k in (0, 1):
                sinks[("tokens", name, k)] = _Sink(at(f"layer.{name}.{names[k]}.npy"), dtype)
    if tokens:
        for k in (0, 1):
            sinks[("mask", k)] = _Sink(at(f"mask.{names[k]}.npy"), np.bool_)


class _Alias:
    """The second modality of a fused array: appends nothing, finishes to the first's array."""

    def __init__(self, sink: _Sink):
        self.sink = sink

    def append(self, block):
        pass

    @property
    def result(self):
        return self.sink.result

    def abort(self):
        pass


def _ablation_passes(job: _Job, first: _First) -> dict:
    from tqdm.auto import tqdm

    if first.predictions is None:
        raise ValueError(f"ablation=True records the model's predictions, but {type(job.model).__name__} gives none "
                         "(no classification or LM logits): pass predict=(model_output, batch) -> (B,) ids")
    bound, names = job.bound, job.names
    targets = [(name, k) for name in first.chosen if name != "proj" for k in (0, 1)]
    ablated: dict = {}
    current: dict = {}
    bar = tqdm(total=len(targets) * len(first.rows), desc="ablation", unit="batch", disable=not job.progress)
    try:
        for name, k in targets:
            handle = _hook(bound, job.plan[name][k], _replacement(first.means[(name, k)], k, current, bound, names))
            try:
                ablated.setdefault(name, {})[names[k]] = _rerun(job, first, current, bar)
            finally:
                handle.remove()
    finally:
        bar.close()
    return ablated


def _replacement(mean: torch.Tensor, k: int, current: dict, bound: Bound, names):
    """``h -> h`` with modality ``k``'s tokens (two-tower: the whole tower) replaced by ``mean``."""
    whole_tower = not bound.layout.single_stream

    def replace(h):
        mu = mean.to(h.device, h.dtype)
        if whole_tower:
            return mu.expand(h.shape).contiguous()
        mask = current["masks"][k].to(h.device)
        if tuple(mask.shape) != tuple(h.shape[:2]):
            raise ValueError(f"ablation: the {names[k]} mask has shape {tuple(mask.shape)} but the hidden states "
                             f"{tuple(h.shape)}")
        return torch.where(mask[..., None], mu, h)

    return replace


def _rerun(job: _Job, first: _First, current: dict, bar) -> np.ndarray:
    iterator, _ = job.open_pass()
    preds, start = [], 0
    for b, batch in enumerate(iterator):
        inputs, labels = _split(batch, job.label_key, job.device, start)
        rows = _rows(inputs, start)
        same = b < len(first.rows) and rows == first.rows[b] and (
            labels is None or b >= len(first.label_blocks) or np.array_equal(labels, first.label_blocks[b]))
        if not same:
            raise ValueError(f"ablation: batch {b} differs from the first pass (size or labels); the batches must "
                             "come in the same order every time (no shuffling)")
        current.clear()
        step = job.bound.run(inputs, start, False, lambda masks: current.__setitem__("masks", masks))
        preds.append(_predictions(step.output, inputs, batch, job.predict, rows, start))
        start += rows
        bar.update(1)
    if len(preds) != len(first.rows):
        raise ValueError(f"ablation: a pass gave {len(preds)} batches, the first pass {len(first.rows)}; the batches "
                         "must be the same every time")
    return np.concatenate(preds)


def _accuracy(pred: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(np.asarray(pred) == np.asarray(labels)))


def ablation_scores(predictions, ablated: dict, labels, names) -> dict:
    """``{layer: {"accuracy", "ablation_drop_1", "ablation_drop_2"}}`` (fractions) of ablated predictions.

    ``ablated`` is ``{layer: {modality: (N,)}}``; ``names`` the two modality names in order.
    """
    full = _accuracy(predictions, labels)
    return {layer: {"accuracy": full, **{f"ablation_drop_{i}": full - _accuracy(by_modality[m], labels)
                                         for i, m in enumerate(names, start=1) if m in by_modality}}
            for layer, by_modality in ablated.items()}


def _finish(job: _Job, first: _First, ablated, pairing_info, sinks, folder, tokens, include_special,
            dtype) -> TorchExtraction:
    names = job.names
    chosen = first.chosen
    for sink in sinks.values():
        if isinstance(sink, _Sink):
            sink.result = sink.finish()
    layers = {name: tuple(sinks[("pooled", name, k)].result for k in (0, 1)) for name in chosen}
    token_arrays = masks = None
    if tokens:
        token_arrays = {name: tuple(sinks[("tokens", name, k)].result for k in (0, 1))
                        for name in chosen if name != "proj"}
        masks = {names[k]: sinks[("mask", k)].result for k in (0, 1)}
    ablation = None
    if ablated is not None and first.labels is not None:
        ablation = ablation_scores(first.predictions, ablated, first.labels, names)
    meta = _meta(job, first, ablated, ablation, pairing_info, tokens, include_special, dtype)
    if folder is not None:
        if first.predictions is not None:
            _save(folder / "predictions.npy", first.predictions)
        if first.labels is not None:
            _save(folder / "labels.npy", first.labels)
        for name, by_modality in (ablated or {}).items():
            for modality, pred in by_modality.items():
                _save(folder / f"ablated.{name}.{modality}.npy", pred)
        meta["files"] = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()
                               and not p.name.endswith(".partial")) + ["extraction.json"]
        tmp = folder / "extraction.json.partial"
        tmp.write_text(json.dumps(meta, indent=2) + "\n")
        os.replace(tmp, folder / "extraction.json")
    return TorchExtraction(layers, first.predictions, first.labels, masks, ablated, ablation, folder, meta,
                           token_arrays)


def _meta(job: _Job, first: _First, ablated, ablation, pairing_info, tokens, include_special, dtype) -> dict:
    names, plan, bound = job.names, job.plan, job.bound
    two = not bound.layout.single_stream
    stream_names = [f"{names[0]} tower", f"{names[1]} tower"] if two else ["fused"]
    layers = {}
    for name in first.chosen:
        if name == "proj":
            layers[name] = {m: {"source": "text_embeds" if k == 0 else "image_embeds"} for k, m in enumerate(names)}
        else:
            layers[name] = {m: {"stream": stream_names[plan[name][k].stream], "hidden_state": plan[name][k].index}
                            for k, m in enumerate(names)}
    meta = {
        "layout": bound.layout.name,
        "model_class": type(job.model).__name__,
        "modalities": list(names),
        "layers": layers,
        **pairing_info,
        "hidden_states": {stream_names[s]: len(b) + 1 for s, b in enumerate(bound.blocks)},
        "special_tokens": {"ids": None if bound.special_ids is None else list(bound.special_ids),
                           "include_special": bool(include_special), "policy": bound.policy},
        "pooling": "mean over each modality's kept tokens",
        "predictions": first.source,
        "label_key": job.label_key,
        "dtype": str(np.dtype(dtype)),
        "counts": {"examples": int(sum(first.rows)), "batches": len(first.rows), "kept_tokens": first.kept,
                   "labels": None if first.labels is None else int(len(first.labels)),
                   "predictions": None if first.predictions is None else int(len(first.predictions))},
        "tokens": ({"saved": True, "length": first.lengths,
                    "files": "fused.<layer>.npy + mask.<modality>.npy" if not two else
                    "layer.<layer>.<modality>.npy (N, T, D) + mask.<modality>.npy; pooled vectors in pooled/"}
                   if tokens else {"saved": False}),
    }
    if ablated is not None:
        meta["ablation"] = {
            "replacement": ("the whole tower's token states at that hidden state" if two else
                            "the modality's kept tokens at that hidden state") + " := the data-set mean of the "
                           "modality's kept tokens there",
            "points": {name: {names[k]: _point(bound, plan[name][k]) for k in (0, 1)} for name in ablated},
            "skipped": ["proj"] if "proj" in first.chosen else [],
            "accuracy": ablation,
        }
    return meta
