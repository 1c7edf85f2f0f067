"""``decompose``: a batch of joint tables in, R, U1, U2, S with a certified bound out."""

from __future__ import annotations

import warnings
from functools import partial
from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from pidjax._validate import check_joint, is_traced
from pidjax.info import information_terms, unit_scale
from pidjax.placement import auto_batch_size, run_chunks, solve_across_processes
from pidjax.solver import SOLVERS, solve_batch
from pidjax.ipm import hand_over_unconverged, solve_ipm_batch  # noqa: I001 (after solver, which imports ipm)

METHODS = tuple(SOLVERS)
DEFAULT_MAX_ITERS = {"newton": 200, "ipfp": 20_000, "ipm": 200}


class PIDResult(NamedTuple):
    """The BROJA decomposition of a batch of tables; every field has the batch shape.

    Values are in the unit asked for (bits by default). They are computed from a feasible plan
    ``q``, so ``redundancy + unique_1 == mutual_info_1``, ``redundancy + unique_2 ==
    mutual_info_2`` and ``redundancy + unique_1 + unique_2 + synergy == mutual_info_joint`` up
    to rounding, and each of the four terms is within ``bound`` of its exact value. The error is
    one-sided: the exact redundancy lies in ``[redundancy, redundancy + bound]`` and the exact
    synergy in ``[synergy, synergy + bound]`` (uniques move down by the same amount), so tiny
    negatives within ``bound`` can appear and are reported as computed.
    """

    redundancy: jnp.ndarray
    unique_1: jnp.ndarray
    unique_2: jnp.ndarray
    synergy: jnp.ndarray
    mutual_info_1: jnp.ndarray  # I(X1; Y)
    mutual_info_2: jnp.ndarray  # I(X2; Y)
    mutual_info_joint: jnp.ndarray  # I(X1, X2; Y)
    bound: jnp.ndarray  # certified bound on the error of each term
    iterations: jnp.ndarray  # outer steps taken
    converged: jnp.ndarray  # bound <= tol
    marginal_violation: jnp.ndarray  # largest |Q(xi, y) - P(xi, y)| of the plan used
    q: Optional[jnp.ndarray] = None  # optimal plan (..., m, n, k) when asked for


def resolve_dtype(dtype):
    """The float dtype to compute in: float64 when x64 is on (or asked for), else float32.

    Raises:
      ValueError: float64 asked for while ``jax_enable_x64`` is off, or a non-float dtype.
    """
    x64 = bool(jax.config.jax_enable_x64)
    if dtype is None:
        return jnp.dtype(jnp.float64 if x64 else jnp.float32)
    dtype = jnp.dtype(dtype)
    if dtype not in (jnp.dtype(jnp.float32), jnp.dtype(jnp.float64)):
        raise ValueError(f"dtype must be float32 or float64; got {dtype}")
    if dtype == jnp.float64 and not x64:
        raise ValueError(
            "dtype float64 needs 64-bit JAX: call jax.config.update('jax_enable_x64', True) "
            "before creating arrays"
        )
    return dtype


def default_method(dtype) -> str:
    """Default solver for ``dtype``: "ipm" in float64 and in float32.

    The interior point takes the fewest steps on every family measured (boundary optima
    included), in both precisions since its Newton system is scaled to a unit diagonal
    (before that its central path ran below float32 resolution and float32 used "newton").
    """
    del dtype
    return "ipm"


def default_tol(dtype) -> float:
    """Default certified tolerance in bits: 1e-6 for float64, 1e-4 for float32."""
    return 1e-6 if jnp.dtype(dtype) == jnp.float64 else 1e-4


def _with_envelope_gradient(P, sol):
    """``f(Q*)`` whose derivative in ``P`` is the envelope ``a(x1, y) + b(x2, y)``.

    The optimal value of the BROJA program depends on ``P`` only through the marginals in its
    constraints, so by the envelope theorem its gradient is the optimal dual point; no
    iteration is differentiated. The value is the solver's, unchanged.
    """
    grad = sol.dual_a[:, :, None, :] + sol.dual_b[:, None, :, :]  # (B, m, n, k)
    grad = lax.stop_gradient(grad)
    return lax.stop_gradient(sol.objective) + jnp.sum(grad * (P - lax.stop_gradient(P)), axis=(-3, -2, -1))


