"""A small two-stream transformer in Flax nnx: one encoder per modality, cross-attention or late fusion.

Each modality's tokens go through a linear embedding plus a learned position embedding, then
``depth`` pre-norm blocks. With ``fusion="cross"`` every block of stream 1 attends to the
tokens of stream 2 (and vice versa) after its self-attention, so information moves between
modalities layer by layer. With ``fusion="late"`` the two streams never meet until the head,
which sees only the two mean-pooled stream outputs, concatenated. The head is a one-hidden-layer
MLP in both cases, so the two variants differ only in where the modalities meet.

Per-layer, per-modality activations are the outputs of ``embed_1``/``embed_2`` and of
``blocks_1/<i>``/``blocks_2/<i>``; :func:`layer_spec` names them for the adapters.
"""

from __future__ import annotations

import dataclasses
import math

import jax.numpy as jnp
from flax import nnx

FUSIONS = ("cross", "late")


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a :class:`TwoStreamTransformer` (stored in checkpoints).

    Fields: token counts and feature widths per modality, number of classes, model width
    ``dim``, ``depth`` (blocks per stream), attention ``heads``, MLP width multiplier
    ``mlp_ratio``, and ``fusion`` ("cross" or "late").
    """

    tokens_1: int
    features_1: int
    tokens_2: int
    features_2: int
    n_classes: int
    dim: int = 32
    depth: int = 3
    heads: int = 4
    mlp_ratio: int = 2
    fusion: str = "cross"

    def __post_init__(self):
        for name in ("tokens_1", "features_1", "tokens_2", "features_2", "n_classes", "dim", "depth", "heads",
                     "mlp_ratio"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"ModelConfig.{name} must be a positive integer; got {value!r}")
        if self.n_classes < 2:
            raise ValueError(f"ModelConfig.n_classes must be at least 2; got {self.n_classes}")
        if self.dim % self.heads:
            raise ValueError(f"ModelConfig.dim ({self.dim}) must be a multiple of heads ({self.heads})")
        if self.fusion not in FUSIONS:
            raise ValueError(f"ModelConfig.fusion must be one of {FUSIONS}; got {self.fusion!r}")

    def to_dict(self) -> dict:
        """A JSON-friendly dict of the fields."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        """Rebuild from :meth:`to_dict`; unknown or missing keys raise ``ValueError``."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown model config keys {sorted(unknown)}")
        try:
            return cls(**d)
        except TypeError as exc:
            raise ValueError(f"incomplete model config: {exc}") from None


class MLP(nnx.Module):
    """Two linear maps with a GELU between: ``(..., d) -> (..., d_out)``."""

    def __init__(self, d_in: int, d_hidden: int, d_out: int, *, rngs: nnx.Rngs):
        self.up = nnx.Linear(d_in, d_hidden, rngs=rngs)
        self.down = nnx.Linear(d_hidden, d_out, rngs=rngs)

    def __call__(self, x):
        return self.down(nnx.gelu(self.up(x)))


class StreamBlock(nnx.Module):
    """One pre-norm block of one stream: self-attention, optional cross-attention, MLP.

    ``x`` ``(B, T, d)`` is this stream's tokens, ``other`` ``(B, T', d)`` the other stream's
    (used only when the block was built with ``cross=True``). Returns ``(B, T, d)``.
    """

    def __init__(self, dim: int, heads: int, mlp_ratio: int, cross: bool, *, rngs: nnx.Rngs):
        self.norm_self = nnx.LayerNorm(dim, rngs=rngs)
        self.self_attn = nnx.MultiHeadAttention(heads, dim, decode=False, rngs=rngs)
        if cross:
            self.norm_cross = nnx.LayerNorm(dim, rngs=rngs)
            self.norm_other = nnx.LayerNorm(dim, rngs=rngs)
            self.cross_attn = nnx.MultiHeadAttention(heads, dim, decode=False, rngs=rngs)
        else:
            self.cross_attn = None
        self.norm_mlp = nnx.LayerNorm(dim, rngs=rngs)
        self.mlp = MLP(dim, mlp_ratio * dim, dim, rngs=rngs)

    def __call__(self, x, other=None):
        h = self.norm_self(x)
        x = x + self.self_attn(h, h, h)
        if self.cross_attn is not None:
            o = self.norm_other(other)
            x = x + self.cross_attn(self.norm_cross(x), o, o)
        return x + self.mlp(self.norm_mlp(x))


