"""Sample-level (token-level) PID profiles: one joint table per example, from its paired tokens.

Within one example, the tokens of modality 1 and modality 2 are treated as draws of
``(X1, X2, Y)``: a token of each modality forms a pair and ``Y`` is a per-pair target (e.g.
the model's output token, or a discretised output embedding at that position). Two things make
such a profile fragile, and the functions here are explicit about both:

- **pairing**: nothing in two independently tokenised modalities says which token goes with
  which. Pairs are formed ONLY by a rule the caller states: ``"position"`` (token ``t`` with
  token ``t``; both modalities must have the same token count), ``"order"`` (the ``k``-th kept
  token of each modality, for one fused stream) or an explicit alignment ``(examples, P, 2)``
  of index pairs (:func:`token_pairs`). Never by the order of cluster centres, which is
  arbitrary.
- **sample size**: an example has tens of pairs for ``m * n * k`` cells, so plug-in values are
  strongly biased upwards; compare examples with each other, not with dataset-level numbers.

States come from ONE codebook per modality fitted on all tokens of all examples, so a state
means the same thing in every example.
"""

from __future__ import annotations

import warnings

import numpy as np

from pidjax.analysis.estimation import DEFAULT_BIAS, estimate_columns, plan_rows
from pidjax.analysis.sweep import PIDTable
from pidjax.discretize import discretize


PAIRINGS = ("position", "order")


def token_pairs(rule: str, mask_1, mask_2) -> np.ndarray:
    """Token index pairs of every example by a named rule, ``-1`` where a slot has no pair.

    Args:
      rule: ``"position"`` (token ``t`` of modality 1 with token ``t`` of modality 2; both need
        the same token count) or ``"order"`` (the ``k``-th kept token of modality 1 with the
        ``k``-th kept token of modality 2, counted along each mask; tokens past the shorter one
        are unpaired). ``"order"`` is the rule for one fused stream, where the two masks never
        keep the same position.
      mask_1, mask_2: ``(E, T1)`` / ``(E, T2)`` booleans, True for kept tokens.

    Returns:
      ``(E, P, 2)`` int64 pairs ``(token in modality 1, token in modality 2)``; ``P = T1`` for
      ``"position"``, the largest number of pairs of any example for ``"order"``.

    Raises:
      ValueError: an unknown rule, masks that are not 2-D over the same examples, or
        ``"position"`` with different token counts.

    Example:
      >>> token_pairs("order", [[True, True, False, False]], [[False, False, True, True]])[0].tolist()
      [[0, 2], [1, 3]]
    """
    m1, m2 = np.asarray(mask_1, bool), np.asarray(mask_2, bool)
    if m1.ndim != 2 or m2.ndim != 2 or m1.shape[0] != m2.shape[0]:
        raise ValueError(f"mask_1 and mask_2 must be (examples, tokens) over the same examples; got {m1.shape} and "
                         f"{m2.shape}")
    e, t1, t2 = m1.shape[0], m1.shape[1], m2.shape[1]
    if rule == "position":
        if t1 != t2:
            raise ValueError(
                f"pairing='position' needs the same number of tokens in both modalities; got {t1} and {t2}: "
                "use pairing='order' or give an explicit alignment"
            )
        return np.broadcast_to(np.arange(t1)[None, :, None], (e, t1, 2)).astype(np.int64)
    if rule == "order":
        counts = np.minimum(m1.sum(1), m2.sum(1))
        p = max(int(counts.max(initial=0)), 1)
        # the kept tokens first, in their order: a stable sort of "not kept"
        idx = np.stack([np.argsort(~m, axis=1, kind="stable")[:, :p] for m in (m1, m2)], axis=-1)
        return np.where((np.arange(p)[None, :] < counts[:, None])[..., None], idx, -1).astype(np.int64)
    raise ValueError(f"pairing must be one of {PAIRINGS} or an alignment array; got {rule!r}")


