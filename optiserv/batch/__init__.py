"""Batches: many scenarios, over many areas and a parameter grid, on an executor, into a
result store that resumes.

* :mod:`.schema`: the plan file schema (version 1);
* :mod:`.plan`: read a plan, expand it into runs with stable ids;
* :mod:`.areas`: Swedish municipalities and counties, and each one's inputs (shipped, cached,
  or prepared on the fly from the shared raw data);
* :mod:`.worker`: one run in any process: solve, write, commit;
* :mod:`.executor`: in-process, local worker processes (default), Dask distributed;
* :mod:`.store`: run folders committed atomically, failures, provenance (``batch.json``);
* :mod:`.table`: the summary table; :mod:`.report`: the areas side by side, per county;
* :mod:`.runner`: :func:`run_batch`, the whole batch in one call.

Importing this package does not import numba: worker processes set their thread count first.
"""

from optiserv.batch.executor import DaskExecutor, InProcess, LocalProcesses
from optiserv.batch.plan import BatchPlan, RunSpec, expand_plan, load_plan
from optiserv.batch.runner import BatchResult, run_batch
from optiserv.batch.store import ResultStore

__all__ = [
    "BatchPlan",
    "BatchResult",
    "DaskExecutor",
    "InProcess",
    "LocalProcesses",
    "ResultStore",
    "RunSpec",
    "expand_plan",
    "load_plan",
    "run_batch",
]