class TwoStreamTransformer(nnx.Module):
    """Two-modality classifier: ``model(x1 (B, T1, F1), x2 (B, T2, F2)) -> logits (B, n_classes)``.

    Example:
      >>> from flax import nnx
      >>> cfg = ModelConfig(tokens_1=4, features_1=8, tokens_2=4, features_2=8, n_classes=10)
      >>> model = TwoStreamTransformer(cfg, rngs=nnx.Rngs(0))
      >>> model(jnp.zeros((2, 4, 8)), jnp.zeros((2, 4, 8))).shape
      (2, 10)
    """

    def __init__(self, config: ModelConfig, *, rngs: nnx.Rngs):
        c = config
        self.config = c
        cross = c.fusion == "cross"
        self.embed_1 = nnx.Linear(c.features_1, c.dim, rngs=rngs)
        self.embed_2 = nnx.Linear(c.features_2, c.dim, rngs=rngs)
        init = nnx.initializers.normal(1.0 / math.sqrt(c.dim))
        self.pos_1 = nnx.Param(init(rngs.params(), (c.tokens_1, c.dim)))
        self.pos_2 = nnx.Param(init(rngs.params(), (c.tokens_2, c.dim)))
        self.blocks_1 = nnx.List([StreamBlock(c.dim, c.heads, c.mlp_ratio, cross, rngs=rngs) for _ in range(c.depth)])
        self.blocks_2 = nnx.List([StreamBlock(c.dim, c.heads, c.mlp_ratio, cross, rngs=rngs) for _ in range(c.depth)])
        self.norm_1 = nnx.LayerNorm(c.dim, rngs=rngs)
        self.norm_2 = nnx.LayerNorm(c.dim, rngs=rngs)
        self.head = MLP(2 * c.dim, 2 * c.dim, c.n_classes, rngs=rngs)

    def __call__(self, x1, x2):
        h1 = self.embed_1(x1) + self.pos_1[...]
        h2 = self.embed_2(x2) + self.pos_2[...]
        for b1, b2 in zip(self.blocks_1, self.blocks_2):
            # both streams update from the other's previous state, so neither goes first
            h1, h2 = b1(h1, h2), b2(h2, h1)
        pooled = jnp.concatenate([self.norm_1(h1).mean(axis=1), self.norm_2(h2).mean(axis=1)], axis=-1)
        return self.head(pooled)


def build_model(config: ModelConfig, seed: int = 0) -> TwoStreamTransformer:
    """A freshly initialised :class:`TwoStreamTransformer` for ``config``, seeded.

    Example:
      >>> cfg = ModelConfig(4, 8, 4, 8, n_classes=10, fusion="late")
      >>> build_model(cfg).config.fusion
      'late'
    """
    return TwoStreamTransformer(config, rngs=nnx.Rngs(seed))


def layer_spec(config: ModelConfig) -> dict[str, tuple[str, str]]:
    """The per-layer modality map of the built-in model, for :func:`pidjax.adapters.extract_embeddings`.

    Returns:
      ``{"embed": ("embed_1", "embed_2"), "block_0": ("blocks_1/0", "blocks_2/0"), ...}``, in
      order from input to output.

    Example:
      >>> list(layer_spec(ModelConfig(4, 8, 4, 8, n_classes=10, depth=2)))
      ['embed', 'block_0', 'block_1']
    """
    spec = {"embed": ("embed_1", "embed_2")}
    for i in range(config.depth):
        spec[f"block_{i}"] = (f"blocks_1/{i}", f"blocks_2/{i}")
    return spec
