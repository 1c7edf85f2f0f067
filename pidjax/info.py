"""Entropies and mutual informations of batched discrete tables, exact at zeros.

Every function takes probability tables whose last axes are the variables and any number of
leading batch axes, and returns values in bits unless ``unit="nats"``. Zero cells contribute
exactly nothing (``0 log 0 = 0``); no epsilon is added anywhere.
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

_LN2 = float(np.log(2.0))


def unit_scale(unit: str) -> float:
    """Factor turning nats into ``unit`` ("bits" or "nats").

    Raises:
      ValueError: for any other unit.
    """
    if unit == "bits":
        return 1.0 / _LN2
    if unit == "nats":
        return 1.0
    raise ValueError(f"unit must be 'bits' or 'nats'; got {unit!r}")


def xlogx(p):
    """``p * log(p)`` elementwise with ``0 log 0 = 0`` (nats); safe under ``grad``."""
    p = jnp.asarray(p)
    positive = p > 0
    safe = jnp.where(positive, p, 1.0)
    return jnp.where(positive, p * jnp.log(safe), 0.0)


def entropy(p, axis=-1, unit: str = "bits"):
    """Shannon entropy of the table ``p`` over ``axis`` (int or tuple).

    Args:
      p: probabilities, shape ``(..., *event)``; the axes in ``axis`` form one variable and are
        expected to sum to 1.
      axis: the event axes; the remaining axes are batch axes.
      unit: "bits" (default) or "nats".

    Returns:
      The entropy, shape of ``p`` without ``axis``.

    Example:
      >>> float(entropy(jnp.array([0.5, 0.5, 0.0])))
      1.0
    """
    return -jnp.sum(xlogx(p), axis=axis) * unit_scale(unit)


def mutual_information(pxy, unit: str = "bits"):
    """``I(X;Y)`` of joint tables ``pxy`` of shape ``(..., a, b)``.

    Returns:
      Shape ``(...)``, in ``unit`` (bits by default).
    """
    pxy = jnp.asarray(pxy)
    hx = entropy(pxy.sum(-1), axis=-1, unit=unit)
    hy = entropy(pxy.sum(-2), axis=-1, unit=unit)
    hxy = entropy(pxy, axis=(-2, -1), unit=unit)
    return hx + hy - hxy


def conditional_entropy_y(P, unit: str = "bits"):
    """``H(Y | X1, X2)`` of joint tables ``P`` of shape ``(..., m, n, k)``.

    Returns:
      Shape ``(...)``, in ``unit``.
    """
    P = jnp.asarray(P)
    h_all = entropy(P, axis=(-3, -2, -1), unit=unit)
    h_pair = entropy(P.sum(-1), axis=(-2, -1), unit=unit)
    return h_all - h_pair


class InformationTerms(NamedTuple):
    """The information terms of ``P(x1, x2, y)`` that do not depend on the optimisation.

    Fields have the batch shape of ``P``; values in the unit asked for.
    """

    entropy_y: jnp.ndarray
    mutual_info_1: jnp.ndarray  # I(X1; Y)
    mutual_info_2: jnp.ndarray  # I(X2; Y)
    mutual_info_joint: jnp.ndarray  # I(X1, X2; Y)


def information_terms(P, unit: str = "bits") -> InformationTerms:
    """``H(Y)``, ``I(X1;Y)``, ``I(X2;Y)`` and ``I(X1,X2;Y)`` of tables ``(..., m, n, k)``.

    Example:
      >>> from pidjax.canonical import distribution
      >>> float(information_terms(distribution("xor")).mutual_info_joint)
      1.0
    """
    P = jnp.asarray(P)
    h_y = entropy(P.sum((-3, -2)), axis=-1, unit=unit)
    return InformationTerms(
        entropy_y=h_y,
        mutual_info_1=mutual_information(P.sum(-2), unit=unit),
        mutual_info_2=mutual_information(P.sum(-3), unit=unit),
        mutual_info_joint=h_y - conditional_entropy_y(P, unit=unit),
    )