@partial(jax.jit, static_argnames=("max_iters", "method", "check_every", "return_q", "unit"))
def _decompose_flat(P, tol_nats, max_iters, method, check_every, return_q, unit):
    sol = solve_batch(lax.stop_gradient(P), tol_nats, max_iters, method, check_every)
    return _result(P, sol, tol_nats, return_q, unit)


@partial(jax.jit, static_argnames=("max_iters", "return_q", "unit"))
def _ipm_before_hand_over(P, tol_nats, max_iters, return_q, unit):
    sol = solve_ipm_batch(lax.stop_gradient(P), tol_nats, max_iters, hand_over=False)
    return _result(P, sol, tol_nats, return_q, unit), sol


@partial(jax.jit, static_argnames=("max_iters", "return_q", "unit"))
def _ipm_after_hand_over(P, sol, tol_nats, max_iters, return_q, unit):
    sol = hand_over_unconverged(lax.stop_gradient(P), tol_nats, max_iters, sol)
    return _result(P, sol, tol_nats, return_q, unit)


def _decompose_chunk(P, tol_nats, max_iters, method, check_every, return_q, unit):
    """:func:`_decompose_flat` of a concrete chunk; for "ipm", its Newton hand-over is compiled
    and run in a call of its own, only when some member of the chunk needs it.

    The hand-over is about half of the interior point's compile time, and most batches do not
    use it: inside a user's ``jit``, ``vmap`` or ``grad`` (traced input) it stays in the one
    program, as it must.
    """
    if method != "ipm":
        return _decompose_flat(P, tol_nats, max_iters, method, check_every, return_q, unit)
    out, sol = _ipm_before_hand_over(P, tol_nats, max_iters, return_q, unit)
    if not bool(jnp.any(~(sol.gap <= tol_nats))):  # the hand-over's own test (ipm._hand_over)
        return out
    return _ipm_after_hand_over(P, sol, tol_nats, max_iters, return_q, unit)


def _result(P, sol, tol_nats, return_q, unit) -> PIDResult:
    """The decomposition of the flat batch ``P`` (B, m, n, k) from its solution ``sol``."""
    # Traced inputs skip the boundary checks; an invalid table is flagged here instead.
    total = P.sum(axis=(-3, -2, -1))
    sum_tol = 1e-6 if P.dtype == jnp.float64 else 1e-4
    valid = jnp.all(jnp.isfinite(P) & (P >= 0), axis=(-3, -2, -1)) & (jnp.abs(total - 1.0) <= sum_tol)
    sol = sol._replace(gap=jnp.where(valid, sol.gap, jnp.inf))
    info = information_terms(P, unit="nats")
    i_q = info.entropy_y + _with_envelope_gradient(P, sol)  # I_Q*(X1, X2; Y)
    scale = unit_scale(unit)
    redundancy = info.mutual_info_1 + info.mutual_info_2 - i_q
    return PIDResult(
        redundancy=redundancy * scale,
        unique_1=(info.mutual_info_1 - redundancy) * scale,
        unique_2=(info.mutual_info_2 - redundancy) * scale,
        synergy=(info.mutual_info_joint - i_q) * scale,
        mutual_info_1=info.mutual_info_1 * scale,
        mutual_info_2=info.mutual_info_2 * scale,
        mutual_info_joint=info.mutual_info_joint * scale,
        bound=sol.gap * scale,
        iterations=sol.iterations,
        converged=sol.gap <= tol_nats,
        marginal_violation=sol.marginal_violation,
        q=sol.q if return_q else None,
    )


