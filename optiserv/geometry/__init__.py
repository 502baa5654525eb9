"""Travel cost from coordinates: numba distance kernels and KD-tree radius search."""

from optiserv.geometry.distance import EARTH_RADIUS, nearest, pairwise, travel_costs, within_radius

__all__ = ["EARTH_RADIUS", "nearest", "pairwise", "travel_costs", "within_radius"]
