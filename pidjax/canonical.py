"""Canonical bivariate distributions and their known PID values (bits).

X1 and X2 are independent fair bits unless said otherwise. Values are from ../PID_MATH.md and
the BROJA literature; ``sum`` and ``or`` follow from the same definitions.
"""

from __future__ import annotations

import numpy as np

# name -> (R, U1, U2, S) in bits.
KNOWN_VALUES: dict[str, tuple[float, float, float, float]] = {
    "xor": (0.0, 0.0, 0.0, 1.0),
    "and": (0.311278124459133, 0.0, 0.0, 0.5),
    "or": (0.311278124459133, 0.0, 0.0, 0.5),
    "copy": (0.0, 1.0, 1.0, 0.0),
    "rdn": (1.0, 0.0, 0.0, 0.0),
    "unq": (0.0, 1.0, 0.0, 0.0),
    "sum": (0.5, 0.0, 0.0, 1.0),
}

NAMES = tuple(KNOWN_VALUES)


def distribution(name: str, dtype=np.float64) -> np.ndarray:
    """The joint table ``P(x1, x2, y)`` of a canonical example.

    Args:
      name: one of :data:`NAMES` (case-insensitive).
      dtype: NumPy float dtype of the result.

    Returns:
      Array of shape ``(m, n, k)`` summing to 1.

    Raises:
      ValueError: for an unknown name.

    Example:
      >>> distribution("xor").shape
      (2, 2, 2)
    """
    key = name.lower()
    if key == "rdn":
        P = np.zeros((2, 2, 2))
        P[0, 0, 0] = P[1, 1, 1] = 0.5
        return P.astype(dtype)
    rules = {
        "xor": (2, lambda a, b: a ^ b),
        "and": (2, lambda a, b: a & b),
        "or": (2, lambda a, b: a | b),
        "copy": (4, lambda a, b: 2 * a + b),
        "unq": (2, lambda a, b: a),
        "sum": (3, lambda a, b: a + b),
    }
    if key not in rules:
        raise ValueError(f"unknown canonical distribution {name!r}; choose from {', '.join(NAMES)}")
    k, rule = rules[key]
    P = np.zeros((2, 2, k))
    for a in range(2):
        for b in range(2):
            P[a, b, rule(a, b)] += 0.25
    return P.astype(dtype)
