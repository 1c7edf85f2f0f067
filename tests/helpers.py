"""Shared test helpers: seeded random tables with and without structural zeros."""

import numpy as np


def random_table(seed: int, shape=(4, 4, 3), alpha: float = 1.0, zero_fraction: float = 0.0):
    """A seeded Dirichlet table of ``shape``; ``zero_fraction`` of cells set to exact zeros."""
    rng = np.random.default_rng(seed)
    P = rng.dirichlet(np.full(int(np.prod(shape)), alpha)).reshape(shape)
    if zero_fraction > 0:
        keep = rng.random(shape) >= zero_fraction
        keep.flat[rng.integers(P.size)] = True
        P = np.where(keep, P, 0.0)
    return P / P.sum()


def terms(result):
    """The four PID terms of a result as a float array (..., 4)."""
    return np.stack(
        [np.asarray(result.redundancy), np.asarray(result.unique_1), np.asarray(result.unique_2), np.asarray(result.synergy)],
        axis=-1,
    )


def run_cli(argv, capsys):
    """Run ``pidjax argv`` in this process; return (exit code, stdout, stderr)."""
    from pidjax.cli import main

    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse usage errors and --help
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err
