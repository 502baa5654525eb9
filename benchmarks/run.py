"""Run the core benchmark and print a markdown table (``make bench``).

Usage::

    .venv/bin/python benchmarks/run.py                 # both cases, HiGHS, CBC, heuristic
    .venv/bin/python benchmarks/run.py --quick         # the small case once: a smoke test
    .venv/bin/python benchmarks/run.py --append        # also append to benchmarks/RESULTS.md
    .venv/bin/python benchmarks/run.py --case 2k×200 --backend highs --repeat 5

See benchmarks/README.md for what is measured and how to read it.
"""

from __future__ import annotations

import argparse
import math
import shlex
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_core import CASES, Run, machine_info, markdown, measure

from optiserv.solvers import SolveOptions

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def _command() -> str:
    return " ".join(shlex.quote(part) for part in ["python", "benchmarks/run.py", *sys.argv[1:]])


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, run every (case, method, backend), print and optionally append."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--case", action="append", choices=[c.name for c in CASES],
        help="case to run (repeatable; default: all)",
    )
    parser.add_argument(
        "--backend", action="append", choices=["highs", "cbc"],
        help="exact backend (repeatable; default: highs and cbc)",
    )
    parser.add_argument("--no-heuristic", action="store_true", help="skip the heuristic rows")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per row (default 3)")
    parser.add_argument(
        "--time-limit", type=float, default=60.0,
        help="wall-clock seconds per solve; 0 for none (default 60)",
    )
    parser.add_argument("--threads", type=int, default=None, help="solver threads")
    parser.add_argument(
        "--quick", action="store_true",
        help="the small case only, one timed run, 20 s limit: a smoke test",
    )
    parser.add_argument("--append", action="store_true", help=f"append the table to {RESULTS}")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")

    names = args.case or [c.name for c in CASES]
    repeat, time_limit = args.repeat, args.time_limit
    if args.quick:
        names, repeat, time_limit = [CASES[-1].name], 1, min(time_limit or 20.0, 20.0)
    cases = [c for c in CASES if c.name in names]
    runs = [Run("exact", backend) for backend in (args.backend or ["highs", "cbc"])]
    if not args.no_heuristic:
        runs.append(Run("heuristic", "highs"))
    options = SolveOptions(
        time_limit=time_limit if time_limit > 0 else math.inf, threads=args.threads
    )

    info = machine_info(_command())
    measurements = []
    for case in cases:
        for run in runs:
            print(f"… {case.name} {run.label}", file=sys.stderr, flush=True)
            measurements.append(measure(case, run, repeat=repeat, options=options))
    table = markdown(measurements, info, options)
    print(table)
    if args.append:
        with RESULTS.open("a", encoding="utf-8") as results:
            results.write("\n" + table)
        print(f"appended to {RESULTS}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
