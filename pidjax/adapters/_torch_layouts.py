"""Where each modality's tokens sit in a PyTorch / Hugging Face multimodal model: the layouts.

A layout knows three things about a family of models:

- which blocks produce its hidden states (hidden state ``i + 1`` is the output of block ``i``,
  hidden state 0 the input of block 0, as in Hugging Face's ``hidden_states``), so that
  :mod:`pidjax.adapters._torch_extract` can hook them for the ablation;
- how to run one batch and read the hidden states of every token stream;
- which positions of a stream belong to which modality (the masks), and which are special.

Three layouts cover the common families:

- ``two-tower`` (CLIP, SigLIP): a text tower and an image tower, two streams.
- ``image-tokens`` (LLaVA, Idefics3/SmolVLM, PaliGemma): image features spliced into the
  language model's token sequence at the positions of an image token; one stream.
- ``segments`` (ViLT): text tokens first, then the image class token and the patches; one stream.

:func:`bind` checks a model against a layout (a mismatch is a ``ValueError`` naming what was
expected and what the model has) and returns a :class:`Bound` with the blocks and a ``run``
function. Nothing here edits the model: the one hook a layout needs (ViLT's embedding mask) is
removed before ``run`` returns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, NamedTuple

import torch

# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class Layout:
    """One way a multimodal model lays out its modalities' tokens.

    Fields:
      name: ``"two-tower"``, ``"image-tokens"`` or ``"segments"``.
      description: one paragraph: the models, the streams, which tokens count as special.
      single_stream: both modalities share one token sequence (one fused array per layer).
      prompt: ``(text, processor=None) -> str``, the prompt the family's processor expects
        for one text and one image (``image-tokens`` puts the image token in when missing).
      bind: ``(model, special_ids, include_special) -> Bound``; checks the model.
    """

    name: str
    description: str
    single_stream: bool
    prompt: Callable[..., str]
    bind: Callable[..., "Bound"]

    def __repr__(self) -> str:
        return f"Layout({self.name!r})"


class Pass(NamedTuple):
    """What one forward pass over a batch gives back.

    Fields:
      output: the model's output (a Hugging Face ``ModelOutput``).
      hidden: per stream, the tuple of hidden states ``(B, T, D)``; ``None`` when not asked for.
      masks: per modality (1, 2), the ``(B, T)`` bool mask of its kept tokens in its stream.
      proj: ``(text (B, P), image (B, P))`` projected embeddings (two-tower), else ``None``.
    """

    output: Any
    hidden: tuple | None
    masks: tuple
    proj: tuple | None


class Bound(NamedTuple):
    """A layout checked against one model.

    Fields:
      layout: the :class:`Layout`.
      blocks: per stream, the sequence of blocks (block ``i`` outputs hidden state ``i + 1``).
      block_paths: per stream, the module path of the blocks' container (for messages, meta).
      streams: per modality (1, 2), the index of its stream: ``(0, 1)`` or ``(0, 0)``.
      special_ids: the token ids treated as special (sorted), or ``None`` where the layout
        selects special tokens by position.
      policy: one sentence saying which tokens are special, for ``extraction.json``.
      run: ``(inputs, start, hidden, on_masks) -> Pass``; ``start`` is the index of the
        batch's first example (for messages), ``on_masks(masks)`` is called with the masks as
        soon as they are known (before the blocks run, for single-stream layouts).
    """

    layout: Layout
    blocks: tuple
    block_paths: tuple
    streams: tuple
    special_ids: tuple | None
    policy: str
    run: Callable[..., Pass]


# --------------------------------------------------------------------------- shared pieces


def _children(model) -> str:
    names = [n for n, _ in model.named_children()]
    return ", ".join(names) if names else "no sub-modules"


def _path(model, dotted: str):
    obj = model
    for part in dotted.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


def _module_path(model, module) -> str:
    return next((n for n, m in model.named_modules() if m is module), "?")


def _config_ids(*configs) -> set[int]:
    ids = set()
    for cfg in configs:
        for key in ("bos_token_id", "eos_token_id", "pad_token_id", "cls_token_id", "sep_token_id"):
            value = getattr(cfg, key, None) if cfg is not None else None
            for v in (value if isinstance(value, (list, tuple)) else [value]):
                if isinstance(v, int) and v >= 0:
                    ids.add(v)
    return ids


def _special(special_ids, *configs) -> tuple[int, ...]:
    if special_ids is None:
        return tuple(sorted(_config_ids(*configs)))
    ids = [int(i) for i in special_ids]
    return tuple(sorted(set(ids)))


def _isin(ids: torch.Tensor, values) -> torch.Tensor:
    if not values:
        return torch.zeros_like(ids, dtype=torch.bool)
    return torch.isin(ids, torch.as_tensor(list(values), device=ids.device, dtype=ids.dtype))


def _attention(inputs: Mapping, ids: torch.Tensor) -> torch.Tensor:
    att = inputs.get("attention_mask")
    return torch.ones_like(ids, dtype=torch.bool) if att is None else att.to(ids.device).bool()


def _hidden_of(output, where: str):
    hidden = getattr(output, "hidden_states", None)
    if hidden is None:
        raise ValueError(f"{where} returned no hidden_states although output_hidden_states=True was passed")
    return tuple(hidden)


def _no_prompt_change(text: str, processor=None) -> str:
    return text


# --------------------------------------------------------------------------- two-tower


def _bind_two_tower(model, special_ids=None, include_special=False) -> Bound:
    missing = [a for a in ("text_model", "vision_model") if not isinstance(getattr(model, a, None), torch.nn.Module)]
    towers = [getattr(model, a, None) for a in ("text_model", "vision_model")]
    blocks = [_path(t, "encoder.layers") if t is not None else None for t in towers]
    if missing or any(b is None for b in blocks):
        raise ValueError(
            "layout 'two-tower' expects a CLIP-style model with attributes text_model and vision_model, each "
            "with encoder.layers (and optionally text_projection, visual_projection); "
            f"{type(model).__name__} has: {_children(model)}"
            + (f" (missing: {', '.join(missing)})" if missing else " (a tower has no encoder.layers)"))
    config = getattr(model, "config", None)
    text_config = getattr(config, "text_config", None)
    special = _special(special_ids, text_config)
    policy = ("text: attention-masked tokens" + ("" if include_special else f" except special ids {list(special)}")
              + "; image: patches" + (" and the class token" if include_special else " (the class token, position "
                                      "0, is special)"))

    def run(inputs, start, hidden=True, on_masks=None) -> Pass:
        ids = inputs.get("input_ids")
        if ids is None or inputs.get("pixel_values") is None:
            raise ValueError("layout 'two-tower' needs input_ids and pixel_values in every batch; "
                             f"got keys {sorted(inputs)}")
        output = model(**inputs, output_hidden_states=hidden, return_dict=True)
        text_out, image_out = getattr(output, "text_model_output", None), getattr(output, "vision_model_output", None)
        if text_out is None or image_out is None:
            raise ValueError(f"layout 'two-tower': {type(model).__name__} returned no text_model_output / "
                             "vision_model_output")
        text = _attention(inputs, ids)
        if not include_special:
            text &= ~_isin(ids, special)
        n_image = image_out.last_hidden_state.shape[1]
        image = torch.ones(ids.shape[0], n_image, dtype=torch.bool, device=ids.device)
        if not include_special:
            image[:, 0] = False
        states = None
        if hidden:
            states = (_hidden_of(text_out, "the text tower"), _hidden_of(image_out, "the vision tower"))
        proj = None
        if getattr(output, "text_embeds", None) is not None and getattr(output, "image_embeds", None) is not None:
            proj = (output.text_embeds, output.image_embeds)
        masks = (text, image)
        if on_masks is not None:
            on_masks(masks)
        return Pass(output, states, masks, proj)

    return Bound(LAYOUTS["two-tower"], tuple(blocks), ("text_model.encoder.layers", "vision_model.encoder.layers"),
                 (0, 1), special, policy, run)


# --------------------------------------------------------------------------- image-tokens

_LM_BLOCKS = ("model.language_model.layers", "model.text_model.layers", "language_model.model.layers",
              "model.language_model.model.layers", "language_model.layers", "text_model.layers", "model.layers")


def _image_token_id(config):
    for key in ("image_token_id", "image_token_index"):
        value = getattr(config, key, None)
        if isinstance(value, int):
            return key, value
    return None, None


def _image_token(processor) -> str:
    token = getattr(processor, "image_token", None)
    if not isinstance(token, str):
        token = getattr(getattr(processor, "tokenizer", None), "image_token", None)
    return token if isinstance(token, str) else "<image>"


def _prompt_image_tokens(text: str, processor=None) -> str:
    token = _image_token(processor)
    return text if token in text else f"{token}\n{text}"


def _bind_image_tokens(model, special_ids=None, include_special=False) -> Bound:
    config = getattr(model, "config", None)
    key, image_id = _image_token_id(config)
    text_config = getattr(config, "text_config", None)
    depth = getattr(text_config, "num_hidden_layers", None)
    path = blocks = None
    for candidate in _LM_BLOCKS:
        found = _path(model, candidate)
        if isinstance(found, torch.nn.ModuleList) and (depth is None or len(found) == depth):
            path, blocks = candidate, found
            break
    if image_id is None or blocks is None:
        problems = []
        if image_id is None:
            problems.append("its config has neither image_token_id nor image_token_index")
        if blocks is None:
            problems.append("no language model blocks at " + " / ".join(_LM_BLOCKS))
        raise ValueError(
            "layout 'image-tokens' expects a LLaVA / Idefics3 / PaliGemma-style model: config.image_token_id "
            "(or image_token_index) and a language model whose blocks are at one of "
            f"{', '.join(_LM_BLOCKS)}; {type(model).__name__} has: {_children(model)} ({'; '.join(problems)})")
    special = tuple(i for i in _special(special_ids, config, text_config) if i != image_id)
    policy = (f"image: tokens with id {image_id} (config.{key}); text: attention-masked tokens "
              + ("that are not image tokens" if include_special else f"except image tokens and special ids "
                                                                     f"{list(special)}"))

    def run(inputs, start, hidden=True, on_masks=None) -> Pass:
        ids = inputs.get("input_ids")
        if ids is None:
            raise ValueError(f"layout 'image-tokens' needs input_ids in every batch; got keys {sorted(inputs)}")
        image = ids == image_id
        absent = ~image.any(dim=1)
        if bool(absent.any()):
            raise ValueError(
                f"example {start + int(absent.nonzero()[0, 0])} has no image token (id {image_id}, "
                f"config.{key}) in its input_ids: build the prompt with the processor's image token "
                "(pidjax.adapters.torch.layout_for(...).prompt(text, processor)) and pass the image to the processor")
        text = _attention(inputs, ids) & ~image
        if not include_special:
            text &= ~_isin(ids, special)
        masks = (text, image)
        if on_masks is not None:
            on_masks(masks)
        output = model(**inputs, output_hidden_states=hidden, use_cache=False, return_dict=True)
        states = (_hidden_of(output, type(model).__name__),) if hidden else None
        return Pass(output, states, masks, None)

    return Bound(LAYOUTS["image-tokens"], (blocks,), (path,), (0, 0), special, policy, run)


# --------------------------------------------------------------------------- segments


def _bind_segments(model, special_ids=None, include_special=False) -> Bound:
    base = getattr(model, "base_model", model)
    embeddings = getattr(base, "embeddings", None)
    blocks = _path(base, "encoder.layer")
    ok = (embeddings is not None and all(hasattr(embeddings, a) for a in ("text_embeddings", "patch_embeddings"))
          and isinstance(blocks, torch.nn.ModuleList))
    if not ok:
        raise ValueError(
            "layout 'segments' expects a ViLT-style model: an embeddings module with text_embeddings and "
            "patch_embeddings (returning the embeddings and the combined text+image mask) and blocks at "
            f"encoder.layer; {type(model).__name__} has: {_children(model)}"
            + (f" (base model {type(base).__name__}: {_children(base)})" if base is not model else ""))
    special = None if special_ids is None else _special(special_ids)
    if include_special:
        policy = "text: the first T_text positions under the attention mask; image: the rest under ViLT's mask"
    elif special is None:
        policy = ("text: the first T_text positions under the attention mask except the first and the last "
                  "([CLS], [SEP]); image: the patches under ViLT's mask (the image class token is special)")
    else:
        policy = (f"text: the first T_text positions under the attention mask except special ids {list(special)}; "
                  "image: the patches under ViLT's mask (the image class token is special)")
    prefix = _module_path(model, base)
    paths = ((prefix + "." if prefix else "") + "encoder.layer",)

    def run(inputs, start, hidden=True, on_masks=None) -> Pass:
        ids = inputs.get("input_ids")
        if ids is None or inputs.get("pixel_values") is None:
            raise ValueError("layout 'segments' needs input_ids and pixel_values in every batch; "
                             f"got keys {sorted(inputs)}")
        n_text = ids.shape[1]
        seen = {}

        def grab(module, args, output):
            if not (isinstance(output, tuple) and len(output) >= 2 and torch.is_tensor(output[1])):
                raise ValueError("layout 'segments': the embeddings module did not return (embeddings, mask)")
            combined = output[1].bool()
            text = combined.clone()
            text[:, n_text:] = False
            if not include_special:
                if special is None:
                    att = combined[:, :n_text]
                    first = att.int().argmax(dim=1)
                    last = n_text - 1 - att.flip(1).int().argmax(dim=1)
                    rows = torch.arange(ids.shape[0], device=combined.device)
                    text[rows, first] = False
                    text[rows, last] = False
                else:
                    text[:, :n_text] &= ~_isin(ids.to(combined.device), special)
            image = combined.clone()
            image[:, :n_text] = False
            if not include_special:
                image[:, n_text] = False
            seen["masks"] = (text, image)
            if on_masks is not None:
                on_masks(seen["masks"])

        handle = embeddings.register_forward_hook(grab)
        try:
            output = model(**inputs, output_hidden_states=hidden, return_dict=True)
        finally:
            handle.remove()
        states = (_hidden_of(output, type(model).__name__),) if hidden else None
        return Pass(output, states, seen["masks"], None)

    return Bound(LAYOUTS["segments"], (blocks,), paths, (0, 0), special, policy, run)


# --------------------------------------------------------------------------- the registry

LAYOUTS: dict[str, Layout] = {
    "two-tower": Layout(
        "two-tower",
        "CLIP-style dual encoders (text_model, vision_model, text_projection, visual_projection): two streams. "
        "Text: the text tower's tokens under the attention mask; BOS/EOS and padding are special (note that CLIP "
        "itself pools the EOS token: pass include_special=True to keep it). Image: the vision tower's patches; "
        "the class token is special. Towers of different depth are paired by relative depth or explicitly; "
        "'proj' holds the projected text_embeds / image_embeds.",
        False, _no_prompt_change, _bind_two_tower),
    "image-tokens": Layout(
        "image-tokens",
        "LLaVA, Idefics3/SmolVLM, PaliGemma: image features spliced into the language model's sequence at the "
        "image token (config.image_token_id); one stream. Image: the image-token positions; text: the other "
        "attention-masked positions except special tokens (template tokens such as <fake_token_around_image>, "
        "<global-img>, row/col tokens are special when their ids are in special_ids).",
        True, _prompt_image_tokens, _bind_image_tokens),
    "segments": Layout(
        "segments",
        "ViLT-style single-stream encoders: the text tokens, then the image class token and the patches; one "
        "stream, masks taken from the embeddings module. [CLS]/[SEP] and the image class token are special.",
        True, _no_prompt_change, _bind_segments),
}
"""Layout name -> :class:`Layout`."""

ALIASES = {"clip": "two-tower", "siglip": "two-tower", "llava": "image-tokens", "idefics3": "image-tokens",
           "smolvlm": "image-tokens", "paligemma": "image-tokens", "vilt": "segments"}
"""Model family name -> layout name."""


def guess(model) -> str | None:
    """The layout name a model's structure suggests, or ``None``."""
    if isinstance(getattr(model, "text_model", None), torch.nn.Module) and isinstance(
            getattr(model, "vision_model", None), torch.nn.Module) and _image_token_id(
            getattr(model, "config", None))[1] is None:
        return "two-tower"
    if _image_token_id(getattr(model, "config", None))[1] is not None:
        return "image-tokens"
    embeddings = getattr(getattr(model, "base_model", model), "embeddings", None)
    if embeddings is not None and hasattr(embeddings, "text_embeddings") and hasattr(embeddings, "patch_embeddings"):
        return "segments"
    family = type(model).__name__.lower()
    return next((ALIASES[a] for a in ALIASES if family.startswith(a)), None)


def special_token_ids(processor) -> tuple[int, ...]:
    """Every special and template token id a processor knows, for ``special_ids=``.

    The tokenizer's ``all_special_ids`` plus the template tokens some processors keep apart
    (Idefics3/SmolVLM: ``<fake_token_around_image>``, ``<global-img>``, the row/column tokens).
    The image token may be among them: the image-tokens layout counts it as image regardless.
    """
    tokenizer = getattr(processor, "tokenizer", processor)
    ids = set(getattr(tokenizer, "all_special_ids", ()) or ())
    for key in ("fake_image_token_id", "global_image_token_id", "image_token_id", "boi_token_id", "eoi_token_id"):
        value = getattr(processor, key, None)
        if isinstance(value, int):
            ids.add(value)
    ids.update(i for i in (getattr(processor, "row_col_ids", None) or ()) if isinstance(i, int))
    unk = getattr(tokenizer, "unk_token_id", None)
    # convert_tokens_to_ids maps absent template tokens to the unknown token; keep unk only if it is special anyway
    if unk is not None and unk not in set(getattr(tokenizer, "all_special_ids", ()) or ()):
        ids.discard(unk)
    return tuple(sorted(int(i) for i in ids))
