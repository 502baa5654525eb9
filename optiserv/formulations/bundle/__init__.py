"""The combined service point model: which sites become service points and which services each
one offers.

* :mod:`.prepare`: coverage per service with exact reductions;
* :mod:`.build`: the formulation, as one linear program built from arrays;
* :mod:`.arrays`: the same problem as arrays for the heuristic;
* :mod:`.model`: :class:`ServiceBundle`, validation and the exact / heuristic solve paths;
* :mod:`.solution`: :class:`BundleSolution`.
"""

from optiserv.formulations.bundle.model import BundleObjective, ServiceBundle
from optiserv.formulations.bundle.solution import BundleSolution

__all__ = ["BundleObjective", "BundleSolution", "ServiceBundle"]
