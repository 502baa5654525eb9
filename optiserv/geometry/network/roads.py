"""What a road is for car travel: road classes, default speeds, one-way and access rules.

Everything here is a pure function of tags or a constant, so that every reader (OpenStreetMap
PBF, OSMnx GraphML, edge tables) applies the same rules. The rules are gathered in one
explicit, immutable :class:`RoadOptions` object; there are no module-level settings to change.

Default speeds
--------------
:data:`SWEDISH_RURAL_SPEEDS` gives an assumed *average travel speed* in km/h per OpenStreetMap
``highway`` class for car travel in rural Sweden. They are deliberately below the legal limits
(Swedish default limits are 50 km/h in built-up areas and 70 km/h outside them; motorways are
signed 110–120 km/h), because journeys include junctions, gravel surfaces and slow sections:

============== ===== ==============================================================
class          km/h  reasoning
============== ===== ==============================================================
motorway        110  motorway (motorväg), mostly 110–120 signed
motorway_link    60  ramps
trunk            90  national roads (riksväg), often 2+1 roads signed 90–100
trunk_link       50
primary          80  primary county roads (primära länsvägar)
primary_link     50
secondary        70  other county roads, the 70 km/h rural default
secondary_link   40
tertiary         60  minor county roads, often narrow
tertiary_link    40
unclassified     50  small public and private (enskilda) roads, often gravel
residential      40  streets in villages; 30–50 signed
living_street     7  gångfartsområde: walking pace
service          20  farm and forest access, yards, driveways
road             40  class unknown to the mapper
============== ===== ==============================================================

A class missing from the speed table is not driven on: ``track``, ``path``, ``footway``,
``cycleway``, ``construction`` and so on are left out by default. To drive on forest tracks
(skogsbilvägar), give ``track`` a speed, for example ``{**SWEDISH_RURAL_SPEEDS, "track": 25}``.

:data:`SWEDISH_FUNCTIONAL_CLASS_SPEEDS` does the same for the functional road class 0–9
(funktionell vägklass) of Trafikverket's NVDB edge tables.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

from optiserv.exceptions import ParameterError

__all__ = [
    "BACKWARD",
    "BOTH",
    "FORWARD",
    "SWEDISH_FUNCTIONAL_CLASS_SPEEDS",
    "SWEDISH_RURAL_SPEEDS",
    "RoadOptions",
    "is_car_accessible",
    "parse_maxspeed",
    "parse_oneway",
    "travel_direction",
]

BOTH: Final = 0
"""A segment that can be driven both ways."""
FORWARD: Final = 1
"""A segment that can only be driven from its first node to its last."""
BACKWARD: Final = -1
"""A segment that can only be driven from its last node to its first (OSM ``oneway=-1``)."""

SWEDISH_RURAL_SPEEDS: Final[Mapping[str, float]] = MappingProxyType(
    {
        "motorway": 110.0,
        "motorway_link": 60.0,
        "trunk": 90.0,
        "trunk_link": 50.0,
        "primary": 80.0,
        "primary_link": 50.0,
        "secondary": 70.0,
        "secondary_link": 40.0,
        "tertiary": 60.0,
        "tertiary_link": 40.0,
        "unclassified": 50.0,
        "residential": 40.0,
        "living_street": 7.0,
        "service": 20.0,
        "road": 40.0,
    }
)
"""Average car travel speed in km/h per OpenStreetMap ``highway`` class (see module notes)."""

SWEDISH_FUNCTIONAL_CLASS_SPEEDS: Final[Mapping[str, float]] = MappingProxyType(
    {
        "0": 100.0,
        "1": 90.0,
        "2": 80.0,
        "3": 70.0,
        "4": 70.0,
        "5": 60.0,
        "6": 50.0,
        "7": 40.0,
        "8": 30.0,
        "9": 20.0,
    }
)
"""Average car travel speed in km/h per NVDB functional road class, 0 (most important) to 9."""

ZONE_SPEEDS: Final[Mapping[str, float]] = MappingProxyType(
    {
        "se:urban": 50.0,
        "se:rural": 70.0,
        "se:motorway": 110.0,
        "se:trunk": 90.0,
        "fi:urban": 50.0,
        "fi:rural": 80.0,
        "fi:motorway": 120.0,
        "no:urban": 50.0,
        "no:rural": 80.0,
        "no:motorway": 110.0,
        "dk:urban": 50.0,
        "dk:rural": 80.0,
        "dk:motorway": 130.0,
        "walk": 7.0,
    }
)
"""Implicit limits in km/h for ``maxspeed`` values such as ``SE:rural`` (lower case keys)."""

_MPH_IN_KMH: Final = 1.609344
_NUMBER = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(mph|km/h|kmh|kph)?\s*$")
_FORWARD_VALUES: Final = frozenset({"yes", "true", "1", "forward", "med"})
_BACKWARD_VALUES: Final = frozenset({"-1", "reverse", "backward", "mot"})
_BOTH_VALUES: Final = frozenset({"no", "false", "0", "both", "båda", "reversible", "alternating"})
_ACCESS_KEYS: Final = ("motorcar", "motor_vehicle", "vehicle", "access")
"""OSM access keys from the most to the least specific for a car."""


def parse_maxspeed(value: object) -> float | None:
    """The speed in km/h that a ``maxspeed`` value states, or ``None`` when it states none.

    Understands plain numbers (km/h), ``"<n> mph"``, zone values like ``"SE:rural"`` (see
    :data:`ZONE_SPEEDS`), ``"walk"``, and several values separated by ``;`` (their mean).
    ``"none"``, ``"signals"``, empty and unparseable values give ``None``.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value) if value > 0 else None
    parts = [part.strip().lower() for part in re.split(r"[;|,]", str(value).strip("[]' "))]
    speeds = []
    for part in parts:
        part = part.strip("'\" ")
        if part in ZONE_SPEEDS:
            speeds.append(ZONE_SPEEDS[part])
            continue
        match = _NUMBER.match(part)
        if match:
            number = float(match.group(1))
            if number > 0:
                speeds.append(number * _MPH_IN_KMH if match.group(2) == "mph" else number)
    return sum(speeds) / len(speeds) if speeds else None


