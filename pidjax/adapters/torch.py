"""Per-layer, per-modality embeddings from PyTorch / Hugging Face multimodal models.

:func:`extract_torch` runs a model over a dataset of processor batches and returns
``{layer: (E1 (N, d1), E2 (N, d2))}`` (each modality's tokens mean-pooled per example) plus the
model's predictions, the input :func:`pidjax.analysis.layer_sweep` expects; with ``out_dir``
it streams them to a folder :func:`pidjax.io.load_embeddings` reads. A *layout* says where a
model family keeps each modality's tokens (:data:`LAYOUTS`); :func:`layout_for` finds one by
name or from the model. For any other ``torch.nn.Module``, :func:`extract_modules` reads the
outputs of modules named by their path through forward hooks. Hooks are temporary, and the
model is left as it was found.

Importing this module imports torch; ``import pidjax`` and ``import pidjax.adapters`` do not.
"""

from __future__ import annotations

from typing import Callable, Iterable, Sequence

import numpy as np

from pidjax.adapters._torch_extract import TorchExtraction, extract, resolve_layout
from pidjax.adapters._torch_layouts import ALIASES, Layout, special_token_ids
from pidjax.adapters._torch_layouts import LAYOUTS as _LAYOUT_RECORDS
from pidjax.adapters._torch_modules import extract_modules

LAYOUTS: dict[str, str] = {name: layout.description for name, layout in _LAYOUT_RECORDS.items()}
"""Layout name -> description: ``"two-tower"``, ``"image-tokens"``, ``"segments"``."""

__all__ = ["ALIASES", "LAYOUTS", "Layout", "TorchExtraction", "extract_modules", "extract_torch", "layout_for",
           "special_token_ids"]


def layout_for(name_or_model) -> Layout:
    """The :class:`Layout` named, or the one a model's structure suggests.

    Args:
      name_or_model: a layout name (``"two-tower"``, ``"image-tokens"``, ``"segments"``), a
        family alias (``"clip"``, ``"siglip"``, ``"llava"``, ``"idefics3"``, ``"smolvlm"``,
        ``"paligemma"``, ``"vilt"``), a :class:`Layout`, or a model (guessed from its
        attributes: ``text_model`` + ``vision_model`` -> two-tower, ``config.image_token_id`` ->
        image-tokens, ViLT-style embeddings -> segments).

    Returns:
      The :class:`Layout`; ``layout.prompt(text, processor)`` formats a row's prompt for the
      family's processor (image-tokens puts the processor's image token in when it is missing).

    Raises:
      ValueError: an unknown name, or a model whose layout cannot be told; the message lists
        the layouts.

    Example:
      >>> layout_for("llava").name
      'image-tokens'
      >>> layout_for("idefics3").prompt("a photo of a cat")
      '<image>\\na photo of a cat'
    """
    return resolve_layout(name_or_model)


