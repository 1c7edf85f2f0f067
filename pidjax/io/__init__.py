"""Reading and writing the files pidjax works from: embeddings per layer and joint tables.

Embeddings from any framework are a flat set of named arrays (``layer.<layer>.<modality>``,
optional ``mask.<modality>``, ``labels``, ``labels.<name>``, ``predictions``) in ``.npz`` or
``.safetensors`` files, or in a folder of them; see docs/file-format.md. Files are memory
mapped, so a sweep reads one layer at a time.
"""

from pidjax.io._formats import InputError, LazyMember, open_arrays, write_safetensors
from pidjax.io.embeddings import (
    Embeddings,
    label_codes,
    layer_embeddings,
    load_embeddings,
    natural_key,
    pool,
    read_labels,
    save_embeddings,
    select_modalities,
)
from pidjax.io.tables import load_tables

__all__ = [
    "Embeddings",
    "InputError",
    "LazyMember",
    "label_codes",
    "layer_embeddings",
    "load_embeddings",
    "load_tables",
    "natural_key",
    "open_arrays",
    "pool",
    "read_labels",
    "save_embeddings",
    "select_modalities",
    "write_safetensors",
]
