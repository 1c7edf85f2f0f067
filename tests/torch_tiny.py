"""Tiny, randomly initialised Hugging Face models with working processors, built offline.

Each ``build_*`` function constructs a model from its config (no download), a processor from
a word-level tokenizer over :data:`WORDS` plus the family's special tokens and the family's
image processor at a tiny image size, and saves both with ``save_pretrained`` into ``folder``
so that ``AutoModel*.from_pretrained(folder)`` and ``AutoProcessor.from_pretrained(folder)``
reload them offline. Every build takes well under a second and a few MB.

How one (text, image) pair is preprocessed, the same call for every family (``processor`` from
``AutoProcessor.from_pretrained(folder)``, ``image`` a PIL image)::

    prompt = pidjax.adapters.torch.layout_for(family).prompt(text, processor)
    batch = processor(text=[prompt], images=[image], padding=True, return_tensors="pt")

The prompt is the text itself for CLIP and ViLT; LLaVA and Idefics3 need the image token in it
(``"<image>\n" + text``, added when missing), which their processors expand into the image's
tokens (16 ``<image>`` for LLaVA; ``<fake_token_around_image><global-img>`` + 4 ``<image>`` +
``<fake_token_around_image>`` for Idefics3). :data:`PROMPTS` spells the templates out.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

WORDS = (
    "a", "an", "the", "photo", "picture", "of", "cat", "dog", "bird", "car", "is", "this",
    "what", "animal", "color", "bright", "dark", "red", "blue", "on", "in", "and", "with", "?", ".",
)
"""The words every tiny tokenizer knows (anything else maps to its unknown token)."""

PROMPTS = {
    "clip": "{text}",
    "vilt": "{text}",
    "llava": "<image>\n{text}",
    "idefics3": "<image>\n{text}",
}
"""The prompt each family's processor expects for one image and one text."""

_ROW_COL = tuple(f"<row_{i + 1}_col_{j + 1}>" for i in range(6) for j in range(6))


def make_image(brightness: float, seed: int = 0, size: int = 24):
    """A ``size`` x ``size`` RGB PIL image of mean ``brightness`` (in [0, 1]) plus mild noise.

    Example:
      >>> make_image(0.8, seed=1).size
      (24, 24)
    """
    from PIL import Image

    rng = np.random.default_rng(seed)
    pixels = np.clip(brightness + 0.08 * rng.standard_normal((size, size, 3)), 0.0, 1.0)
    return Image.fromarray((pixels * 255).round().astype(np.uint8), mode="RGB")


def _tokenizer(specials, *, unk, template=None, extra_special=(), **named):
    """A ``PreTrainedTokenizerFast`` over ``specials + WORDS`` (a word-level vocabulary).

    ``template``: the single-sequence template of the post-processor, e.g. ``"<s> $A </s>"``.
    ``named``: the special-token roles (``bos_token="<s>"``, ...). ``extra_special`` are
    registered as additional special tokens (never split, in ``all_special_ids``).
    """
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {token: i for i, token in enumerate(dict.fromkeys((*specials, *extra_special, *WORDS)))}
    backend = Tokenizer(models.WordLevel(vocab, unk_token=unk))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    if template is not None:
        used = [t for t in template.split() if t in vocab]
        backend.post_processor = processors.TemplateProcessing(
            single=template, special_tokens=[(t, vocab[t]) for t in used])
    return PreTrainedTokenizerFast(tokenizer_object=backend, unk_token=unk,
                                   additional_special_tokens=list(extra_special), **named)


def _seeded(seed: int):
    import torch

    torch.manual_seed(seed)


