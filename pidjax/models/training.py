"""Train, evaluate, save and load the built-in two-stream model (optax; msgpack or safetensors files).

A checkpoint is one local file holding the :class:`~pidjax.models.transformer.ModelConfig`
and every parameter:

- ``*.msgpack``: ``flax.serialization`` of ``{"format", "config", "params"}``;
- ``*.safetensors``: the parameters flattened to ``"embed_1/kernel"``-style keys, the config as
  JSON in the header metadata.

Loading rebuilds the model from the stored config and checks every array's shape, so a
truncated, corrupt or foreign file gets a ``ValueError`` saying what is wrong.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from pidjax.models.transformer import ModelConfig, TwoStreamTransformer, build_model

FORMAT = "pidjax-two-stream-v1"
SUFFIXES = (".msgpack", ".safetensors")


class TrainResult(NamedTuple):
    """A trained model and how training went.

    Fields: ``model``; ``losses`` (per step, nats); ``seconds`` of wall time; ``steps``.
    """

    model: TwoStreamTransformer
    losses: np.ndarray
    seconds: float
    steps: int


def _loss(model, x1, x2, y):
    logits = model(x1, x2)
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()


def train(model: TwoStreamTransformer, data, *, steps: int = 600, batch_size: int = 128, learning_rate: float = 3e-3,
          weight_decay: float = 1e-4, seed: int = 0) -> TrainResult:
    """Fit ``model`` in place to ``data`` (a :class:`pidjax.data.TwoViewData`) with AdamW.

    Minibatches are sampled with replacement from a seeded generator; the learning rate
    follows a warm-up then cosine decay over ``steps``.

    Args:
      model: a :class:`TwoStreamTransformer`; its parameters are updated.
      data: training examples; ``data.x1``/``data.x2`` must match the model's config.
      steps, batch_size, learning_rate, weight_decay, seed: optimisation settings.

    Returns:
      :class:`TrainResult` (the same model object, now trained).

    Raises:
      ValueError: inputs that do not match the model's config, or non-positive settings.

    Example:
      >>> from pidjax.data import load_digits_views
      >>> data = load_digits_views()
      >>> model = build_model(ModelConfig(4, 8, 4, 8, n_classes=10, depth=1))
      >>> result = train(model, data, steps=5)
      >>> result.losses.shape
      (5,)
    """
    c = model.config
    if data.x1.shape[1:] != (c.tokens_1, c.features_1) or data.x2.shape[1:] != (c.tokens_2, c.features_2):
        raise ValueError(f"data has token shapes {data.x1.shape[1:]} and {data.x2.shape[1:]} but the model expects "
                         f"{(c.tokens_1, c.features_1)} and {(c.tokens_2, c.features_2)}")
    if int(data.y.max()) >= c.n_classes or int(data.y.min()) < 0:
        raise ValueError(f"labels must lie in [0, {c.n_classes}); got {int(data.y.min())}..{int(data.y.max())}")
    if steps < 1 or batch_size < 1 or learning_rate <= 0:
        raise ValueError("steps, batch_size and learning_rate must be positive")
    schedule = optax.warmup_cosine_decay_schedule(0.0, learning_rate, min(50, steps // 5), steps, learning_rate * 0.02)
    tx = optax.adamw(schedule, weight_decay=weight_decay)
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    opt_state = tx.init(params)

    @jax.jit
    def step(params, opt_state, x1, x2, y):
        def loss_fn(p):
            return _loss(nnx.merge(graphdef, p, rest), x1, x2, y)
        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    rng = np.random.default_rng(seed)
    n = data.y.shape[0]
    batch_size = min(batch_size, n)
    losses = np.empty(steps)
    start = time.perf_counter()
    for i in range(steps):
        idx = rng.integers(0, n, batch_size)
        params, opt_state, loss = step(params, opt_state, data.x1[idx], data.x2[idx], data.y[idx])
        losses[i] = float(loss) if (i % 50 == 0 or i == steps - 1) else np.nan
    losses = np.asarray(losses)
    nnx.update(model, params)
    jax.block_until_ready(jax.tree_util.tree_leaves(nnx.state(model)))
    return TrainResult(model, losses, time.perf_counter() - start, steps)


def predict(model: TwoStreamTransformer, x1, x2, batch_size: int = 1024) -> np.ndarray:
    """Predicted classes ``(N,)`` of ``model`` on inputs ``x1 (N, T1, F1)``, ``x2 (N, T2, F2)``.

    Example:
      >>> model = build_model(ModelConfig(4, 8, 4, 8, n_classes=10, depth=1))
      >>> predict(model, np.zeros((3, 4, 8)), np.zeros((3, 4, 8))).shape
      (3,)
    """
    graphdef, state = nnx.split(model)
    forward = jax.jit(lambda s, a, b: jnp.argmax(nnx.merge(graphdef, s)(a, b), -1))
    x1, x2 = np.asarray(x1, np.float32), np.asarray(x2, np.float32)
    out = [np.asarray(forward(state, x1[i:i + batch_size], x2[i:i + batch_size]))
           for i in range(0, x1.shape[0], batch_size)]
    return np.concatenate(out) if out else np.zeros(0, np.int64)


def accuracy(model: TwoStreamTransformer, data) -> float:
    """Fraction of ``data`` (a :class:`pidjax.data.TwoViewData`) the model classifies correctly.

    Example:
      >>> from pidjax.data import load_digits_views
      >>> 0.0 <= accuracy(build_model(ModelConfig(4, 8, 4, 8, n_classes=10, depth=1)), load_digits_views()) <= 1.0
      True
    """
    return float((predict(model, data.x1, data.x2) == data.y).mean())


# --------------------------------------------------------------------------- checkpoints


def _flat_params(model) -> dict[str, np.ndarray]:
    pure = nnx.to_pure_dict(nnx.state(model, nnx.Param))
    flat = {}

    def walk(tree, prefix):
        for key, value in tree.items():
            name = f"{prefix}/{key}" if prefix else str(key)
            if isinstance(value, dict):
                walk(value, name)
            else:
                flat[name] = np.asarray(value)
    walk(pure, "")
    return flat


def save_checkpoint(path, model: TwoStreamTransformer) -> Path:
    """Write ``model`` (config and parameters) to ``path`` (``.msgpack`` or ``.safetensors``), atomically.

    Raises:
      ValueError: another suffix.

    Example:
      >>> p = save_checkpoint("model.msgpack", model)  # doctest: +SKIP
    """
    path = Path(path)
    if path.suffix not in SUFFIXES:
        raise ValueError(f"checkpoint path must end in {' or '.join(SUFFIXES)}; got {path.name!r}")
    flat = _flat_params(model)
    config = model.config.to_dict()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    if path.suffix == ".msgpack":
        from flax import serialization

        blob = serialization.msgpack_serialize({"format": FORMAT, "config": config, "params": flat})
        tmp.write_bytes(blob)
    else:
        from safetensors.numpy import save_file

        save_file({k: np.ascontiguousarray(v) for k, v in flat.items()}, str(tmp),
                  metadata={"format": FORMAT, "config": json.dumps(config)})
    os.replace(tmp, path)
    return path


def _read(path: Path) -> tuple[dict, dict]:
    if path.suffix == ".msgpack":
        from flax import serialization

        try:
            blob = serialization.msgpack_restore(path.read_bytes())
        except Exception as exc:  # msgpack raises several types for damaged bytes
            raise ValueError(f"{path} is not a readable msgpack checkpoint ({type(exc).__name__}: {exc})") from None
        if not isinstance(blob, dict) or blob.get("format") != FORMAT:
            raise ValueError(f"{path} is not a pidjax checkpoint (expected format {FORMAT!r})")
        return dict(blob.get("config") or {}), dict(blob.get("params") or {})
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="numpy") as f:
            meta = f.metadata() or {}
            params = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as exc:  # safetensors raises its own error types for damaged headers
        raise ValueError(f"{path} is not a readable safetensors checkpoint ({type(exc).__name__}: {exc})") from None
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path} is not a pidjax checkpoint (its metadata lacks format {FORMAT!r})")
    try:
        config = json.loads(meta.get("config", ""))
    except json.JSONDecodeError:
        raise ValueError(f"{path}: the model config in the metadata is not valid JSON") from None
    return config, params


def load_checkpoint(path) -> TwoStreamTransformer:
    """Rebuild a built-in model from a file written by :func:`save_checkpoint`.

    Raises:
      FileNotFoundError: no such file.
      ValueError: an unknown suffix, unreadable or truncated bytes, a file of another format,
        an invalid config, or missing, extra or wrongly shaped parameters (each named).

    Example:
      >>> model = load_checkpoint("model.safetensors")  # doctest: +SKIP
    """
    path = Path(path)
    if path.suffix not in SUFFIXES:
        raise ValueError(f"checkpoint path must end in {' or '.join(SUFFIXES)}; got {path.name!r}")
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint file at {path}")
    config, params = _read(path)
    try:
        cfg = ModelConfig.from_dict(config)
    except ValueError as exc:
        raise ValueError(f"{path}: invalid model config ({exc})") from None
    model = build_model(cfg)
    expected = _flat_params(model)
    missing = sorted(set(expected) - set(params))
    extra = sorted(set(params) - set(expected))
    if missing or extra:
        raise ValueError(f"{path}: parameters do not match the architecture in its config "
                         f"(missing {missing[:4]}, unexpected {extra[:4]})")
    for name, ref in expected.items():
        got = np.asarray(params[name])
        if got.shape != ref.shape:
            raise ValueError(f"{path}: parameter {name!r} has shape {got.shape}; the config implies {ref.shape}")
        if not np.all(np.isfinite(got)):
            raise ValueError(f"{path}: parameter {name!r} holds non-finite values")

    state = nnx.state(model, nnx.Param)
    pure = nnx.to_pure_dict(state)

    def fill(tree, prefix):
        for key, value in tree.items():
            name = f"{prefix}/{key}" if prefix else str(key)
            if isinstance(value, dict):
                fill(value, name)
            else:
                tree[key] = jnp.asarray(params[name], dtype=value.dtype)
    fill(pure, "")
    nnx.replace_by_pure_dict(state, pure)
    nnx.update(model, state)
    return model
