"""Location models, each documenting its formulation in the glossary's symbols."""

from optiserv.formulations.base import BuiltModel, Formulation, Served
from optiserv.formulations.lscp import SetCovering
from optiserv.formulations.mclp import MaximalCovering

__all__ = ["BuiltModel", "Formulation", "MaximalCovering", "Served", "SetCovering"]