def build_clip(folder, text_layers: int = 2, vision_layers: int = 3, seed: int = 0) -> Path:
    """A tiny ``CLIPModel`` (towers of different depth by default) + ``CLIPProcessor``, saved in ``folder``.

    Text: hidden 16, ``<|startoftext|> ... <|endoftext|>`` around every text, padded with
    ``<pad>``. Vision: 16 x 16 images, 4 x 4 patches (16 patches + the class token), hidden 24.
    """
    from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPModel, CLIPProcessor

    tok = _tokenizer(("<pad>", "<|startoftext|>", "<|endoftext|>", "<unk>"), unk="<unk>",
                     template="<|startoftext|> $A <|endoftext|>",
                     bos_token="<|startoftext|>", eos_token="<|endoftext|>", pad_token="<pad>")
    config = CLIPConfig(
        text_config=dict(vocab_size=len(tok), hidden_size=16, intermediate_size=32, num_hidden_layers=text_layers,
                         num_attention_heads=2, max_position_embeddings=32, pad_token_id=tok.pad_token_id,
                         bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id),
        vision_config=dict(hidden_size=24, intermediate_size=48, num_hidden_layers=vision_layers,
                           num_attention_heads=2, image_size=16, patch_size=4),
        projection_dim=8,
    )
    _seeded(seed)
    model = CLIPModel(config).eval()
    images = CLIPImageProcessorPil(size={"shortest_edge": 16}, crop_size={"height": 16, "width": 16})
    return _save(folder, model, CLIPProcessor(image_processor=images, tokenizer=tok))


