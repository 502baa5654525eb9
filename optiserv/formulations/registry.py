"""Location models by name, for the command line and scenario files.

``make_formulation("mclp", p=5, radius=2000.0)`` returns ``MaximalCovering(p=5,
radius=2000.0)``. Each model's module is imported only when that model is asked for, so the
registry works with whichever formulation modules are installed, and naming a model never pays
for importing the others.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal, get_args

from optiserv.exceptions import ParameterError

if TYPE_CHECKING:
    from optiserv.formulations.base import Formulation

__all__ = [
    "MODELS",
    "MODEL_NAMES",
    "PARAMETERS",
    "ModelName",
    "ModelSpec",
    "available_models",
    "make_formulation",
]

ModelName = Literal["lscp", "mclp", "backup", "pmedian", "pcenter", "uflp", "cflp"]
"""The names a model can be asked for by."""

MODEL_NAMES: tuple[str, ...] = get_args(ModelName)

PARAMETERS: Mapping[str, str] = MappingProxyType(
    {
        "p": "the number of sites to open, fixed existing sites included",
        "radius": "the coverage radius, in the travel-cost unit",
    }
)
"""The model parameters the registry passes on, and what they mean."""


@dataclass(frozen=True)
class ModelSpec:
    """Where a model lives and what it needs.

    Attributes
    ----------
    name
        The model's name, e.g. ``"mclp"``.
    module, class_name
        The formulation class, imported on demand.
    parameters
        Keyword parameters the user must give (names from :data:`PARAMETERS`).
    constants
        Keyword arguments always passed, e.g. ``single_sourcing=False``.
    summary
        One line on what the model decides.
    objective
        What the objective value of its Solution measures.
    """

    name: str
    module: str
    class_name: str
    parameters: tuple[str, ...]
    summary: str
    objective: str
    constants: Mapping[str, object] = field(default_factory=dict)


_SPECS = (
    ModelSpec(
        "lscp",
        "optiserv.formulations.lscp",
        "SetCovering",
        ("radius",),
        "set covering: the cheapest sites covering every demand point within the radius",
        "total opening cost, or the number of sites when no site has a cost",
    ),
    ModelSpec(
        "mclp",
        "optiserv.formulations.mclp",
        "MaximalCovering",
        ("p", "radius"),
        "maximal covering: p sites covering the most demand weight within the radius",
        "covered demand weight",
    ),
    ModelSpec(
        "backup",
        "optiserv.formulations.backup",
        "BackupCovering",
        ("p", "radius"),
        "backup covering: p sites covering the most weight once, and again by a second site",
        "covered weight plus backed-up (twice covered) weight",
    ),
    ModelSpec(
        "pmedian",
        "optiserv.formulations.p_median",
        "PMedian",
        ("p",),
        "p-median: p sites minimising the total weighted travel cost to the nearest open site",
        "sum of w_i d_ij",
    ),
    ModelSpec(
        "pcenter",
        "optiserv.formulations.p_center",
        "PCenter",
        ("p",),
        "p-center: p sites minimising the largest travel cost to the nearest open site",
        "that largest travel cost (the optimal radius)",
    ),
    ModelSpec(
        "uflp",
        "optiserv.formulations.facility",
        "UncapacitatedFacilityLocation",
        (),
        "uncapacitated facility location: any number of sites, opening costs against travel",
        "opening costs plus sum of w_i d_ij to the nearest open site",
    ),
    ModelSpec(
        "cflp",
        "optiserv.formulations.facility",
        "CapacitatedFacilityLocation",
        (),
        "capacitated facility location: as uflp, each site serving at most its capacity",
        "opening costs plus sum of w_i d_ij x_ij (demand may be split between sites)",
        MappingProxyType({"single_sourcing": False}),
    ),
)

MODELS: Mapping[str, ModelSpec] = MappingProxyType({spec.name: spec for spec in _SPECS})
"""Every model by name, in a stable order."""


def _spec(model: str) -> ModelSpec:
    key = model.strip().lower() if isinstance(model, str) else model
    try:
        return MODELS[key]
    except (KeyError, TypeError):
        raise ParameterError(
            f"unknown model {model!r}; choose one of {', '.join(MODEL_NAMES)}"
        ) from None


def _load(spec: ModelSpec) -> type[Formulation]:
    """Import the model's class, or say clearly that this installation lacks it."""
    try:
        module = importlib.import_module(spec.module)
    except ModuleNotFoundError as error:
        if error.name != spec.module:
            raise  # the module exists but one of its own imports is missing: a real bug
        raise ParameterError(
            f"model {spec.name!r} is not available in this installation of optiserv "
            f"(module {spec.module} is missing); available: {', '.join(available_models())}"
        ) from None
    try:
        return getattr(module, spec.class_name)
    except AttributeError:
        raise ImportError(f"{spec.module} defines no {spec.class_name}") from None


def available_models() -> tuple[str, ...]:
    """The models whose modules can be imported here."""
    names = []
    for spec in _SPECS:
        try:
            importlib.import_module(spec.module)
        except ModuleNotFoundError as error:
            if error.name != spec.module:
                raise
            continue
        names.append(spec.name)
    return tuple(names)


def make_formulation(
    model: str, *, p: int | None = None, radius: float | None = None
) -> Formulation:
    """The formulation called ``model``, built from the parameters it needs.

    Parameters
    ----------
    model
        One of :data:`MODEL_NAMES` (case-insensitive).
    p
        Number of sites to open, for ``mclp``, ``backup``, ``pmedian`` and ``pcenter``.
    radius
        Coverage radius in the travel-cost unit, for ``lscp``, ``mclp`` and ``backup``.

    Returns
    -------
    Formulation
        The model, ready for ``solve(instance, ...)``.

    Raises
    ------
    ParameterError
        For an unknown model, a parameter the model needs but was not given (``"mclp needs
        --p"``), a parameter the model does not use, or a model whose module is not installed.
        The values themselves are checked by the model against the instance when solving.
    """
    spec = _spec(model)
    given: dict[str, object] = {"p": p, "radius": radius}
    missing = [name for name in spec.parameters if given[name] is None]
    if missing:
        needs = " and ".join(f"--{name} ({PARAMETERS[name]})" for name in missing)
        raise ParameterError(f"{spec.name} needs {needs}")
    unused = [
        name for name, value in given.items() if value is not None and name not in spec.parameters
    ]
    if unused:
        uses = ", ".join("--" + n for n in spec.parameters) or "no model parameters"
        raise ParameterError(
            f"{spec.name} does not use {' or '.join('--' + n for n in unused)}; it takes {uses}"
        )
    formulation_class = _load(spec)
    keywords = {name: given[name] for name in spec.parameters}
    return formulation_class(**keywords, **spec.constants)
