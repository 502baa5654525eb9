"""Linear programs as arrays, and vectorised blocks to build them."""

from optiserv.lp.blocks import ModelBuilder, VariableRange
from optiserv.lp.program import LinearProgram, Sense

__all__ = ["LinearProgram", "ModelBuilder", "Sense", "VariableRange"]
