"""How many threads optiserv's parallel numba kernels use during one solve."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numba

__all__ = ["kernel_threads"]


@contextmanager
def kernel_threads(threads: int | None) -> Iterator[None]:
    """Within the block, the calling thread's parallel kernels use ``threads`` threads (at
    most the pool numba started with); ``None`` leaves numba's setting as it is (every core
    by default). The previous setting comes back afterwards.

    The kernels synchronise their threads thousands of times per solve (every subgradient
    step), so on a machine whose cores are busy with other work a thread that is not
    scheduled holds up every step: there, one thread is faster.
    """
    if threads is None:
        yield
        return
    previous = numba.get_num_threads()
    pool = int(numba.config.NUMBA_NUM_THREADS)  # type: ignore[attr-defined]
    numba.set_num_threads(max(1, min(int(threads), pool)))
    try:
        yield
    finally:
        numba.set_num_threads(previous)
