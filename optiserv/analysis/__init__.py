"""Analyses planners ask for; each returns data (DataFrames, dataclasses), never prints.

* :func:`budget_frontier`: coverage per service as a budget sweeps from zero to full coverage;
* :func:`marginal_values`: what each module and point of a plan is worth;
* :func:`closure_impact`: N-1 closures and single points of failure;
* :func:`diagnose`: why a plan is infeasible and the smallest change that helps.
"""

from optiserv.analysis.closure import closure_impact
from optiserv.analysis.diagnosis import Diagnosis, diagnose
from optiserv.analysis.frontier import budget_frontier, full_coverage_budget
from optiserv.analysis.marginal import marginal_values

__all__ = [
    "Diagnosis",
    "budget_frontier",
    "closure_impact",
    "diagnose",
    "full_coverage_budget",
    "marginal_values",
]
