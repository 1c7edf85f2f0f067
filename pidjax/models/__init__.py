"""Built-in two-modality models (Flax nnx): a cross-attention transformer and its late-fusion twin.

Build with :func:`build_model`, fit with :func:`train` (optax AdamW), keep with
:func:`save_checkpoint` / :func:`load_checkpoint` (``.msgpack`` or ``.safetensors``), and hand
:func:`layer_spec` to :func:`pidjax.adapters.extract_embeddings`.
"""

from pidjax.models.training import TrainResult, accuracy, load_checkpoint, predict, save_checkpoint, train
from pidjax.models.transformer import FUSIONS, ModelConfig, TwoStreamTransformer, build_model, layer_spec

__all__ = ["FUSIONS", "ModelConfig", "TrainResult", "TwoStreamTransformer", "accuracy", "build_model", "layer_spec",
           "load_checkpoint", "predict", "save_checkpoint", "train"]
