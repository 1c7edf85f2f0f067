"""Built-in two-modality models (Flax nnx): a cross-attention transformer and its late-fusion twin."""

from pidjax.models.transformer import FUSIONS, ModelConfig, TwoStreamTransformer, build_model, layer_spec

__all__ = ["FUSIONS", "ModelConfig", "TwoStreamTransformer", "build_model", "layer_spec"]
