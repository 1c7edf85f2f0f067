"""Layer-wise mean ablation of a Flax model: one modality's tokens at one layer replaced by their mean.

Two passes over the data. The first runs the model once per batch under the extractor's
capturing forward (:mod:`pidjax.adapters._backends`) and sums every requested activation over
examples, giving one mean per (layer, modality), plus the unablated predictions (in a pass of
their own when the means come from other data, ``mean_batches``). The second runs, for each
(layer, modality), a function compiled once that evaluates the model with that one module output
replaced by its mean, and keeps the predicted classes.

How the output is replaced without editing the user's model:

- linen: :func:`flax.linen.intercept_methods` wraps the call of the module at that path while
  ``apply`` runs; the module and its variables are untouched.
- nnx: inside the traced function the state is merged into a fresh copy (as the extractor does)
  and only that copy's target sub-module is given a subclass whose method replaces its output
  (one subclass per class and method, made once and reused); the run goes under
  :func:`flax.nnx.capture` with no collection, so what the model sows is dropped. The user's model
  object, its classes and its state are never touched.
"""

from __future__ import annotations

from typing import Callable, Iterable, Mapping, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from pidjax.adapters._backends import CALL, default_call
from pidjax.adapters._extract import (
    LABEL_KEYS,
    _backend,
    _check_masks,
    _pad,
    _parse,
    _predictions,
    _rows,
    _Selector,
    _single,
)

KIND = "layer-wise mean, Flax"


class LayerAblation(NamedTuple):
    """What :func:`ablate_layers` returns.

    Fields:
      scores: ``{layer: {"accuracy", "ablation_drop_1", "ablation_drop_2"}}`` (fractions; a drop
        is full accuracy minus accuracy with that modality ablated at that layer), the input
        :func:`pidjax.analysis.contribution_scores` takes as ``ablation=`` (the whole result may
        be passed too; its ``kind`` is then recorded).
      ablated: ``{layer: (preds_1 (N,), preds_2 (N,))}`` predicted classes with modality 1 (2)
        ablated at that layer.
      predictions: ``(N,)`` the unablated model's predicted classes.
      labels: ``(N,)`` the labels read from the batches.
      accuracy: unablated accuracy (fraction).
      means: ``{layer: (mean_1, mean_2)}`` the substituted means: ``(d,)`` for an output
        without token axis or with a per-example mask, ``(k, d)`` for the ``k`` selected positions
        of a fixed selection (all ``T`` tokens when none is given).
      kind: ``"layer-wise mean, Flax"``, what the report says about the ablation.
    """

    scores: dict
    ablated: dict
    predictions: np.ndarray
    labels: np.ndarray
    accuracy: float
    means: dict
    kind: str = KIND


# --------------------------------------------------------------------------- arguments


def _source(batches, name: str) -> Callable[[], Iterable]:
    """A zero-argument function returning a fresh iterator over ``batches`` (read more than once)."""
    if isinstance(batches, Mapping):
        raise ValueError(f"{name} must be a sequence of batches or a zero-argument callable returning an iterator; "
                         "got a mapping (one batch? wrap it in a list)")
    if hasattr(batches, "__iter__"):
        if iter(batches) is batches:
            raise ValueError(f"{name} must be re-iterable: the ablation reads the data once for the means and once per "
                             f"(layer, modality); got a {type(batches).__name__}, which can be read only once. Pass a "
                             "list of batches or a zero-argument callable, e.g. lambda: batches(data, 512)")
        return lambda: iter(batches)
    if callable(batches):
        def fresh():
            made = batches()
            if not hasattr(made, "__iter__"):
                raise ValueError(f"{name}() must return an iterator over batches; got {type(made).__name__}")
            return iter(made)
        return fresh
    raise ValueError(f"{name} must be a sequence of batches or a zero-argument callable returning an iterator; "
                     f"got {type(batches).__name__}")


def _mask_keys(layers) -> tuple[str, ...]:
    keys = []
    for pair in (layers.values() if isinstance(layers, Mapping) else ()):
        for item in (pair if isinstance(pair, (tuple, list)) else ()):
            if isinstance(item, (tuple, list)) and len(item) == 2 and isinstance(item[1], str):
                keys.append(item[1])
    return tuple(dict.fromkeys(keys))