def decompose(
    P,
    *,
    tol: float | None = None,
    max_iters: int | None = None,
    method: str | None = None,
    dtype=None,
    normalize: bool = False,
    return_q: bool = False,
    unit: str = "bits",
    check_every: int = 10,
    batch_size: int | None = None,
    across_processes: bool = True,
) -> PIDResult:
    """BROJA partial information decomposition of joint tables ``P(x1, x2, y)``.

    Args:
      P: joint distributions, shape ``(..., m, n, k)`` (``m`` states of modality 1, ``n`` of
        modality 2, ``k`` labels) with any number of leading batch axes; non-negative, each
        table summing to 1. Zeros are handled exactly.
      tol: certified error target for every term, in ``unit`` (default 1e-6 bits in float64,
        1e-4 bits in float32).
      max_iters: cap on iterations per table (default :data:`DEFAULT_MAX_ITERS` of the method:
        Newton steps for "newton" and "ipm", outer steps for "ipfp").
      method: solver, one of :data:`METHODS`: "ipm" (cell-barrier interior point; tables whose
        central path stalls are handed to "newton" within ``max_iters``), "newton" (pair-barrier
        Newton with an IPFP finish), "ipfp" (plain alternating minimisation, for comparison).
        Default: :func:`default_method` ("ipm").
      dtype: float32 or float64 (default float64 when ``jax_enable_x64`` is on).
      normalize: rescale each table to sum to 1 instead of rejecting one that does not.
      return_q: also return the optimal plan ``q``, shape ``(..., m, n, k)``.
      unit: "bits" (default) or "nats".
      check_every: outer iterations between certificate checks (IPFP).
      batch_size: tables per compiled call; larger batches are processed in chunks of this
        size (default: :func:`auto_batch_size`: on CPU about a 48 MiB working set, 256 to
        1,024 tables, per device; a quarter of the device memory on a GPU/TPU), in near-equal
        chunks. With several local devices each chunk is sharded over them along the batch
        axis.
      across_processes: with several JAX processes (``jax.distributed.initialize``), whether
        ``P`` is one batch given to every process, split between them and gathered so that
        each returns the whole result (default), or each process's own tables, solved on its
        own devices with no communication (``False``). Ignored with one process.

    Returns:
      A :class:`PIDResult` whose fields have the batch shape ``P.shape[:-3]``. The four terms
      and the mutual informations are differentiable in ``P`` (``jax.grad``): the optimal value
      is differentiated by the envelope theorem through the dual point, not through the
      iterations, so gradients are as accurate as the certified solution.

    Raises:
      ValueError: bad input (shape, sign, NaN/inf, all-zero table, sum off 1, unknown method or
        unit, float64 without x64); the message names the argument and the batch index. With
        several processes and ``across_processes``, also when they were given different ``P``.

    Warns:
      RuntimeWarning: when some table did not reach ``tol`` within ``max_iters`` (see the
        ``converged`` and ``bound`` fields).

    Example:
      >>> from pidjax.canonical import distribution
      >>> r = decompose(distribution("and"))
      >>> round(float(r.redundancy), 4), round(float(r.synergy), 4)
      (0.3113, 0.5)
    """
    if method is not None and method not in SOLVERS:
        raise ValueError(f"method must be one of {METHODS}; got {method!r}")
    scale = unit_scale(unit)
    dtype = resolve_dtype(dtype)
    method = default_method(dtype) if method is None else method
    if max_iters is None:
        max_iters = DEFAULT_MAX_ITERS[method]
    if int(max_iters) < 1 or int(check_every) < 1:
        raise ValueError(f"max_iters and check_every must be >= 1; got {max_iters} and {check_every}")
    tol = default_tol(dtype) * unit_scale("bits") / scale if tol is None else float(tol)
    if not tol > 0:
        raise ValueError(f"tol must be positive; got {tol}")
    arr = check_joint(P, "P", normalize=normalize)
    traced = is_traced(arr)
    if traced and normalize:
        arr = arr / arr.sum(axis=(-3, -2, -1), keepdims=True)
    arr = jnp.asarray(arr, dtype)
    batch, table = arr.shape[:-3], arr.shape[-3:]
    flat = arr.reshape((-1, *table))
    tol_nats = jnp.asarray(tol / scale, dtype)

    args = (tol_nats, int(max_iters), method, int(check_every), bool(return_q), unit)

    def solve(chunk):
        return _decompose_chunk(chunk, *args)

    if traced:  # inside a user's transformation: one call, the caller controls placement
        out = _decompose_flat(flat, *args)
    else:
        if batch_size is None:
            batch_size = auto_batch_size(table, dtype)
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be >= 1; got {batch_size}")
        batch_size = int(batch_size)

        def run_local(tables):
            return run_chunks(tables, batch_size, solve)

        out = solve_across_processes(flat, run_local) if across_processes else run_local(flat)
    out = jax.tree_util.tree_map(lambda x: x.reshape(batch + x.shape[1:]), out)
    if not traced:
        converged = np.asarray(out.converged)
        if not converged.all():
            worst = float(np.max(np.asarray(out.bound)))
            warnings.warn(
                f"{int((~converged).sum())} of {converged.size} tables did not reach the certified "
                f"tolerance {tol:g} {unit} within max_iters={max_iters} (largest bound {worst:.3g} "
                f"{unit}); see result.converged and result.bound, or raise max_iters",
                RuntimeWarning,
                stacklevel=2,
            )
    return out
