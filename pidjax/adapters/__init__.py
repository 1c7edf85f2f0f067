"""Adapters: per-layer, per-modality embeddings out of Flax models (nnx and linen), at inference.

:func:`extract_embeddings` runs a model over a dataset iterator and returns
``{layer: (E1 (N, d1), E2 (N, d2))}`` pooled per example plus the model's predictions, the
input :func:`pidjax.analysis.layer_sweep` expects. :func:`ablate_layers` takes the same layer map
and measures the accuracy lost when one modality's activations at one layer are replaced by their
mean (the layer-wise ablation baseline beside the PID shares). Both read what Flax exposes (nnx
``capture``/``Intermediate``, linen ``capture_intermediates``/``sow``) and never edits the model.
"""

from pidjax.adapters._ablation import LayerAblation, ablate_layers
from pidjax.adapters._extract import POOLINGS, Extraction, extract_embeddings, pool_tokens

__all__ = ["POOLINGS", "Extraction", "LayerAblation", "ablate_layers", "extract_embeddings", "pool_tokens"]
