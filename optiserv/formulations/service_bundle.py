"""The combined service point model (implemented in :mod:`optiserv.formulations.bundle`).

This module is the stable import path named in ARCHITECTURE.md::

    from optiserv.formulations.service_bundle import ServiceBundle
"""

from optiserv.data.services import (
    BundleInstance,
    BundlePlan,
    BundleRule,
    Grant,
    Module,
    Service,
    ServiceCatalogue,
)
from optiserv.formulations.bundle import BundleObjective, BundleSolution, ServiceBundle

__all__ = [
    "BundleInstance",
    "BundleObjective",
    "BundlePlan",
    "BundleRule",
    "BundleSolution",
    "Grant",
    "Module",
    "Service",
    "ServiceBundle",
    "ServiceCatalogue",
]
