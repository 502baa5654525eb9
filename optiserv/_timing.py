"""Wall-clock timing of named phases."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["PhaseTimer"]


class PhaseTimer:
    """Accumulate seconds per phase: ``with timer("build"): ...``."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.started = time.perf_counter()
        """``time.perf_counter()`` when the timer was made: the start of the whole solve."""

    @contextmanager
    def __call__(self, phase: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[phase] = self.seconds.get(phase, 0.0) + time.perf_counter() - start

    def total(self) -> dict[str, float]:
        """The phases plus ``total`` since the timer was made."""
        return {**self.seconds, "total": time.perf_counter() - self.started}