def extract_torch(
    model,
    batches: Iterable | Callable,
    layout,
    *,
    out_dir=None,
    layers: Sequence[str] | None = None,
    pairing="relative",
    projections: bool = True,
    tokens: bool = False,
    max_tokens=None,
    special_ids: Sequence[int] | None = None,
    include_special: bool = False,
    ablation: bool = False,
    predict: Callable | None = None,
    label_key: str = "labels",
    modality_names: tuple[str, str] = ("text", "image"),
    dtype=np.float32,
    progress: bool = True,
) -> TorchExtraction:
    """Per-layer ``(E1, E2)`` embeddings of a PyTorch multimodal model, pooled per example and modality.

    Every batch is run once under ``torch.no_grad()`` in eval mode with
    ``output_hidden_states=True``. Layer ``"00"`` is hidden state 0 (the input of the first
    block: the embedding output), layer ``"03"`` the output of block 2, and so on (Hugging
    Face's ``hidden_states``; for language models the last one includes the final norm). Each
    modality's vector is the mean over its *kept* tokens (the layout's mask, special tokens
    excluded unless ``include_special``).

    Layouts (:data:`LAYOUTS`):

    - ``two-tower`` (CLIP): text = the text tower's tokens under the attention mask minus the
      special ids (BOS/EOS/padding; CLIP itself pools the EOS token, which is excluded here
      unless ``include_special=True``); image = the vision tower's patches (the class token is
      special). Towers of different depth: ``pairing="relative"`` pairs hidden state ``j`` of the
      shallower tower with hidden state ``round_half_up(j * L_deep / L_shallow)`` of the deeper
      one and names the pair ``j`` zero-padded; ``pairing=[(text index, image index), ...]``
      pairs explicitly, named ``"t{i}-v{j}"``. ``meta["unpaired"]`` lists the hidden states
      left out. ``"proj"``: the model's ``text_embeds`` / ``image_embeds`` (projected and
      L2-normalised as CLIP returns them), when ``projections``.
    - ``image-tokens`` (LLaVA, Idefics3/SmolVLM, PaliGemma): image = positions where
      ``input_ids == config.image_token_id``; text = attention mask minus image minus
      ``special_ids`` (default: the config's bos/eos/pad ids; pass
      :func:`special_token_ids` ``(processor)`` so template tokens such as
      ``<fake_token_around_image>`` or ``<global-img>`` count as neither modality).
    - ``segments`` (ViLT): text = the first ``T_text`` positions under the attention mask,
      image = the rest under ViLT's own patch mask (read from its embeddings module by a
      temporary hook). Special: the image class token, and ``[CLS]``/``[SEP]`` (by position:
      the first and last attended text token, unless ``special_ids`` selects by id). ViLT
      orders the patches randomly in every forward pass (``torch.multinomial``): pooled
      vectors do not depend on it, token arrays do.

    Args:
      model: a ``torch.nn.Module`` (a Hugging Face model). Not modified: every module's
        training flag and hooks are restored afterwards, also after an error.
      batches: an iterable of dicts of tensors as a processor returns them (``input_ids``,
        ``attention_mask``, ``pixel_values``, ...), plus optionally ``label_key`` (not passed to
        the model), or a zero-arg callable returning such an iterator. With ``ablation`` it must
        be re-iterable (a list, a sequence, a data loader without shuffling, or the callable).
      layout: a layout name or alias, a :class:`Layout`, or ``layout_for(model)``.
      out_dir: stream to this (new or empty) folder: ``layer.<layer>.<modality>.npy`` ``(N, D)``,
        ``labels.npy``, ``predictions.npy``, ``ablated.<layer>.<modality>.npy`` and
        ``extraction.json``; one batch is held in memory at a time, and each file is written
        as ``<name>.partial`` and renamed when complete (``extraction.json`` last).
      layers: the layer names to keep (default all, plus ``"proj"`` for two-tower).
      pairing: ``"relative"`` or a list of ``(text index, image index)`` (two-tower only).
      projections: add layer ``"proj"`` (two-tower).
      tokens: also keep token arrays. Single-stream layouts: one fused ``(N, T, D)`` array
        per layer (file ``fused.<layer>.npy``) and one ``mask.<modality>.npy`` ``(N, T)``
        bool per modality; two-tower: ``layer.<layer>.<modality>.npy`` ``(N, T_m, D_m)`` with
        ``mask.<modality>.npy``. On disk the pooled vectors then go to ``out_dir/pooled/``
        (so the loader does not see two arrays for one key); ``"proj"`` has no token axis and
        is written as ``layer.proj.<modality>.npy`` ``(N, P)``.
      max_tokens: the token axis length ``T`` the token arrays are right-padded to (zeros, mask
        ``False``); default the first batch's length. Two-tower: an int is the text tower's
        length (the image tower's number of patches is fixed), ``{modality: int}`` sets either.
      special_ids: token ids that are special (see the layouts), e.g.
        ``special_token_ids(processor)``.
      include_special: count special tokens (BOS/EOS/[CLS]/[SEP]/template tokens, class
        tokens) as tokens of their modality. Padding is never counted.
      ablation: mean-ablate: for each extracted layer (not ``"proj"``) and modality, rerun the
        data with that modality's tokens in that hidden state replaced by their data-set mean
        (one vector per layer and modality, over all kept tokens of all examples), through a
        temporary hook on the module producing that hidden state (hidden state 0: the input of
        the first block; ``i``: the output of block ``i - 1``, before a final norm); two-tower
        replaces every token of that tower. Records the predictions.
      predict: ``(model_output, batch) -> (B,)`` predicted ids, replacing the default: argmax of
        ``(B, C)`` logits, or of ``(B, T, V)`` LM logits at the last attention-masked position
        (the next token); CLIP has none by default.
      label_key: the batch key holding labels (removed before the model is called).
      modality_names: the two modality names (files, masks, meta); modality 1 is the text.
      dtype: float dtype of the saved embeddings.
      progress: tqdm progress bars over the batches (and the ablation passes).

    Returns:
      :class:`TorchExtraction` with ``layers = {layer: (E1 (N, d1), E2 (N, d2))}``,
      ``predictions (N,)``, ``labels (N,)``, ``masks`` and ``tokens`` (``tokens=True``),
      ``ablated = {layer: {modality: (N,)}}`` and ``ablation = {layer: {"accuracy",
      "ablation_drop_1", "ablation_drop_2"}}`` (fractions; with labels), ``path`` and ``meta``.

    Raises:
      ValueError: a layout that does not match the model (the message names the attributes or
        tokens expected and what the model has); an example without image tokens (image-tokens;
        names the example and the id); an example keeping no token of a modality; a later batch
        longer than the token arrays (pass ``max_tokens``); a one-shot iterator with ``ablation``;
        ablation without predictions; an unknown layer name or a bad pairing; a non-empty
        ``out_dir``; no batches.

    Example:
      >>> from transformers import AutoModelForImageTextToText, AutoProcessor  # doctest: +SKIP
      >>> model = AutoModelForImageTextToText.from_pretrained(folder)  # doctest: +SKIP
      >>> processor = AutoProcessor.from_pretrained(folder)  # doctest: +SKIP
      >>> layout = layout_for(model)  # doctest: +SKIP
      >>> batch = processor(text=[layout.prompt("a photo of a cat", processor)], images=[image],
      ...                   padding=True, return_tensors="pt")  # doctest: +SKIP
      >>> ex = extract_torch(model, [batch], layout, special_ids=special_token_ids(processor))  # doctest: +SKIP
      >>> ex.layers["02"][0].shape  # doctest: +SKIP
      (1, 32)
    """
    return extract(model, batches, layout, out_dir=out_dir, layers=layers, pairing=pairing, projections=projections,
                   tokens=tokens, max_tokens=max_tokens, special_ids=special_ids, include_special=include_special,
                   ablation=ablation, predict=predict, label_key=label_key, modality_names=modality_names,
                   dtype=dtype, progress=progress)
