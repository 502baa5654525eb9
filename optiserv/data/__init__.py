"""Data model: demand points, sites, travel costs; immutable and validated once."""

from optiserv.data.costs import CostMatrix
from optiserv.data.instance import Demand, Instance, Metric, Sites, SiteStatus

__all__ = ["CostMatrix", "Demand", "Instance", "Metric", "SiteStatus", "Sites"]
