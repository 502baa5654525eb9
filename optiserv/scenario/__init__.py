"""Scenario files: versioned YAML in, solved plans and reports out.

* :mod:`.yaml_source`: safe YAML with the line of every key;
* :mod:`.schema`: the versioned pydantic schema (unknown keys rejected);
* :mod:`.loader`: ``extends``, relative paths, validation, sweep grids;
* :mod:`.sources`: data files (CSV, GeoJSON, GeoPackage, Parquet) in the working CRS;
* :mod:`.model`: the thin mapping onto the data model and :class:`ServiceBundle`;
* :mod:`.runner`: solve and measure; :mod:`.results`: summary and tables;
* :mod:`.outputs`: run folders written atomically.
"""

from optiserv.scenario.errors import Issue, ScenarioError
from optiserv.scenario.loader import LoadedScenario, load_scenario
from optiserv.scenario.schema import SCHEMA_VERSION, Scenario

__all__ = [
    "SCHEMA_VERSION",
    "Issue",
    "LoadedScenario",
    "Scenario",
    "ScenarioError",
    "load_scenario",
]
