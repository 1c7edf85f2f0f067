"""Reading and writing the files pidjax works from: embeddings per layer and joint tables.

Embeddings from any framework are a flat set of named arrays (``layer.<layer>.<modality>``
or, for single-stream models, one ``fused.<layer>`` token array split by ``mask.<modality>``;
``labels``, ``labels.<name>``, ``predictions``, ``ablated.<layer>.<modality>``,
``targets.<name>``) in ``.npz`` or ``.safetensors`` files, or in a folder of them; see
docs/file-format.md. Files are memory mapped, so a sweep reads one layer at a time.
"""

from pidjax.io._formats import InputError, LazyMember, open_arrays, write_safetensors
from pidjax.io.embeddings import (
    Embeddings,
    empty_masks,
    label_codes,
    layer_embeddings,
    load_embeddings,
    natural_key,
    nonempty_examples,
    pool,
    read_labels,
    save_embeddings,
    select_modalities,
    subset_examples,
)
from pidjax.io.tables import load_tables

__all__ = [
    "Embeddings",
    "InputError",
    "LazyMember",
    "empty_masks",
    "label_codes",
    "layer_embeddings",
    "load_embeddings",
    "load_tables",
    "natural_key",
    "nonempty_examples",
    "open_arrays",
    "pool",
    "read_labels",
    "save_embeddings",
    "select_modalities",
    "subset_examples",
    "write_safetensors",
]
