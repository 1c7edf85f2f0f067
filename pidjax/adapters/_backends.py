"""Run a Flax model on one batch and hand back its output plus every activation Flax can capture.

Both backends return a pure function ``forward(params, batch) -> (output, {name: activation})``
that :mod:`pidjax.adapters._extract` traces under ``jax.jit``; activations nobody asks for are
dropped by the compiler. Names are module paths joined by ``/`` (``blocks_1/0``), with the
method (``__call__``) or the name given to ``sow`` as last part.

- nnx: :func:`flax.nnx.capture` with ``method_outputs=nnx.Intermediate`` records what every
  sub-module's methods return, and anything the model sows into ``nnx.Intermediate``.
- linen: ``Module.apply(..., capture_intermediates=True, mutable=["intermediates"])`` records
  every sub-module's ``__call__`` output and anything sown into ``intermediates``.

The user's model object is never modified: nnx models are split into graph and state once and
merged into a fresh copy inside the traced function.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

CALL = "__call__"


def default_call(fn: Callable, batch, label_keys=("y", "label", "labels"), skip=()):
    """Call the model on a batch: ``fn(**batch)`` without label/mask keys, ``fn(*batch)`` or ``fn(batch)``."""
    if isinstance(batch, Mapping):
        return fn(**{k: v for k, v in batch.items() if k not in label_keys and k not in skip})
    if isinstance(batch, (tuple, list)):
        return fn(*batch)
    return fn(batch)


def _flatten(tree, prefix: tuple, out: dict):
    """``{"a/b/__call__": (value, ...)}`` from nested mappings whose leaves are tuples of calls."""
    if isinstance(tree, Mapping):
        for key, sub in tree.items():
            _flatten(sub, prefix + (str(key),), out)
    else:
        out["/".join(prefix)] = tree
    return out


def nnx_forward(model, call: Callable):
    """``(params, forward)`` for an nnx model; ``forward(params, batch) -> (output, flat)``."""
    from flax import nnx

    graphdef, state = nnx.split(model)

    def forward(params, batch):
        module = nnx.merge(graphdef, params)
        run = nnx.capture(lambda m, b: call(m, b), nnx.Intermediate, method_outputs=nnx.Intermediate)
        output, captured = run(module, batch)
        flat = {}
        for path, var in nnx.to_flat_state(captured):
            flat["/".join(str(p) for p in path)] = var.get_value()
        return output, flat

    return state, forward


def linen_forward(module, variables: Mapping[str, Any], call: Callable):
    """``(params, forward)`` for a linen module and its variables."""
    params = {k: v for k, v in dict(variables).items() if k != "intermediates"}

    def forward(params, batch):
        captured = {}

        def apply(*args, **kwargs):
            output, mutated = module.apply(params, *args, capture_intermediates=True, mutable=["intermediates"],
                                           **kwargs)
            captured.update(dict(mutated.get("intermediates", {})))
            return output

        output = call(apply, batch)
        return output, _flatten(captured, (), {})

    return params, forward
