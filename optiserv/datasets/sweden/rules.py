"""The eleven municipalities and every tunable rule of the data preparation, in one place.

All distances are metres in SWEREF99 TM (EPSG:3006). Every rule here is written into the
manifest of the prepared data, so that a reader can tell exactly how it was made.
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import asdict, dataclass
from typing import Literal

from optiserv.exceptions import ParameterError

__all__ = [
    "PARCEL_AGENT_TYPES",
    "PROJECT_MUNICIPALITIES",
    "SERVICES",
    "Municipality",
    "PreparationRules",
]

SERVICES: tuple[str, ...] = ("groceries", "fuel", "parcels", "pharmacy", "cash")
"""The service names of :meth:`optiserv.data.services.ServiceCatalogue.default`."""

PARCEL_AGENT_TYPES: tuple[str, ...] = ("Postombud", "Utlämningsställe", "Box_Paketskåp")
"""PTS agent types (column ``Omb_TYP``) that give a household the parcels/post service.

``Postombud`` sends and receives letters and parcels, ``Utlämningsställe`` hands out parcels
and ``Box_Paketskåp`` is a parcel locker (pick-up). ``Företagscenter`` is left out: it is
PostNord's counter for business customers.
"""

RestSpread = Literal["equal", "postal_codes"]
RestFallback = Literal["localities_equal", "localities_population"]


@dataclass(frozen=True)
class Municipality:
    """A Swedish municipality (kommun).

    Parameters
    ----------
    code
        SCB's four-digit kommunkod, leading zero kept (``"0482"``).
    name
        SCB's name without "kommun".
    """

    code: str
    name: str

    def __post_init__(self) -> None:
        if len(self.code) != 4 or not self.code.isdigit():
            raise ParameterError(f"municipality {self.name!r}: code must be four digits, "
                                 f"got {self.code!r}")

    @property
    def slug(self) -> str:
        """Lower-case ASCII name, e.g. ``"skelleftea"`` for Skellefteå."""
        decomposed = unicodedata.normalize("NFKD", self.name)
        ascii_name = "".join(c for c in decomposed if not unicodedata.combining(c))
        return "".join(c if c.isalnum() else "_" for c in ascii_name.lower())

    @property
    def folder(self) -> str:
        """The output folder name, ``<code>_<slug>``."""
        return f"{self.code}_{self.slug}"


PROJECT_MUNICIPALITIES: tuple[Municipality, ...] = (
    Municipality("2505", "Arvidsjaur"),
    Municipality("2482", "Skellefteå"),
    Municipality("2421", "Storuman"),
    Municipality("2039", "Älvdalen"),
    Municipality("2085", "Ludvika"),
    Municipality("0482", "Flen"),
    Municipality("0428", "Vingåker"),
    Municipality("0581", "Norrköping"),
    Municipality("0583", "Motala"),
    Municipality("0781", "Ljungby"),
    Municipality("0765", "Älmhult"),
)
"""The eleven municipalities of "Service i samverkan" (2017–2020)."""


@dataclass(frozen=True, kw_only=True)
class PreparationRules:
    """The assumptions of the data preparation.

    Parameters
    ----------
    municipalities
        The municipalities to prepare.
    locality_year
        Reference year of the SCB localities (tätorter) file; 31 December.
    preferred_population_year
        Year of the municipal total to use when the population file has it (the localities'
        year, so that "total minus localities" compares like with like); otherwise the latest
        year present is used, and the manifest says so.
    locality_radius_factor, locality_radius_margin
        A postal place lies *inside* a locality when its distance to the locality's point is
        at most ``factor · sqrt(area / π) + margin``: the radius of a circle with the
        locality's land area (hectares, converted to m²), times a factor, plus a margin in
        metres for the rounding of GeoNames coordinates (whole arc-minutes, up to about 1 km).
    use_estimated_postal_points
        Use GeoNames postal codes whose point is flagged as estimated (accuracy 1). Off by
        default: in the eleven municipalities these points are copies of another place's
        point or lie tens of kilometres from the place (Vikbolandet, Idre, Särna, Hemavan,
        Bureå, Lövånger, Kalvträsk).
    match_locality_names
        Also treat a postal place as inside a locality when its name equals (ignoring case)
        the name of a locality of the same municipality, wherever its point lies: its people
        are counted in that locality already.
    boundary_tolerance
        Metres. A postal place is used for its municipality only when its point lies inside
        the municipality's border or within this distance of it; an existing service point
        further away than this from its official municipality is reported.
    rest_spread
        How the population outside localities is split over the postal places outside
        localities: ``"equal"`` (the same number of people at each place) or
        ``"postal_codes"`` (in proportion to the number of postal codes sharing the point).
    rest_fallback
        Where that population goes when a municipality has no postal place outside its
        localities: over the municipality's localities, ``"localities_equal"`` (equal shares)
        or ``"localities_population"`` (in proportion to their population).
    site_merge_distance
        Metres. Candidate sites closer than this to an earlier site are merged into it.
    duplicate_agent_distance
        Metres. Two agent rows of the same operator and agent type, with the same host name or
        the same address, closer than this, are one agent listed twice.
    parcel_agent_types
        PTS agent types that offer the parcels service (see :data:`PARCEL_AGENT_TYPES`).
    pharmacy_amenity
        OpenStreetMap ``amenity`` value of a pharmacy.
    """

    municipalities: tuple[Municipality, ...] = PROJECT_MUNICIPALITIES
    locality_year: int = 2020
    preferred_population_year: int = 2020
    locality_radius_factor: float = 1.0
    locality_radius_margin: float = 1000.0
    use_estimated_postal_points: bool = False
    match_locality_names: bool = True
    boundary_tolerance: float = 2000.0
    rest_spread: RestSpread = "equal"
    rest_fallback: RestFallback = "localities_equal"
    site_merge_distance: float = 200.0
    duplicate_agent_distance: float = 200.0
    parcel_agent_types: tuple[str, ...] = PARCEL_AGENT_TYPES
    pharmacy_amenity: str = "pharmacy"

    def __post_init__(self) -> None:
        municipalities = tuple(self.municipalities)
        if not municipalities:
            raise ParameterError("preparation rules: at least one municipality is needed")
        codes = [m.code for m in municipalities]
        if len(set(codes)) != len(codes):
            raise ParameterError(f"preparation rules: duplicate municipality codes in {codes}")
        object.__setattr__(self, "municipalities", municipalities)
        for name in (
            "locality_radius_factor",
            "locality_radius_margin",
            "boundary_tolerance",
            "site_merge_distance",
            "duplicate_agent_distance",
        ):
            value = float(getattr(self, name))
            if not math.isfinite(value) or value < 0:
                raise ParameterError(
                    f"preparation rules: {name} must be a finite number ≥ 0, "
                    f"got {getattr(self, name)!r}"
                )
            object.__setattr__(self, name, value)
        if self.rest_spread not in ("equal", "postal_codes"):
            raise ParameterError(
                f"preparation rules: rest_spread must be 'equal' or 'postal_codes', "
                f"got {self.rest_spread!r}"
            )
        if self.rest_fallback not in ("localities_equal", "localities_population"):
            raise ParameterError(
                "preparation rules: rest_fallback must be 'localities_equal' or "
                f"'localities_population', got {self.rest_fallback!r}"
            )
        object.__setattr__(self, "parcel_agent_types", tuple(self.parcel_agent_types))

    def describe(self) -> dict[str, object]:
        """The rules as plain JSON-ready values, for the manifest."""
        out = asdict(self)
        out["municipalities"] = [
            {"code": m.code, "name": m.name, "folder": m.folder} for m in self.municipalities
        ]
        out["parcel_agent_types"] = list(self.parcel_agent_types)
        return out
