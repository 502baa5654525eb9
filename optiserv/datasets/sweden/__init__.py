"""Real Swedish scenarios: data preparation for the eleven municipalities of the rural
service project "Service i samverkan" (2017–2020).

Reads the raw shared files (SCB localities, municipal population and borders, GeoNames postal
places, the PTS register of postal agents, OpenStreetMap pharmacies) and writes, per
municipality, demand points, candidate sites, existing service points and the border, all in
SWEREF99 TM (EPSG:3006), with a manifest of checksums. Run it with ``scenarios/prepare.py``.

Modules: :mod:`~.rules` (every assumption), :mod:`~.raw` (reading), :mod:`~.names` (grocery
and fuel host-name rules), :mod:`~.demand`, :mod:`~.existing`, :mod:`~.sites`,
:mod:`~.prepare` (the whole run), :mod:`~.readme`, :mod:`~.log`.
"""

from optiserv.datasets.sweden.names import (
    FUEL_PATTERNS,
    GROCERY_PATTERNS,
    NamePattern,
    clean_host_name,
    is_fuel_host,
    is_grocery_host,
)
from optiserv.datasets.sweden.prepare import (
    OUTPUT_FILES,
    MunicipalityData,
    PreparationResult,
    prepare_scenario_data,
)
from optiserv.datasets.sweden.raw import RAW_FILES
from optiserv.datasets.sweden.rules import (
    PARCEL_AGENT_TYPES,
    PROJECT_MUNICIPALITIES,
    SERVICES,
    Municipality,
    PreparationRules,
)

__all__ = [
    "FUEL_PATTERNS",
    "GROCERY_PATTERNS",
    "OUTPUT_FILES",
    "PARCEL_AGENT_TYPES",
    "PROJECT_MUNICIPALITIES",
    "RAW_FILES",
    "SERVICES",
    "Municipality",
    "MunicipalityData",
    "NamePattern",
    "PreparationResult",
    "PreparationRules",
    "clean_host_name",
    "is_fuel_host",
    "is_grocery_host",
    "prepare_scenario_data",
]
