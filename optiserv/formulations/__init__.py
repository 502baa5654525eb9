"""Location models, each documenting its formulation in the glossary's symbols.

Models are imported on first use, so that ``import optiserv.formulations`` (and the command
line's start-up) does not load every model and its numba kernels.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from optiserv.formulations.base import BuiltModel, Formulation, Served

if TYPE_CHECKING:
    from optiserv.formulations.backup import BackupCovering
    from optiserv.formulations.facility import (
        CapacitatedFacilityLocation,
        UncapacitatedFacilityLocation,
    )
    from optiserv.formulations.lscp import SetCovering
    from optiserv.formulations.mclp import MaximalCovering
    from optiserv.formulations.p_center import PCenter
    from optiserv.formulations.p_median import PMedian
    from optiserv.formulations.service_bundle import BundleSolution, ServiceBundle

_LAZY = {
    "BackupCovering": "optiserv.formulations.backup",
    "BundleSolution": "optiserv.formulations.service_bundle",
    "CapacitatedFacilityLocation": "optiserv.formulations.facility",
    "MaximalCovering": "optiserv.formulations.mclp",
    "PCenter": "optiserv.formulations.p_center",
    "PMedian": "optiserv.formulations.p_median",
    "ServiceBundle": "optiserv.formulations.service_bundle",
    "SetCovering": "optiserv.formulations.lscp",
    "UncapacitatedFacilityLocation": "optiserv.formulations.facility",
}

__all__ = [
    "BackupCovering",
    "BuiltModel",
    "BundleSolution",
    "CapacitatedFacilityLocation",
    "Formulation",
    "MaximalCovering",
    "PCenter",
    "PMedian",
    "Served",
    "ServiceBundle",
    "SetCovering",
    "UncapacitatedFacilityLocation",
]


def __getattr__(name: str) -> Any:
    """Import a model class on first access."""
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'optiserv.formulations' has no attribute {name!r}")