def _target(s: _Selector, model, is_nnx: bool) -> tuple[tuple[str, ...], str]:
    """``(module path parts, method name)`` whose output the selector names; sown values are refused."""
    parts = tuple(s.key.split("/"))
    prefix, method = parts[:-1], parts[-1]
    where = f"layers[{s.layer!r}][{s.which - 1}]"
    if method == CALL:
        return prefix, method
    if is_nnx:
        from flax import nnx

        module = next((m for p, m in nnx.iter_modules(model) if tuple(str(x) for x in p) == prefix), None)
        if module is not None and callable(getattr(type(module), method, None)):
            return prefix, method
    raise ValueError(f"{where}: {s.path!r} is a value the model sows, not the output of a module, so replacing it "
                     "would not change what the model computes; name the module whose output it is")


# --------------------------------------------------------------------------- substitution


def _substitute(out, mean, s: _Selector, batch):
    """``out`` with the selector's tokens (all of it without a token axis) replaced by ``mean``."""
    mean = jnp.asarray(mean, out.dtype)
    if out.ndim == 2 or (s.tokens is None and s.mask_key is None):
        return jnp.broadcast_to(mean, out.shape)
    if s.mask_key is not None:
        keep = jnp.asarray(batch[s.mask_key]) != 0
        keep = keep.reshape(keep.shape + (1,) * (out.ndim - 2))
        return jnp.where(keep, mean, out)
    return out.at[:, jnp.asarray(s.tokens)].set(mean)


_SUBCLASSES: dict[tuple[type, str], type] = {}
_REPLACE = "_pidjax_replace_output"


def _replacing_class(cls: type, method: str) -> type:
    """A subclass of ``cls`` whose ``method`` returns ``self._pidjax_replace_output(result)`` (one per class)."""
    key = (cls, method)
    if key not in _SUBCLASSES:
        def replaced(self, *args, **kwargs):
            out = getattr(super(sub, self), method)(*args, **kwargs)
            fn = self.__dict__.get(_REPLACE)
            return out if fn is None else fn(out)

        options = {"pytree": cls._pytree__is_pytree} if hasattr(cls, "_pytree__is_pytree") else {}
        sub = type(cls)(cls.__name__, (cls,), {method: replaced, "__module__": cls.__module__,
                                               "__qualname__": cls.__qualname__}, **options)
        _SUBCLASSES[key] = sub
    return _SUBCLASSES[key]


def _nnx_substituted(model, call: Callable, prefix: tuple, method: str):
    """``(state, forward(state, batch, replace))``: the nnx model with one module output passed through ``replace``."""
    from flax import nnx

    graphdef, state = nnx.split(model)

    def forward(state, batch, replace):
        copy = nnx.merge(graphdef, state)  # a fresh copy inside the trace; the user's model is not touched
        target = next(m for p, m in nnx.iter_modules(copy) if tuple(str(x) for x in p) == prefix)
        object.__setattr__(target, "__class__", _replacing_class(type(target), method))
        object.__setattr__(target, _REPLACE, replace)
        # under capture with no collection, whatever the model sows is dropped instead of stored on the copy
        return nnx.capture(lambda m, b: call(m, b))(copy, batch)

    return state, forward


def _linen_substituted(module, params, call: Callable, prefix: tuple, method: str):
    """``(params, forward(params, batch, replace))`` for linen, via :func:`flax.linen.intercept_methods`."""
    from flax import linen

    def forward(params, batch, replace):
        def intercept(next_fun, args, kwargs, context):
            out = next_fun(*args, **kwargs)
            if context.method_name == method and tuple(context.module.path) == prefix:
                out = replace(out)
            return out

        def apply(*args, **kwargs):
            with linen.intercept_methods(intercept):
                return module.apply(params, *args, **kwargs)

        return call(apply, batch)

    return params, forward


# --------------------------------------------------------------------------- passes


def _sums(act, s: _Selector, batch, valid):
    """Sum of the selected activations over the valid examples (and kept tokens), and their count."""
    w = valid.astype(act.dtype)
    if act.ndim == 2:
        return (act * w[:, None]).sum(0), w.sum()
    if s.mask_key is not None:
        keep = (jnp.asarray(batch[s.mask_key]) != 0).astype(act.dtype) * w[:, None]
        weights = keep.reshape(keep.shape + (1,) * (act.ndim - 2))
        return (act * weights).sum((0, 1)), keep.sum()
    if s.tokens is not None:
        act = act[:, jnp.asarray(s.tokens)]
    return (act * w.reshape((-1,) + (1,) * (act.ndim - 1))).sum(0), w.sum()


def _stream(source, on_batch, bar, check=None):
    """Feed every batch of ``source()`` to ``on_batch(batch padded to the first batch's rows, rows, start)``."""
    width, seen, count = None, 0, 0
    for batch in source():
        rows = _rows(batch)
        width = rows if width is None else width
        if check is not None:
            check(batch, seen)
        on_batch(_pad(batch, rows, width) if rows < width else batch, rows, seen)
        seen += rows
        count += 1
        bar.update(1)
    return seen, count


