"""A Hugging Face model and its processor from a local folder or a factory, run over rows of a data set.

:func:`load_checkpoint` opens what ``save_pretrained`` wrote (no network: every load is
``local_files_only``), or calls an importable factory ``"package.module:function"``.
:func:`extract_rows` turns a checked :class:`~pidjax.adapters._rows.Rows` data set into
processor batches and streams them through :func:`pidjax.adapters.torch.extract_torch`,
writing the embeddings folder ``pidjax analyze`` reads.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
from pathlib import Path

import numpy as np

from pidjax.io import InputError

WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                "pytorch_model.bin.index.json")
PROCESSOR_FILES = ("processor_config.json", "preprocessor_config.json", "tokenizer.json", "tokenizer_config.json")


def _check_folder(folder: Path):
    missing = []
    if not (folder / "config.json").is_file():
        missing.append("config.json")
    if not any((folder / f).is_file() for f in WEIGHT_FILES):
        missing.append(" or ".join(WEIGHT_FILES[::2]))
    if not any((folder / f).is_file() for f in PROCESSOR_FILES):
        missing.append("a processor (" + " / ".join(PROCESSOR_FILES[:2]) + " and tokenizer files)")
    if missing:
        raise InputError(f"checkpoint folder {folder} lacks {'; '.join(missing)} "
                         "(save both the model and its processor with save_pretrained)")


def _model_class(folder: Path):
    import transformers

    try:
        config = json.loads((folder / "config.json").read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"{folder / 'config.json'} is not readable JSON ({exc})") from None
    for name in config.get("architectures") or ():
        cls = getattr(transformers, name, None)
        if cls is not None:
            return cls
    return transformers.AutoModel


def _factory(spec: str):
    module_name, _, attr = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise InputError(f"--model {spec}: cannot import {module_name} ({exc})") from None
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise InputError(f"--model {spec}: {module_name} has no callable {attr!r}")
    made = fn()
    model, processor = made if isinstance(made, tuple) else (made, None)
    if processor is None:
        raise InputError(f"--model {spec}: the factory must return (model, processor); it returned no processor")
    return model, processor


def load_checkpoint(source, *, torch_dtype=None):
    """The model (in eval mode) and its processor from a local checkpoint folder or a factory.

    Args:
      source: a folder written by ``model.save_pretrained`` and ``processor.save_pretrained``,
        or ``"package.module:function"`` naming a zero-argument callable returning
        ``(model, processor)``.
      torch_dtype: optional dtype to load the weights in (e.g. ``torch.float32``).

    Returns:
      ``(model, processor)``.

    Raises:
      InputError: a missing folder or missing files (named), a factory that cannot be imported
        or returns no processor, or weights that transformers cannot load.

    Example:
      >>> model, processor = load_checkpoint("checkpoints/tiny-clip")  # doctest: +SKIP
    """
    spec = str(source)
    folder = Path(spec)
    if not folder.exists() and ":" in spec and not spec.startswith((".", "/")):
        return _factory(spec)
    if not folder.is_dir():
        raise InputError(f"no such checkpoint folder: {folder}")
    _check_folder(folder)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoProcessor

    cls = _model_class(folder)
    kw = {"local_files_only": True}
    if torch_dtype is not None:
        kw["dtype"] = torch_dtype
    try:
        model = cls.from_pretrained(folder, **kw)
        processor = AutoProcessor.from_pretrained(folder, local_files_only=True)
    except (OSError, ValueError, KeyError, RuntimeError, ImportError) as exc:  # RuntimeError: shape mismatch
        raise InputError(f"cannot load the checkpoint in {folder} ({' '.join(str(exc).split())[:300]})") from None
    model.eval()
    return model, processor


def _tokenizer(processor):
    return getattr(processor, "tokenizer", processor)


def _prompts(rows, layout, processor, template: str | None) -> list[str]:
    """The text given to the processor for each row: the layout's own prompt, or ``template``
    with ``{text}`` and ``{image}`` (the processor's image token)."""
    if template is None:
        return [layout.prompt(t, processor) for t in rows.texts]
    if "{text}" not in template:
        raise InputError(f"--prompt {template!r} must contain {{text}}")
    if layout.name == "image-tokens" and "{image}" not in template:
        raise InputError(f"--prompt {template!r} must contain {{image}}, where the image tokens go")
    image_token = getattr(processor, "image_token", None) or "<image>"
    return [template.replace("{image}", image_token).replace("{text}", t) for t in rows.texts]


def _text_length(processor, prompts: list[str], model) -> int:
    """The longest tokenised prompt, capped at the model's text positions (fixed padding)."""
    tok = _tokenizer(processor)
    longest = max(len(ids) for ids in tok(prompts)["input_ids"])
    config = getattr(model.config, "text_config", model.config)
    limit = getattr(config, "max_position_embeddings", None) or longest
    return int(min(longest, limit))


class RowBatches:
    """Processor batches over the rows, re-iterable (each pass reloads the images) and sized.

    Text is padded to one fixed length for every batch (the longest prompt, within the model's
    positions), so token arrays line up across batches; for image-token layouts the processor
    pads each batch to its longest sequence.
    """

    def __init__(self, processor, rows, layout, model, batch_size: int, prompt: str | None):
        self.processor, self.rows, self.batch_size = processor, rows, batch_size
        self.prompts = _prompts(rows, layout, processor, prompt)
        self.fixed = None if layout.name == "image-tokens" else _text_length(processor, self.prompts, model)
        self.device = next(model.parameters()).device
        # Idefics3 / SmolVLM processors take a list of images per text
        self.nested = type(processor).__name__.startswith(("Idefics", "SmolVLM"))

    def __len__(self) -> int:
        return -(-len(self.prompts) // self.batch_size)

    def __iter__(self):
        from pidjax.adapters._rows import load_image

        n = len(self.prompts)
        kw = ({"padding": "longest"} if self.fixed is None else
              {"padding": "max_length", "max_length": self.fixed, "truncation": True})
        for start in range(0, n, self.batch_size):
            stop = min(start + self.batch_size, n)
            images = [load_image(self.rows.images[i], i + 1) for i in range(start, stop)]
            try:
                batch = self.processor(text=self.prompts[start:stop], return_tensors="pt",
                                       images=[[im] for im in images] if self.nested else images, **kw)
            except (ValueError, TypeError) as exc:
                raise InputError(f"rows {start + 1}-{stop}: the processor rejected the batch "
                                 f"({' '.join(str(exc).split())[:300]})") from None
            # a processor's "labels" are language-model targets for training, not the rows' labels
            yield {k: v.to(self.device) if hasattr(v, "to") else v for k, v in batch.items() if k != "labels"}


def row_batches(processor, rows, layout, model, *, batch_size: int = 16, prompt: str | None = None) -> RowBatches:
    """Re-iterable processor batches over ``rows`` for ``layout`` (a :class:`pidjax.adapters.torch.Layout`).

    Raises:
      InputError: a prompt template without ``{text}`` (or, for image-token layouts, without
        ``{image}``); while iterating, an unreadable image (names the row) or a processor that
        rejects a batch.
    """
    return RowBatches(processor, rows, layout, model, batch_size, prompt)


def _as_label_values(ids: np.ndarray, model, processor, labels) -> np.ndarray:
    """Predicted ids as the labels' values: class names (``id2label``) or decoded tokens when the
    labels are strings, else the ids."""
    if labels is None or not np.issubdtype(np.asarray(labels).dtype, np.str_):
        return ids
    id2label = getattr(model.config, "id2label", None) or {}
    if id2label and not all(str(v).startswith("LABEL_") for v in id2label.values()):
        return np.array([str(id2label.get(int(i), int(i))) for i in ids])
    tok = _tokenizer(processor)
    return np.array([tok.decode([int(i)]).strip() for i in ids])


def extract_rows(model, processor, rows, layout, out_dir, *, batch_size: int = 16, prompt: str | None = None,
                 overwrite: bool = False, progress: bool = True, **options):
    """Stream a data set of rows through a Hugging Face model into an embeddings folder.

    The folder is written as ``<out_dir>.partial`` and renamed to ``out_dir`` only when every
    file is complete, so an interrupted run leaves no folder that looks finished; run the same
    command again to start over.

    Args:
      model, processor: from :func:`load_checkpoint`.
      rows: :class:`~pidjax.adapters._rows.Rows` (``read_rows``).
      layout: a layout name or object (:func:`pidjax.adapters.torch.layout_for`).
      out_dir: the embeddings folder to write.
      batch_size: rows per forward pass.
      prompt: template for the text of each row, with ``{text}`` and, for image-token layouts,
        ``{image}`` (replaced by the processor's image token); default: the layout's
        ``prompt`` (image-token layouts put the image token before the text).
      overwrite: replace an existing ``out_dir``.
      options: passed to :func:`pidjax.adapters.torch.extract_torch` (``tokens``,
        ``ablation``, ``pairing``, ``include_special``, ``layers``, ...).

    Returns:
      The :class:`~pidjax.adapters.torch.TorchExtraction` (``path`` is ``out_dir``).

    Raises:
      InputError: ``out_dir`` exists (without ``overwrite``) or is a file, and what
        :func:`row_batches` raises; ValueError: what ``extract_torch`` raises for a layout that
        does not fit the model.
    """
    from pidjax.adapters.torch import extract_torch, layout_for, special_token_ids

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"output {out} exists and is a file")
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise InputError(f"output folder {out} is not empty; choose another --out or pass --overwrite")
        if not (out / "extraction.json").is_file():  # --overwrite replaces an extraction, nothing else
            raise InputError(f"--overwrite replaces an earlier extraction, but {out} holds no extraction.json: "
                             "choose another --out")
    lay = layout_for(layout)
    partial = out.with_name(out.name + ".partial")
    if partial.exists():
        shutil.rmtree(partial)
    batches = row_batches(processor, rows, lay, model, batch_size=batch_size, prompt=prompt)
    options.setdefault("special_ids", special_token_ids(processor))
    if options.get("tokens") and lay.name == "image-tokens" and options.get("max_tokens") is None:
        # the processor pads each batch to its own longest sequence: one pass over the processor
        # alone finds the length every token array is padded to
        options["max_tokens"] = max(int(batch["input_ids"].shape[1]) for batch in batches)
    try:
        result = extract_torch(model, batches, lay, out_dir=partial, progress=progress, **options)
        labels = rows.label_sets.get("labels")
        for key, values in rows.label_sets.items():
            np.save(partial / ("labels.npy" if key == "labels" else f"labels.{key}.npy"), values)
        predictions = ablated = None
        if result.predictions is not None:
            predictions = _as_label_values(np.asarray(result.predictions), model, processor, labels)
            np.save(partial / "predictions.npy", predictions)
        if result.ablated:
            ablated = {layer: {mod: _as_label_values(np.asarray(preds), model, processor, labels)
                               for mod, preds in mods.items()} for layer, mods in result.ablated.items()}
            for layer, mods in ablated.items():
                for mod, preds in mods.items():
                    np.save(partial / f"ablated.{layer}.{mod}.npy", preds)
        scores = _accuracies(predictions, ablated, labels, result.meta)
        info = partial / "extraction.json"
        meta = json.loads(info.read_text()) if info.is_file() else {}
        meta.update({"rows": str(rows.source), "n_rows": len(rows.texts), "batch_size": batch_size,
                     "prompt": prompt, "labels": list(rows.label_sets), "accuracy": scores,
                     "files": sorted(str(f.relative_to(partial)) for f in partial.rglob("*") if f.is_file())})
        info.write_text(json.dumps(meta, indent=1, default=str))
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)  # no half-written folder is left behind
        raise
    if out.exists():
        shutil.rmtree(out)
    partial.rename(out)
    return result._replace(path=out, labels=labels, predictions=predictions, ablated=ablated, ablation=scores,
                           meta={**result.meta, **meta})


def _accuracies(predictions, ablated, labels, meta) -> dict | None:
    """``{layer: {"accuracy", "ablation_drop_1", "ablation_drop_2"}}`` against the rows' labels, or None."""
    from pidjax.adapters._torch_extract import ablation_scores

    if predictions is None or ablated is None or labels is None or predictions.dtype.kind != labels.dtype.kind:
        return None
    return ablation_scores(predictions, ablated, labels, list((meta or {}).get("modalities") or ("text", "image")))
