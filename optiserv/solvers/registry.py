"""Backends by name: ``highs`` (default), ``cbc``, or ``pulp:SOLVER`` for any PuLP solver."""

from __future__ import annotations

from optiserv.exceptions import ParameterError
from optiserv.solvers.base import Backend
from optiserv.solvers.highs import HighsBackend
from optiserv.solvers.pulp import PulpBackend

__all__ = ["BACKEND_NAMES", "get_backend"]

BACKEND_NAMES = ("highs", "cbc")


def get_backend(backend: str | Backend) -> Backend:
    """Resolve a backend name (or pass a :class:`Backend` through)."""
    if isinstance(backend, Backend):
        return backend
    name = backend.strip().lower()
    if name == "highs":
        return HighsBackend()
    if name == "cbc":
        return PulpBackend("PULP_CBC_CMD")
    if name.startswith("pulp:"):
        return PulpBackend(backend.split(":", 1)[1])
    raise ParameterError(
        f"unknown backend {backend!r}; use one of {', '.join(BACKEND_NAMES)} or 'pulp:SOLVER'"
    )