def ablate_layers(
    model,
    batches,
    layers: Mapping,
    *,
    variables=None,
    call: Callable | None = None,
    predict_fn: Callable | None = None,
    label_key: str = "y",
    mean_batches=None,
    progress: bool = True,
) -> LayerAblation:
    """Accuracy lost when one modality's activations at one layer are replaced by their data-set mean.

    For every layer and each modality, the tokens the layer map selects in that module's output
    (the whole output when it has no token axis, e.g. a tower's pooled output) are replaced by
    their mean, the rest of the model runs as usual, and the predictions are scored against the
    labels. The mean is taken per token position when the selection is a fixed set of positions
    (all tokens, a slice, indices or a boolean mask): position ``t`` then gets the mean of
    position ``t`` over all examples, so what is removed is what varies between examples, not
    the position structure (position embeddings, a [CLS] slot) the rest of the model relies on
    at every input. With a per-example mask (a batch key) positions do not line up across
    examples (padding), so one mean vector over every kept token of every example is used, and
    only the kept tokens are replaced. Outputs without a token axis get one ``(d,)`` mean over
    examples.

    Args:
      model: a ``flax.nnx.Module`` (switch dropout off with ``model.eval()`` first) or a
        ``flax.linen.Module`` with ``variables``. It is never modified.
      batches: the evaluation data, read once per (layer, modality) and so re-iterable: a
        sequence of batches (dicts passed as keyword arguments without ``label_key`` and mask
        keys, tuples as positional arguments, or single arrays) or a zero-argument callable
        returning a fresh iterator (``lambda: batches(data, 512)``). Dict batches must hold the
        labels ``(B,)`` under ``label_key``.
      layers: ``{layer: (modality 1, modality 2)}`` in the format of
        :func:`pidjax.adapters.extract_embeddings`: a module path, or ``(path, tokens)`` with a
        slice, boolean mask, index or list of indices over the token axis, or a batch key of a
        ``(B, T)`` per-example token mask. Each path must name a module (or, for nnx, a module
        method) whose output is an array ``(B, ...)``; values the model sows are refused.
      variables: the linen module's variables.
      call: ``call(model_fn, batch) -> output`` when the default calling convention does not fit.
      predict_fn: ``output -> (B,) classes``; default argmax of 2-D outputs.
      label_key: batch key of the labels.
      mean_batches: data for the means (same rules as ``batches``), e.g. the training set when
        ``batches`` is held out; default ``batches``.
      progress: show a tqdm progress bar over all passes.

    Returns:
      :class:`LayerAblation` with ``scores = {layer: {"accuracy", "ablation_drop_1",
      "ablation_drop_2"}}`` (fractions) and ``ablated = {layer: (preds_1 (N,), preds_2 (N,))}``.

    Raises:
      ValueError: ``batches`` (or ``mean_batches``) that can be read only once or is empty;
        batches without labels; an unknown module path (the message lists the available ones),
        a sown value, or any other layer-map error :func:`extract_embeddings` raises; an
        output that is not class scores and no ``predict_fn``; an unsupported model type.

    Example:
      >>> from pidjax.models import ModelConfig, build_model, layer_spec
      >>> from pidjax.data import batches, load_digits_views
      >>> data = load_digits_views()
      >>> cfg = ModelConfig(4, 8, 4, 8, n_classes=10, depth=1)
      >>> res = ablate_layers(build_model(cfg), lambda: batches(data, 512), layer_spec(cfg), progress=False)
      >>> sorted(res.scores["block_0"]), res.ablated["embed"][0].shape
      (['ablation_drop_1', 'ablation_drop_2', 'accuracy'], (1797,))
    """
    from flax import nnx
    from tqdm.auto import tqdm

    evaluate = _source(batches, "batches")
    means_from = evaluate if mean_batches is None else _source(mean_batches, "mean_batches")
    first = next(evaluate(), None)
    if first is None:
        raise ValueError("batches is empty")
    if not isinstance(first, Mapping) or label_key not in first:
        got = f"keys {sorted(map(str, first))}" if isinstance(first, Mapping) else f"a {type(first).__name__}"
        raise ValueError(f"batches hold no labels: each batch must be a dict with the labels under "
                         f"label_key={label_key!r}; got {got}")
    skip = _mask_keys(layers)
    labels_out = tuple(dict.fromkeys((*LABEL_KEYS, label_key)))
    run = call if call is not None else (lambda fn, b: default_call(fn, b, labels_out, skip))
    params, capture = _backend(model, variables, run)

    def abstract(params, batch):
        out, flat = capture(params, batch)
        return out, _predictions(out, predict_fn), flat

    output, predicted, flat = jax.eval_shape(abstract, params, first)  # one trace, no compute
    selectors = _parse(layers, flat, first, label_key)
    is_nnx = isinstance(model, nnx.Module)
    targets = {(s.layer, s.which): _target(s, model, is_nnx) for s in selectors}
    if predicted is None:
        raise ValueError(f"the model's output ({type(output).__name__} of shape {getattr(output, 'shape', None)}) "
                         "is not class scores; pass predict_fn = output -> (B,) classes")

    def full_step(params, batch, valid):
        out, captured = capture(params, batch)
        sums = {(s.layer, s.which): _sums(_single(captured[s.key], s.layer, s.which, s.key), s, batch, valid)
                for s in selectors}
        return _predictions(out, predict_fn), sums

    full = jax.jit(full_step)
    bar = tqdm(desc="ablation: means", unit="batch", disable=not progress)
    totals = {k: [0.0, 0.0] for k in targets}
    preds, labels = [], []

    def check(batch, start):
        _check_masks(batch, selectors, start)
        if not isinstance(batch, Mapping) or label_key not in batch:
            raise ValueError(f"batches hold no labels: the batch at example {start} has no {label_key!r} key")

    def add_means(batch, rows, start):
        valid = np.arange(_rows(batch)) < rows
        pred, sums = full(params, batch, valid)
        for k, (total, count) in sums.items():
            totals[k][0] = totals[k][0] + np.asarray(total, np.float64)
            totals[k][1] += float(count)
        if mean_batches is None:
            keep(pred, batch, rows)

    def keep(pred, batch, rows):
        preds.append(np.asarray(pred)[:rows])
        labels.append(np.asarray(batch[label_key])[:rows])

    try:
        n, n_batches = _stream(means_from, add_means, bar, check if mean_batches is None else
                               (lambda b, start: _check_masks(b, selectors, start)))
        if n == 0:
            raise ValueError("mean_batches is empty")
        if mean_batches is not None:
            predict_full = jax.jit(lambda p, b: _predictions(capture(p, b)[0], predict_fn))
            bar.set_description("ablation: full model")
            n, n_batches = _stream(evaluate, lambda b, rows, _: keep(predict_full(params, b), b, rows), bar, check)
        means = {k: np.asarray(total / count) for k, (total, count) in totals.items()}
        bar.total = bar.n + n_batches * len(selectors)
        bar.refresh()

        predictions, label_arr = np.concatenate(preds), np.concatenate(labels)
        accuracy = float((predictions == label_arr).mean())
        ablated = {}
        for s in selectors:
            prefix, method = targets[(s.layer, s.which)]
            if is_nnx:
                state, forward = _nnx_substituted(model, run, prefix, method)
            else:
                state, forward = _linen_substituted(model, params, run, prefix, method)

            def step(state, batch, mean, s=s, forward=forward):
                out = forward(state, batch, lambda o: _substitute(o, mean, s, batch))
                return _predictions(out, predict_fn)

            compiled = jax.jit(step)
            mean = means[(s.layer, s.which)]
            got = []
            bar.set_description(f"ablation: {s.layer}, modality {s.which}")
            seen, _ = _stream(evaluate, lambda b, rows, _: got.append(np.asarray(compiled(state, b, mean))[:rows]),
                              bar)
            if seen != label_arr.shape[0]:
                raise ValueError(f"batches gave {seen} examples on one pass and {label_arr.shape[0]} on another; "
                                 "it must give the same data every time")
            ablated[(s.layer, s.which)] = np.concatenate(got)
    finally:
        bar.close()

    order = list(dict.fromkeys(s.layer for s in selectors))
    scores = {layer: {"accuracy": accuracy,
                      "ablation_drop_1": accuracy - float((ablated[(layer, 1)] == label_arr).mean()),
                      "ablation_drop_2": accuracy - float((ablated[(layer, 2)] == label_arr).mean())}
              for layer in order}
    return LayerAblation(
        scores=scores,
        ablated={layer: (ablated[(layer, 1)], ablated[(layer, 2)]) for layer in order},
        predictions=predictions,
        labels=label_arr,
        accuracy=accuracy,
        means={layer: (means[(layer, 1)], means[(layer, 2)]) for layer in order},
    )


__all__ = ["KIND", "LayerAblation", "ablate_layers"]