def _pairs(pairing, n_examples: int, t1: int, t2: int, mask_1, mask_2):
    """Index pairs ``(E, P, 2)`` and their validity ``(E, P)`` from the stated rule."""
    if isinstance(pairing, str):
        idx = token_pairs(pairing, mask_1, mask_2)
    else:
        idx = np.asarray(pairing)
        if idx.ndim != 3 or idx.shape[0] != n_examples or idx.shape[2] != 2 or not np.issubdtype(idx.dtype, np.integer):
            raise ValueError(f"pairing as an alignment must be integer (examples={n_examples}, P, 2); got {idx.dtype} {idx.shape}")
        if (idx[..., 0] >= t1).any() or (idx[..., 1] >= t2).any():
            raise ValueError(f"pairing refers to a token past the end (modality 1 has {t1}, modality 2 has {t2})")
    valid = (idx >= 0).all(-1)
    rows = np.arange(n_examples)[:, None]
    safe = np.where(valid[..., None], idx, 0)
    valid &= mask_1[rows, safe[..., 0]] & mask_2[rows, safe[..., 1]]
    return safe, valid


def sample_profiles(
    tokens_1,
    tokens_2,
    targets,
    *,
    pairing,
    n_states=8,
    n_targets: int = 8,
    mask_1=None,
    mask_2=None,
    bias: str = DEFAULT_BIAS,
    n_permutations: int = 100,
    n_splits: int = 8,
    seed: int = 0,
    tol: float | None = None,
    method: str | None = None,
) -> PIDTable:
    """Token-level PID of every example, bias-corrected, all examples in ONE kernel call.

    Args:
      tokens_1: ``(E, T1, d1)`` token embeddings of modality 1 (``E`` examples).
      tokens_2: ``(E, T2, d2)`` token embeddings of modality 2.
      targets: per-pair targets, ``(E, P)`` integer codes or ``(E, P, d)`` embeddings (then
        discretised into ``n_targets`` states); ``P`` is the number of pairs (``T1`` for
        ``pairing="position"``).
      pairing: REQUIRED, the rule that pairs tokens: ``"position"``, ``"order"`` (see
        :func:`token_pairs`) or an integer alignment ``(E, P, 2)`` of ``(token in modality 1,
        token in modality 2)`` with ``-1`` for padding.
      n_states: codebook size per modality (int or pair).
      n_targets: states of embedding targets.
      mask_1, mask_2: ``(E, T1)`` / ``(E, T2)`` booleans, False for padding tokens.
      bias, n_permutations, n_splits: the bias correction, as in
        :func:`pidjax.analysis.sweep_codes`, per example: permutations and subsamples stay
        within the example's valid pairs (plug-in values in ``<term>_plugin``, p-values in
        ``<term>_p``). With tens of pairs per example the correction is large and noisy.
      seed, tol, method: seed (discretisation and resampling) and kernel settings.

    Returns:
      :class:`PIDTable` with ``example``, the PID and information terms, ``bound``,
      ``converged``, ``n_pairs`` (the sample size of each row), ``states_1``, ``states_2``,
      ``n_labels``.

    Raises:
      ValueError: missing/unknown pairing, mismatched example counts, NaN tokens, an example
        with no valid pair, fewer tokens than states.

    Warns:
      UserWarning: always, naming the pairing rule and the smallest number of pairs per
        example against the number of cells.

    Example:
      >>> rng = np.random.default_rng(0)
      >>> a = rng.normal(size=(3, 20, 4)); b = rng.normal(size=(3, 20, 4))
      >>> y = (a[..., 0] > 0).astype(int)
      >>> import warnings; warnings.simplefilter("ignore")
      >>> t = sample_profiles(a, b, y, pairing="position", n_states=2)
      >>> t["example"].tolist()
      [0, 1, 2]
    """
    import pidjax

    x1, x2 = np.asarray(tokens_1), np.asarray(tokens_2)
    for name, x in (("tokens_1", x1), ("tokens_2", x2)):
        if x.ndim != 3:
            raise ValueError(f"{name} must have shape (examples, tokens, d); got {x.shape}")
        if not np.isfinite(x).all():
            raise ValueError(f"{name} has NaN/inf entries")
    if x1.shape[0] != x2.shape[0]:
        raise ValueError(f"tokens_1 has {x1.shape[0]} examples but tokens_2 has {x2.shape[0]}")
    e, t1, t2 = x1.shape[0], x1.shape[1], x2.shape[1]
    m1 = np.ones((e, t1), bool) if mask_1 is None else np.asarray(mask_1, bool)
    m2 = np.ones((e, t2), bool) if mask_2 is None else np.asarray(mask_2, bool)
    if m1.shape != (e, t1) or m2.shape != (e, t2):
        raise ValueError(f"mask_1/mask_2 must have shapes {(e, t1)} and {(e, t2)}; got {m1.shape} and {m2.shape}")
    idx, valid = _pairs(pairing, e, t1, t2, m1, m2)
    counts = valid.sum(1)
    if (counts == 0).any():
        raise ValueError(f"example {int(np.argmin(counts))} has no valid token pair under the stated pairing")
    m, n = (n_states, n_states) if np.ndim(n_states) == 0 else tuple(n_states)
    # one codebook per modality over all real tokens
    codes_1 = np.zeros((e, t1), np.int64)
    codes_2 = np.zeros((e, t2), np.int64)
    codes_1[m1] = discretize(x1[m1], int(m), seed=seed + 1, name="tokens_1")
    codes_2[m2] = discretize(x2[m2], int(n), seed=seed + 2, name="tokens_2")
    y = np.asarray(targets)
    if y.shape[:2] != idx.shape[:2]:
        raise ValueError(f"targets must have one entry per pair, shape {idx.shape[:2]} (+ d); got {y.shape}")
    if y.ndim == 3:
        yc = np.zeros(y.shape[:2], np.int64)
        yc[valid] = discretize(y[valid], int(n_targets), seed=seed + 3, name="targets")
    elif y.ndim == 2 and np.issubdtype(y.dtype, np.integer) and (y[valid] >= 0).all():
        yc = np.where(valid, y, 0)
    else:
        raise ValueError("targets must be non-negative integer codes (E, P) or embeddings (E, P, d)")
    rows = np.arange(e)[:, None]
    c1 = codes_1[rows, idx[..., 0]]
    c2 = codes_2[rows, idx[..., 1]]
    sizes = (int(m), int(n), int(yc.max()) + 1)
    cells = sizes[0] * sizes[1] * sizes[2]
    rule = pairing if isinstance(pairing, str) else "the given alignment"
    warnings.warn(
        f"sample-level PID pairs tokens by {rule}; the profile is only as meaningful as that pairing. "
        f"Examples have {int(counts.min())}-{int(counts.max())} pairs for {cells} cells: values are "
        "strongly biased upwards; compare examples with each other",
        UserWarning,
        stacklevel=2,
    )
    plan, _ = plan_rows(yc, n_bootstrap=0, n_permutations=n_permutations, bias=bias, n_splits=n_splits,
                        seed=seed, base_weights=valid)
    shape = plan.weights.shape
    P = pidjax.joint_distribution(np.broadcast_to(c1[:, None], shape), np.broadcast_to(c2[:, None], shape),
                                  plan.labels, sizes=sizes, weights=plan.weights)
    res = pidjax.decompose(P, tol=tol, method=method)
    estimated = estimate_columns(res, plan, bias)
    cols = {"example": np.arange(e)}
    cols.update(estimated)
    cols["n_pairs"] = counts
    cols["states_1"] = np.array([len(np.unique(c1[i][valid[i]])) for i in range(e)])
    cols["states_2"] = np.array([len(np.unique(c2[i][valid[i]])) for i in range(e)])
    cols["n_labels"] = np.array([len(np.unique(yc[i][valid[i]])) for i in range(e)])
    return PIDTable(cols, {"pairing": rule, "bias": bias, "n_permutations": int(n_permutations)})
