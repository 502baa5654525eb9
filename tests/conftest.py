"""Shared fixtures: random instances and the location of the shared benchmark data."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

from optiserv.data import Instance

settings.register_profile(
    "optiserv",
    deadline=None,
    max_examples=25,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "optiserv"))


def shared_folder() -> Path | None:
    """``../shared`` beside the checkout (as CI lays it), or /work/shared; None if absent."""
    for candidate in (Path(__file__).resolve().parents[2] / "shared", Path("/work/shared")):
        if (candidate / "benchmarks").is_dir():
            return candidate
    return None


@pytest.fixture
def shared() -> Path:
    folder = shared_folder()
    if folder is None:
        pytest.skip("the shared data folder (../shared) is not present beside this checkout")
    return folder


def random_instance(
    seed: int,
    n: int = 30,
    m: int = 8,
    *,
    side: float = 10_000.0,
    fixed: int = 0,
    forbidden: int = 0,
    integer_weights: bool = True,
    with_costs: bool = False,
) -> Instance:
    """A small uniform instance with optional fixed and forbidden sites."""
    rng = np.random.default_rng(seed)
    demand = rng.random((n, 2)) * side
    sites = rng.random((m, 2)) * side
    weights = rng.integers(1, 101, n) if integer_weights else rng.random(n) * 100
    status = np.zeros(m, dtype=int)
    order = rng.permutation(m)
    status[order[:fixed]] = 1
    status[order[fixed : fixed + forbidden]] = 2
    cost = rng.integers(1, 20, m).astype(float) if with_costs else None
    return Instance.from_arrays(
        demand, sites, weights=weights, site_status=status, opening_cost=cost, name=f"random{seed}"
    )