def parse_oneway(value: object) -> int | None:
    """The travel direction an explicit one-way value states, or ``None`` when it says nothing.

    ``yes``, ``true``, ``1`` (and ``forward``, ``med``) give :data:`FORWARD`; ``-1``
    (``reverse``, ``backward``, ``mot``) gives :data:`BACKWARD`; ``no``, ``false``, ``0``
    (``both``, and the time-dependent ``reversible``/``alternating``) give :data:`BOTH`.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bool):
        return FORWARD if value else BOTH
    text = str(value).strip().lower()
    if text.endswith(".0"):
        text = text[:-2]
    if text in _FORWARD_VALUES:
        return FORWARD
    if text in _BACKWARD_VALUES:
        return BACKWARD
    if text in _BOTH_VALUES:
        return BOTH
    return None


def travel_direction(tags: Mapping[str, str], respect_oneway: bool = True) -> int:
    """The direction a car may drive an OSM way: :data:`BOTH`, :data:`FORWARD` or :data:`BACKWARD`.

    An explicit ``oneway`` tag decides. Without one, ``highway=motorway`` and
    ``junction=roundabout`` (or ``circular``) imply :data:`FORWARD`, as OpenStreetMap defines.
    With ``respect_oneway=False`` every way is :data:`BOTH` (walking, or a what-if).
    """
    if not respect_oneway:
        return BOTH
    explicit = parse_oneway(tags.get("oneway"))
    if explicit is not None:
        return explicit
    if tags.get("highway") == "motorway" or tags.get("junction") in ("roundabout", "circular"):
        return FORWARD
    return BOTH


def is_car_accessible(tags: Mapping[str, str], excluded_access: frozenset[str]) -> bool:
    """Whether a car may use an OSM way, by its most specific access tag and ``area=yes``.

    The first present key of ``motorcar``, ``motor_vehicle``, ``vehicle``, ``access`` decides;
    the way is closed when that value is in ``excluded_access`` (``no`` and ``private`` by
    default). Areas (``area=yes``, such as squares) are not roads.
    """
    if tags.get("area") == "yes":
        return False
    for key in _ACCESS_KEYS:
        value = tags.get(key)
        if value is not None:
            return value.strip().lower() not in excluded_access
    return True


@dataclass(frozen=True)
class RoadOptions:
    """How roads become a travel graph. Passed explicitly to every reader.

    Parameters
    ----------
    speeds
        Average car speed in km/h per road class. Classes not in the table are not driven on.
        Defaults to :data:`SWEDISH_RURAL_SPEEDS`.
    use_maxspeed
        When a road states its speed limit (OSM ``maxspeed``, an edge table's speed column),
        use it instead of the class speed.
    respect_oneway
        Drive one-way roads in their direction only (car travel). ``False`` for walking.
    fallback_speed
        Speed in km/h for roads that have neither a known class nor a speed (edge tables
        without those columns).
    excluded_access
        OSM access values that close a road to cars (see :func:`is_car_accessible`).
    """

    speeds: Mapping[str, float] = field(default_factory=lambda: dict(SWEDISH_RURAL_SPEEDS))
    use_maxspeed: bool = True
    respect_oneway: bool = True
    fallback_speed: float = 50.0
    excluded_access: frozenset[str] = frozenset({"no", "private"})

    def __post_init__(self) -> None:
        speeds = {str(k): float(v) for k, v in dict(self.speeds).items()}
        bad = [k for k, v in speeds.items() if not (math.isfinite(v) and v > 0)]
        if bad:
            raise ParameterError(f"road speeds must be positive km/h; check classes {bad}")
        if not (math.isfinite(self.fallback_speed) and self.fallback_speed > 0):
            raise ParameterError(
                f"fallback_speed must be a positive speed in km/h, got {self.fallback_speed}"
            )
        object.__setattr__(self, "speeds", MappingProxyType(speeds))
        object.__setattr__(
            self, "excluded_access", frozenset(v.lower() for v in self.excluded_access)
        )

    def class_speed(self, road_class: object) -> float | None:
        """The table speed in km/h of a road class, or ``None`` when the class is not driven.

        OSMnx may list several classes for one merged edge (``"['tertiary', 'residential']"``);
        the first class that has a speed is used.
        """
        if road_class is None or (isinstance(road_class, float) and math.isnan(road_class)):
            return None
        if isinstance(road_class, float) and road_class.is_integer():
            road_class = int(road_class)
        for name in str(road_class).strip("[]").split(","):
            speed = self.speeds.get(name.strip().strip("'\" "))
            if speed is not None:
                return speed
        return None

    def key(self) -> str:
        """A stable digest of every option, for cache keys."""
        payload = {
            "speeds": sorted(self.speeds.items()),
            "use_maxspeed": self.use_maxspeed,
            "respect_oneway": self.respect_oneway,
            "fallback_speed": self.fallback_speed,
            "excluded_access": sorted(self.excluded_access),
        }
        return hashlib.sha256(json.dumps(payload).encode()).hexdigest()