def build_vilt(folder, seed: int = 0) -> Path:
    """A tiny ``ViltForQuestionAnswering`` (3 answers) + ``ViltProcessor``, saved in ``folder``.

    Text: ``[CLS] ... [SEP]``, padded with ``[PAD]`` (id 0). Image: resized to 32 x 32, 8 x 8
    patches (16 patches + the image class token). Hidden 16, 2 layers.
    """
    from transformers import ViltConfig, ViltForQuestionAnswering, ViltImageProcessorPil, ViltProcessor

    tok = _tokenizer(("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"), unk="[UNK]", template="[CLS] $A [SEP]",
                     pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")
    config = ViltConfig(vocab_size=len(tok), hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                        num_attention_heads=2, image_size=32, patch_size=8, max_position_embeddings=40,
                        pad_token_id=tok.pad_token_id, num_labels=3,
                        id2label={0: "no", 1: "yes", 2: "maybe"}, label2id={"no": 0, "yes": 1, "maybe": 2})
    _seeded(seed)
    model = ViltForQuestionAnswering(config).eval()
    images = ViltImageProcessorPil(size={"shortest_edge": 32}, size_divisor=8)
    return _save(folder, model, ViltProcessor(image_processor=images, tokenizer=tok))


def _llama(vocab_size: int, pad: int, bos: int, eos: int) -> dict:
    return dict(model_type="llama", vocab_size=vocab_size, hidden_size=32, intermediate_size=64,
                num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=128,
                pad_token_id=pad, bos_token_id=bos, eos_token_id=eos, tie_word_embeddings=False)


def build_llava(folder, seed: int = 0) -> Path:
    """A tiny ``LlavaForConditionalGeneration`` + ``LlavaProcessor``, saved in ``folder``.

    Vision: a 2-layer CLIP tower on 16 x 16 images with 4 x 4 patches; the default feature
    strategy drops the class token, so ``<image>`` expands into 16 image tokens. Text: a
    2-layer Llama (hidden 32), ``<s>`` before every text, padded with ``<pad>``.
    """
    from transformers import CLIPImageProcessorPil, LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor

    tok = _tokenizer(("<pad>", "<unk>", "<s>", "</s>"), unk="<unk>", template="<s> $A", extra_special=("<image>",),
                     bos_token="<s>", eos_token="</s>", pad_token="<pad>")
    image_id = tok.convert_tokens_to_ids("<image>")
    config = LlavaConfig(
        vision_config=dict(model_type="clip_vision_model", hidden_size=24, intermediate_size=48, num_hidden_layers=2,
                           num_attention_heads=2, image_size=16, patch_size=4),
        text_config=_llama(len(tok), tok.pad_token_id, tok.bos_token_id, tok.eos_token_id),
        image_token_index=image_id, vision_feature_layer=-1, vision_feature_select_strategy="default",
        image_seq_length=16,
    )
    _seeded(seed)
    model = LlavaForConditionalGeneration(config).eval()
    images = CLIPImageProcessorPil(size={"shortest_edge": 16}, crop_size={"height": 16, "width": 16})
    processor = LlavaProcessor(image_processor=images, tokenizer=tok, patch_size=4,
                               vision_feature_select_strategy="default", num_additional_image_tokens=1)
    return _save(folder, model, processor)


def build_idefics3(folder, seed: int = 0) -> Path:
    """A tiny ``Idefics3ForConditionalGeneration`` + ``Idefics3Processor``, saved in ``folder``.

    Vision: a 2-layer tower on 16 x 16 images with 4 x 4 patches, pixel-shuffled by 2, so one
    image is ``<fake_token_around_image><global-img>`` + 4 ``<image>`` + ``<fake_token_around_image>``
    (no image splitting). Text: a 2-layer Llama (hidden 32), ``<s>`` before every text.
    """
    from transformers import (Idefics3Config, Idefics3ForConditionalGeneration, Idefics3ImageProcessorPil,
                              Idefics3Processor)

    specials = ("<fake_token_around_image>", "<image>", "<end_of_utterance>", "<global-img>", *_ROW_COL)
    tok = _tokenizer(("<pad>", "<unk>", "<s>", "</s>"), unk="<unk>", template="<s> $A", extra_special=specials,
                     bos_token="<s>", eos_token="</s>", pad_token="<pad>")
    config = Idefics3Config(
        vision_config=dict(hidden_size=24, intermediate_size=48, num_hidden_layers=2, num_attention_heads=2,
                           image_size=16, patch_size=4),
        text_config=_llama(len(tok), tok.pad_token_id, tok.bos_token_id, tok.eos_token_id),
        image_token_id=tok.convert_tokens_to_ids("<image>"), scale_factor=2, pad_token_id=tok.pad_token_id,
    )
    _seeded(seed)
    model = Idefics3ForConditionalGeneration(config).eval()
    images = Idefics3ImageProcessorPil(do_image_splitting=False, size={"longest_edge": 16},
                                       max_image_size={"longest_edge": 16})
    processor = Idefics3Processor(image_processor=images, tokenizer=tok, image_seq_len=4)
    return _save(folder, model, processor)


def build_paligemma(folder, seed: int = 0) -> Path:
    """A tiny ``PaliGemmaForConditionalGeneration`` + ``PaliGemmaProcessor``, saved in ``folder``.

    Vision: a 2-layer SigLIP tower on 16 x 16 images with 4 x 4 patches, so the image is 16
    ``<image>`` tokens at the start of the sequence, then ``<bos>`` and the text (prefix
    attention through ``token_type_ids``). Text: a 2-layer Gemma (hidden 32).
    """
    from transformers import (PaliGemmaConfig, PaliGemmaForConditionalGeneration, PaliGemmaProcessor,
                              SiglipImageProcessorPil)

    tok = _tokenizer(("<pad>", "<eos>", "<bos>", "<unk>"), unk="<unk>", extra_special=("<image>",),
                     bos_token="<bos>", eos_token="<eos>", pad_token="<pad>")
    config = PaliGemmaConfig(
        vision_config=dict(model_type="siglip_vision_model", hidden_size=24, intermediate_size=48,
                           num_hidden_layers=2, num_attention_heads=2, image_size=16, patch_size=4,
                           projection_dim=32),
        text_config=dict(model_type="gemma", vocab_size=len(tok), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1, head_dim=16,
                         max_position_embeddings=128, pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id,
                         eos_token_id=tok.eos_token_id),
        image_token_index=tok.convert_tokens_to_ids("<image>"), projection_dim=32, hidden_size=32,
    )
    _seeded(seed)
    model = PaliGemmaForConditionalGeneration(config).eval()
    images = SiglipImageProcessorPil(size={"height": 16, "width": 16})
    images.image_seq_length = 16  # the processor reads the image token count from here
    return _save(folder, model, PaliGemmaProcessor(image_processor=images, tokenizer=tok))


def _save(folder, model, processor) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


BUILDERS = {"clip": build_clip, "vilt": build_vilt, "llava": build_llava, "idefics3": build_idefics3}
"""Family name -> builder."""


def one_torch_thread():
    """Generator for a module fixture: one torch thread while it runs (the models are tiny, and a
    second thread only spins on a shared machine), the previous count restored after."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
