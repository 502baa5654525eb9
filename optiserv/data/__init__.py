"""Data model: demand points, sites, travel costs; immutable and validated once."""

from optiserv.data.costs import CostMatrix
from optiserv.data.instance import Demand, Instance, Metric, Sites, SiteStatus
from optiserv.data.services import (
    BundleInstance,
    BundlePlan,
    BundleRule,
    Grant,
    Module,
    Service,
    ServiceCatalogue,
)

__all__ = [
    "BundleInstance",
    "BundlePlan",
    "BundleRule",
    "CostMatrix",
    "Demand",
    "Grant",
    "Instance",
    "Metric",
    "Module",
    "Service",
    "ServiceCatalogue",
    "SiteStatus",
    "Sites",
]
