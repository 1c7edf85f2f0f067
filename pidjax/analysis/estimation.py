"""From plug-in PID terms to estimates: bias correction, permutation p-values, intervals.

A layer's table is a histogram of ``N`` examples, so every term the kernel certifies is a
*plug-in* estimate, biased upwards by finite samples (synergy most of all: its bias grows with
the product of the two modalities' state counts). This module plans the extra tables a
correction needs (label permutations, nested subsamples, their permutations), and turns the
decomposed tables into corrected terms. The corrections (see ``docs/estimation.md``):

``"shuffle"``
    subtract the term's mean over label permutations. Exact in expectation when ``Y`` is
    independent of both modalities; it over-corrects when there is signal (the permutation
    bias is that of a table whose cells are all filled, a real dependence fills fewer).
``"extrapolation"``
    fit ``I(N') = I_inf + a / N' + b / N'^2`` through the means over nested, label-stratified
    subsamples of ``N``, ``N/2`` and ``N/4`` (``n_splits`` random splits) and report
    ``I_inf = (8 I_N - 6 I_{N/2} + I_{N/4}) / 3``. Assumes the asymptotic ``1/N`` regime; it
    under-corrects badly when the quarter subsamples leave most cells with one example.
``"shuffle-extrapolation"`` (default)
    the extrapolation of the shuffle-corrected term (each subsample has label permutations of
    its own): the permutation mean takes out the large undersampled part of the bias, the
    extrapolation what is left of it, so it holds where each alone fails.
``"none"``
    the plug-in values.

Every correction is linear in the plug-in terms, applied to ``I(X1;Y)``, ``I(X2;Y)``,
``I(X1,X2;Y)`` and synergy; redundancy and the unique terms are derived from
``R + U1 = I1``, ``R + U2 = I2``, ``R + U1 + U2 + S = I12``, so the corrected atoms keep the
identities exactly. A correction may come out negative; it is reported as computed.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from pidjax.analysis.bootstrap import bootstrap_weights, interval, permuted_labels

TERMS = ("redundancy", "unique_1", "unique_2", "synergy")
INFO = ("mutual_info_1", "mutual_info_2", "mutual_info_joint")
BIAS_CORRECTIONS = ("shuffle-extrapolation", "extrapolation", "shuffle", "none")
DEFAULT_BIAS = "shuffle-extrapolation"
_EXTRAPOLATE = (8.0 / 3.0, -2.0, 1.0 / 3.0)  # weights of the N, N/2, N/4 means at 1/N = 0
_SUBSAMPLES = 6  # per split: two halves, then four quarters


class RowPlan(NamedTuple):
    """The tables of one (label set) row block: what each resample row holds.

    ``weights`` and ``labels`` have shape ``(S, R, N)`` (label sets, rows, examples); the index
    fields say which rows are what. Row 0 is the plug-in estimate.
    """

    weights: np.ndarray
    labels: np.ndarray
    boot: np.ndarray  # (B,) rows of the bootstrap resamples
    perm: np.ndarray  # (T,) rows of label permutations of the full data
    sub: np.ndarray  # (n_splits, 6) rows of the subsamples: 2 halves, 4 quarters
    sub_perm: np.ndarray  # (n_splits, 6) the same subsamples with permuted labels (or empty)
    boot_sub: np.ndarray  # (B, 6) subsamples of each bootstrap resample (or empty)


def check_bias(bias: str, n_permutations: int) -> str:
    """Validate a bias-correction name against the permutations it needs; return it.

    Raises:
      ValueError: unknown ``bias``, or a shuffle correction with ``n_permutations < 1``.
    """
    if bias not in BIAS_CORRECTIONS:
        raise ValueError(f"bias must be one of {BIAS_CORRECTIONS}; got {bias!r}")
    if "shuffle" in bias and int(n_permutations) < 1:
        raise ValueError(
            f"bias={bias!r} subtracts the label-permutation mean and needs n_permutations >= 1 "
            "(100 is a good default); or choose bias='extrapolation' or 'none'"
        )
    return bias


def quarter_assignment(labels, n_splits: int, seed: int = 0) -> np.ndarray:
    """Label-stratified random quarters of the examples, ``n_splits`` independent times.

    The examples are put in a random order (drawn without looking at the labels), and each
    class's examples are dealt round-robin in that order into quarters ``0..3``, starting where
    the class's first example falls, so every quarter holds ``N/4`` examples (within one per
    class) with the label proportions of the whole, and renaming the classes changes nothing.
    Halves are quarters ``{0, 1}`` and ``{2, 3}``.

    Args:
      labels: ``(N,)`` integer codes.
      n_splits: number of independent splits.
      seed: integer seed.

    Returns:
      ``(n_splits, N)`` int8 quarter of every example.

    Example:
      >>> q = quarter_assignment(np.array([0, 0, 0, 0, 1, 1, 1, 1]), 2)
      >>> np.bincount(q[0], minlength=4).tolist()
      [2, 2, 2, 2]
    """
    y = np.asarray(labels)
    rng = np.random.default_rng([int(seed), 3])
    out = np.empty((int(n_splits), y.shape[0]), np.int8)
    for r in range(int(n_splits)):
        order = rng.permutation(y.shape[0])
        ranked = y[order]
        sort = np.argsort(ranked, kind="stable")  # each class's examples, in the random order
        first = np.r_[0, np.flatnonzero(np.diff(ranked[sort])) + 1]
        within = np.arange(y.shape[0]) - np.repeat(first, np.diff(np.r_[first, y.shape[0]]))
        start = np.repeat(sort[first] % 4, np.diff(np.r_[first, y.shape[0]]))
        out[r, order[sort]] = (within + start) % 4
    return out


def _subsample_weights(quarters: np.ndarray, base: np.ndarray) -> np.ndarray:
    """``(splits, 6, N)`` weights of the two halves and four quarters of ``base`` ``(N,)`` weights."""
    halves = np.stack([(quarters // 2) == h for h in range(2)], 1)
    fourths = np.stack([quarters == j for j in range(4)], 1)
    return np.concatenate([halves, fourths], 1) * base


def plan_rows(label_sets, *, n_bootstrap: int, n_permutations: int, bias: str, n_splits: int = 8,
              seed: int = 0, names=None, base_weights=None) -> tuple[RowPlan, list[str]]:
    """The resample rows a sweep decomposes for each table, and the warnings they raise.

    Args:
      label_sets: ``(S, N)`` integer label codes, one row per label set.
      n_bootstrap, n_permutations: bootstrap resamples and label permutations of the full data.
      bias: one of :data:`BIAS_CORRECTIONS`.
      n_splits: random splits into nested halves and quarters for the extrapolations.
      seed: seed of every random choice.
      names: label-set names for messages.
      base_weights: optional ``(S, N)`` 0/1 masks of the examples that exist in each row block
        (e.g. the valid token pairs of a sample profile); permutations, subsamples and
        bootstrap resamples then stay within them.

    Returns:
      ``(plan, warnings)``.

    Raises:
      ValueError: bad counts, or an extrapolation with fewer than 8 examples.
    """
    ys = np.asarray(label_sets)
    n_sets, n = ys.shape
    names = [str(i) for i in range(n_sets)] if names is None else list(names)
    B, T = int(n_bootstrap), int(n_permutations)
    if B < 0 or T < 0:
        raise ValueError(f"n_bootstrap and n_permutations must be >= 0; got {B} and {T}")
    check_bias(bias, T)
    extrapolate = "extrapolation" in bias
    splits = int(n_splits) if extrapolate else 0
    if extrapolate and (int(n_splits) != n_splits or n_splits < 1):
        raise ValueError(f"n_splits must be a positive integer; got {n_splits!r}")
    if extrapolate and n < 8:
        raise ValueError(f"bias={bias!r} subsamples N/4 examples and needs N >= 8; got N={n}")
    sub_perm = splits if "shuffle" in bias else 0
    boot_sub = B if extrapolate else 0
    rows = 1 + B + T + _SUBSAMPLES * (splits + sub_perm + boot_sub)
    base = np.ones((n_sets, n)) if base_weights is None else (np.asarray(base_weights) > 0).astype(np.float64)
    weights = np.broadcast_to(base[:, None, :], (n_sets, rows, n)).copy()
    labels = np.empty((n_sets, rows, n), np.int32)
    labels[:] = ys[:, None, :]
    at = 1
    boot = np.arange(at, at + B); at += B
    perm = np.arange(at, at + T); at += T
    sub = np.arange(at, at + _SUBSAMPLES * splits).reshape(splits, _SUBSAMPLES); at += sub.size
    sub_p = np.arange(at, at + _SUBSAMPLES * sub_perm).reshape(sub_perm, _SUBSAMPLES); at += sub_p.size
    b_sub = np.arange(at, at + _SUBSAMPLES * boot_sub).reshape(boot_sub, _SUBSAMPLES); at += b_sub.size
    notes = []
    for s, y in enumerate(ys):
        keep = np.flatnonzero(base[s] > 0)
        if B:
            counts = np.zeros((B, n))
            counts[:, keep] = bootstrap_weights(keep.size, B, seed)
            weights[s, boot] = counts
        if T:
            labels[s, perm[:, None], keep[None, :]] = permuted_labels(y[keep], T, seed + 1)
        if not splits:
            continue
        quarters = np.full((splits, n), -1, np.int8)  # -1: not an example of this block
        quarters[:, keep] = quarter_assignment(y[keep], splits, seed + 1000)
        weights[s, sub.reshape(-1)] = _subsample_weights(quarters, base[s]).reshape(-1, n)
        if sub_perm:
            weights[s, sub_p.reshape(-1)] = weights[s, sub.reshape(-1)]
            labels[s, sub_p.reshape(-1)[:, None], keep[None, :]] = permuted_labels(y[keep], sub_p.size, seed + 2000)
        if boot_sub:
            weights[s, b_sub.reshape(-1)] = (_subsample_weights(quarters[:1], base[s])[0][None] * weights[s, boot][:, None]).reshape(-1, n)
        counts = np.bincount(y[keep])
        rare = np.flatnonzero((counts > 0) & (counts < 4))
        if rare.size:
            notes.append(
                f"bias={bias!r}: label set {names[s]!r} has {rare.size} class(es) with fewer than 4 examples "
                f"(e.g. class {int(rare[0])}: {int(counts[rare[0]])}), so some N/4 subsamples lack them; the "
                "extrapolation is less reliable there (merge rare classes, or use bias='shuffle')"
            )
    empty = weights.sum(-1) <= 0
    if empty.any():  # a bootstrap resample may miss a whole quarter only when N is tiny
        weights[empty] = 1.0
    return RowPlan(weights, labels, boot, perm, sub, sub_p, b_sub), notes


def derive_atoms(mutual_info_1, mutual_info_2, mutual_info_joint, synergy) -> dict[str, np.ndarray]:
    """The four atoms and three informations from ``I1``, ``I2``, ``I12`` and ``S`` (bits).

    ``R = I1 + I2 - I12 + S``, ``U1 = I1 - R``, ``U2 = I2 - R``: the identities of the
    decomposition hold exactly, whatever the inputs.

    Example:
      >>> derive_atoms(1.0, 1.0, 1.0, 0.0)["redundancy"]
      1.0
    """
    i1, i2, i12, s = (np.asarray(v, np.float64) for v in (mutual_info_1, mutual_info_2, mutual_info_joint, synergy))
    r = i1 + i2 - i12 + s
    out = {"redundancy": r, "unique_1": i1 - r, "unique_2": i2 - r, "synergy": s,
           "mutual_info_1": i1, "mutual_info_2": i2, "mutual_info_joint": i12}
    return {k: (float(v) if np.ndim(v) == 0 else v) for k, v in out.items()}


def _extrapolated(values: np.ndarray, sub: np.ndarray, full) -> np.ndarray:
    """``I_inf`` from ``full`` (..., ) and subsample rows ``sub`` ``(splits, 6)`` of ``values`` (..., R)."""
    halves = values[..., sub[:, :2]].mean((-1, -2))
    quarters = values[..., sub[:, 2:]].mean((-1, -2))
    a, b, c = _EXTRAPOLATE
    return a * full + b * halves + c * quarters


def correct(values: dict, plan: RowPlan, bias: str) -> tuple[dict, dict]:
    """Bias-corrected terms and their bootstrap replicates from the decomposed rows.

    Args:
      values: ``{term: (..., R)}`` plug-in terms for every row of ``plan`` (bits), for the
        four atoms and three informations.
      plan: the :class:`RowPlan` the rows came from.
      bias: one of :data:`BIAS_CORRECTIONS`.

    Returns:
      ``(estimates, replicates)``: ``{term: (...)}`` corrected estimates and
      ``{term: (..., B)}`` the same correction applied to each bootstrap resample (the
      extrapolations use the resample's own subsamples; the permutation means are those of the
      data). The atoms are derived from the corrected ``I1``, ``I2``, ``I12`` and ``S``.
    """
    check_bias(bias, len(plan.perm))
    base = ("mutual_info_1", "mutual_info_2", "mutual_info_joint", "synergy")
    est, rep = {}, {}
    for f in base:
        v = np.asarray(values[f], np.float64)
        point, boots = v[..., 0], v[..., plan.boot]
        null = v[..., plan.perm].mean(-1) if "shuffle" in bias else 0.0
        if bias in ("none", "shuffle"):
            est[f], rep[f] = point - null, boots - np.asarray(null)[..., None]
            continue
        if bias == "extrapolation":
            est[f] = _extrapolated(v, plan.sub, point)
            null_inf = 0.0
        else:  # the extrapolation of the shuffle-corrected term
            shifted = v[..., plan.sub] - v[..., plan.sub_perm]  # (..., splits, 6)
            a, b, c = _EXTRAPOLATE
            sub_null_h = v[..., plan.sub_perm[:, :2]].mean((-1, -2))
            sub_null_q = v[..., plan.sub_perm[:, 2:]].mean((-1, -2))
            null_inf = a * null + b * sub_null_h + c * sub_null_q
            est[f] = a * (point - null) + b * shifted[..., :2].mean((-1, -2)) + c * shifted[..., 2:].mean((-1, -2))
        if len(plan.boot):
            halves = v[..., plan.boot_sub[:, :2]].mean(-1)
            quarters = v[..., plan.boot_sub[:, 2:]].mean(-1)
            a, b, c = _EXTRAPOLATE
            rep[f] = a * boots + b * halves + c * quarters - np.asarray(null_inf)[..., None]
        else:
            rep[f] = boots
    return derive_atoms(*(est[f] for f in base)), derive_atoms(*(rep[f] for f in base))


def p_values(values: dict, plan: RowPlan, tolerance=0.0) -> dict[str, np.ndarray]:
    """Permutation p-value of every plug-in term: ``(1 + #{perm >= observed}) / (1 + T)``.

    Args:
      values: ``{term: (..., R)}`` plug-in terms (bits).
      plan: the row plan (its ``perm`` rows are label permutations of the full data).
      tolerance: values within this many bits count as ties (the solver's certified bound),
        so exact zeros under the null give ``p = 1``, not a spurious small p.

    Returns:
      ``{term: (...)}`` p-values in ``(0, 1]``; empty when there are no permutations.
    """
    T = len(plan.perm)
    if not T:
        return {}
    out = {}
    for f, v in values.items():
        v = np.asarray(v, np.float64)
        obs = v[..., :1]
        hits = (v[..., plan.perm] >= obs - np.asarray(tolerance)[..., None]).sum(-1)
        out[f] = (1.0 + hits) / (1.0 + T)
    return out


def corrected_interval(estimate, replicates, upper, confidence: float = 0.95, method: str = "centered"):
    """Bootstrap interval of a corrected estimate that contains it and stays feasible.

    Args:
      estimate: ``(...)`` corrected estimates (bits).
      replicates: ``(..., B)`` the corrected statistic on ``B`` bootstrap resamples.
      upper: ``(...)`` the largest feasible value, ``H(Y)`` in bits.
      confidence: coverage in ``(0, 1)``.
      method: "centered" (the bootstrap spread around its mean, placed at the estimate),
        "percentile" or "basic"; see :func:`pidjax.analysis.bootstrap.interval`.

    Returns:
      ``(lo, hi)``: the interval, widened to contain the estimate and cut to
      ``[min(0, estimate), max(upper, estimate)]`` (a negative estimate is kept as computed, so
      its interval starts at it).

    Raises:
      ValueError: unknown method or confidence outside ``(0, 1)``.

    Example:
      >>> lo, hi = corrected_interval(np.array(0.5), np.linspace(0.4, 0.8, 101), 1.0, 0.9)
      >>> round(float(lo), 2), round(float(hi), 2)
      (0.32, 0.68)
    """
    est = np.asarray(estimate, np.float64)
    res = np.asarray(replicates, np.float64)
    lo, hi = interval(est, res, confidence, method, clip=False)
    lo, hi = np.minimum(lo, est), np.maximum(hi, est)
    top = np.maximum(np.asarray(upper, np.float64), est)
    return np.clip(lo, np.minimum(est, 0.0), top), np.clip(hi, np.minimum(est, 0.0), top)


def estimate_columns(result, plan: RowPlan, bias: str) -> dict[str, np.ndarray]:
    """Table columns of decomposed rows ``(..., R)``: corrected terms, plug-in values, p-values, bound.

    Args:
      result: a :class:`pidjax.PIDResult` of the plan's rows, fields of shape ``(..., R)``.
      plan, bias: the row plan and the correction (see :func:`correct`).

    Returns:
      ``{term, <term>_plugin, <term>_p (with permutations), bound, converged}``, each ``(...)``:
      the bound of the plug-in row and whether every row of the table converged.
    """
    plugin = {f: np.asarray(getattr(result, f)) for f in TERMS + INFO}
    estimate, _ = correct(plugin, plan, bias)
    bound = np.asarray(result.bound)
    cols = {f: estimate[f] for f in TERMS + INFO}
    cols.update({f"{f}_plugin": plugin[f][..., 0] for f in TERMS + INFO})
    ties = 2.0 * np.where(np.isfinite(bound), bound, 0.0).max(-1)
    cols.update({f"{f}_p": pv for f, pv in p_values(plugin, plan, ties).items()})
    cols["bound"] = bound[..., 0]
    cols["converged"] = np.asarray(result.converged).all(-1)
    return cols
