"""Rounded random parameters shared by the scenarios.

Scenario parameters are rounded to 6 decimals so that they survive a JSON round trip exactly:
an episode rebuilt from its stored `params` is then bit-identical to the original.
"""

from __future__ import annotations

import numpy as np


def uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    """One draw from U(lo, hi), rounded to 6 decimals."""
    return round(float(rng.uniform(lo, hi)), 6)


def rounded(values: np.ndarray | list[float]) -> tuple[float, ...]:
    """`values` as a tuple of floats rounded to 6 decimals."""
    return tuple(round(float(v), 6) for v in values)
