"""The summary table of a batch: rows of plain values to a typed, ordered data frame."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pandas as pd

from optiserv.batch.store import FIRST_COLUMNS

__all__ = ["COMPARED_COLUMNS", "summary_frame"]

_GROUPS = (
    "param:",
    "population_total",
    "population_before:",
    "share_before:",
    "population_after:",
    "share_after:",
    "cost_",
    "grants_",
    "net_",
    "currency",
    "new_points",
    "points",
    "selection",
    "single_points_of_failure",
    "time_",
)

COMPARED_COLUMNS: tuple[str, ...] = (
    "run_id",
    "scenario",
    "area",
    "parameters",
    "status",
    "objective",
    "bound",
    "gap",
    "error",
    "selection",
)
"""Columns that must agree between executors for runs that reach optimality (the others hold
timings, attempts and where a run ran)."""


def _rank(column: str) -> tuple[int, str]:
    if column in FIRST_COLUMNS:
        return (0, f"{FIRST_COLUMNS.index(column):03d}")
    for position, prefix in enumerate(_GROUPS, start=1):
        if column.startswith(prefix):
            return (position, column)
    return (len(_GROUPS) + 1, column)


def _uniform(values: pd.Series) -> pd.Series:
    """Numbers stay numbers; a column of mixed kinds becomes JSON text (Parquet needs one
    type per column)."""
    present = [v for v in values if v is not None and not (isinstance(v, float) and v != v)]
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        return pd.to_numeric(values, errors="coerce")
    if all(isinstance(v, str) for v in present):
        return values
    if all(isinstance(v, bool) for v in present):
        return values
    return values.map(lambda v: None if v is None else json.dumps(v, ensure_ascii=False))


def summary_frame(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """One row per run; columns :data:`~optiserv.batch.store.FIRST_COLUMNS` first, then the
    grid values, coverage per service before and after, costs, selection, single points of
    failure, timings and the rest."""
    frame = pd.DataFrame(list(rows))
    for column in FIRST_COLUMNS:
        if column not in frame:
            frame[column] = None
    frame = frame[sorted(frame.columns, key=_rank)]
    for column in frame.columns:
        if frame[column].dtype == object:
            frame[column] = _uniform(frame[column])
    text = ["run_id", "scenario", "area", "area_name", "county", "county_name", "parameters"]
    for column in [*text, "status", "error"]:
        frame[column] = frame[column].fillna("").astype(str)
    return frame.reset_index(drop=True)
