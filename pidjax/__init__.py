"""pidjax: exact, certified, batched Partial Information Decomposition in JAX.

The public surface is small: :func:`decompose` turns joint tables ``P(x1, x2, y)`` into
redundancy, unique and synergistic information with a certified error bound;
:func:`joint_distribution` builds those tables from integer-coded samples.
"""

from pidjax._cpu_pool import widen_cpu_pool

widen_cpu_pool()  # before JAX starts its CPU backend: see pidjax/_cpu_pool.py

from pidjax import canonical, info  # noqa: E402
from pidjax.decomposition import METHODS, PIDResult, decompose  # noqa: E402
from pidjax.distributions import joint_distribution  # noqa: E402
from pidjax.info import entropy, information_terms, mutual_information  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "METHODS",
    "PIDResult",
    "canonical",
    "decompose",
    "entropy",
    "info",
    "information_terms",
    "joint_distribution",
    "mutual_information",
]
