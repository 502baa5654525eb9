"""Prepare the inputs of the real Swedish scenarios from the raw shared data.

Reads the raw files under the shared data folder and writes, per municipality of "Service i
samverkan", ``demand.csv``, ``sites.csv``, ``existing.csv`` and ``boundary.geojson`` into
``scenarios/data``, with ``README.md`` and ``manifest.json``. Prints the preparation log.
Exit status 0 on success, 2 when the raw data is missing or malformed.

    .venv/bin/python scenarios/prepare.py [--shared-data PATH] [--output PATH]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from optiserv.datasets.sweden import prepare_scenario_data
from optiserv.exceptions import OptiservError

REPOSITORY = Path(__file__).resolve().parents[1]


def default_shared_data() -> Path:
    """``../shared/data`` beside the repository when present, else ``/work/shared/data``."""
    beside = REPOSITORY.parent / "shared" / "data"
    return beside if (beside / "sweden").is_dir() else Path("/work/shared/data")


def main(arguments: list[str] | None = None) -> int:
    """Parse the arguments, run the preparation, print the log; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared-data", type=Path, default=None,
                        help="the shared data folder holding sweden/ (default: ../shared/data "
                             "beside the repository, else /work/shared/data)")
    parser.add_argument("--output", type=Path, default=REPOSITORY / "scenarios" / "data",
                        help="folder to write (default: scenarios/data)")
    options = parser.parse_args(arguments)
    shared_data = options.shared_data or default_shared_data()
    try:
        result = prepare_scenario_data(shared_data, options.output)
    except OptiservError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for line in result.log.lines():
        print(line)
    for data in result.municipalities:
        counts = data.counts()
        print(f"{data.municipality.folder}: {data.population.total} people "
              f"({data.population.year}), {counts['demand_points']} demand points, "
              f"{counts['sites']} sites, {counts['existing_rows']} existing points")
    print(f"written to {result.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
