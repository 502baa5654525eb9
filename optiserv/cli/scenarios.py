"""Scenario commands: ``validate``, ``run``, ``compare``, ``sweep``, ``report``.

Each command parses its arguments and delegates: :mod:`optiserv.scenario` loads, solves and
writes; :mod:`optiserv.reports` builds the pages. Results go to stdout (a table, or one JSON
object with ``--json``), progress and errors to stderr.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from optiserv.cli.app import DebugOption, JsonOption, QuietOption, app
from optiserv.cli.errors import EXIT_CODES_HELP, errors_reported
from optiserv.cli.output import stdout_diverted

__all__ = ["compare", "report", "run", "sweep", "validate"]

_SCENARIO_HELP = (
    "A scenario is a YAML file (version: 1) naming the data (demand, sites, existing services, "
    "borders, road network), the services and thresholds, costs, grants, budgets, rules, the "
    "model and where outputs go. Paths are relative to the file; 'extends: base.yaml' makes "
    "what-if variants. See scenarios/examples/README.md."
)

ScenarioArgument = Annotated[
    Path, typer.Argument(help="Scenario file (YAML).", show_default=False, metavar="FILE")
]
OutOption = Annotated[
    Path | None,
    typer.Option(
        "--out",
        help="Write into this folder (created; refused if it holds files, unless --overwrite). "
        "Default: a new folder <outputs.folder>/<name>-<date-time>.",
        show_default=False,
    ),
]
OverwriteOption = Annotated[
    bool, typer.Option("--overwrite", help="Replace the outputs in an existing --out folder.")
]


def _echo(text: str, quiet: bool) -> None:
    if not quiet:
        typer.echo(text)


def _run_folder(loaded: Any, out: Path | None, overwrite: bool, suffix: str = "") -> Path:
    from optiserv.scenario.outputs import new_run_folder, prepare_folder

    if out is not None:
        return prepare_folder(out, overwrite=overwrite)
    return new_run_folder(Path(loaded.scenario.outputs.folder), loaded.name + suffix)


def _print_summary(summary: dict[str, Any], folder: Path) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from optiserv.reports.summary import headline, money, people, share_text

    table = Table(title=escape(f"{summary['scenario']['name']}: {summary['status']}"))
    for column in (
        "service",
        "within",
        "people today",
        "share today",
        "people with plan",
        "share with plan",
    ):
        table.add_column(column, justify="left" if column == "service" else "right")
    for name, values in summary["services"].items():
        table.add_row(
            escape(name),
            f"{values['threshold']:g} {values['unit']}",
            people(values["population_before"]),
            share_text(values["share_before"]),
            people(values["population_after"]),
            share_text(values["share_after"]),
        )
    console = Console(soft_wrap=True)
    console.print(table)
    cost = summary["cost"]
    currency = cost["currency"]
    console.print(escape(headline(summary)))
    console.print(
        f"net cost {escape(money(cost['net']['annual'], currency))} a year, "
        f"{escape(money(cost['net']['one_off'], currency))} once; "
        f"{len(summary['new_points'])} new points; travel: {escape(summary['cost_source'])}"
    )
    console.print(f"outputs: {escape(str(folder))}")


def _compact(summary: dict[str, Any], folder: Path) -> dict[str, Any]:
    from optiserv.reports.record import json_ready

    keys = (
        "status",
        "objective",
        "bound",
        "gap",
        "population_total",
        "services",
        "cost",
        "selected",
        "cost_source",
    )
    return json_ready({"run_folder": str(folder), **{k: summary.get(k) for k in keys}})


@app.command("validate", epilog=EXIT_CODES_HELP)
def validate(
    ctx: typer.Context,
    file: ScenarioArgument,
    quiet: QuietOption = False,
    debug: DebugOption = False,
) -> None:
    """Check a scenario file and its data without solving.

    Reads the YAML (unknown keys, wrong types and values are reported with file, line and
    key path), reads every data file (missing columns, bad values and unknown ids are reported
    with the file, column and ids), computes the travel costs and checks every rule against
    the data. Prints what was found; exit status 0 when everything is valid.
    """
    from optiserv.scenario.loader import load_scenario
    from optiserv.scenario.model import build_inputs, build_problem

    with errors_reported(ctx, debug), stdout_diverted(False):
        loaded = load_scenario(file)
        inputs = build_inputs(loaded)
        problem = build_problem(loaded, inputs)
        problem.model.resolve(problem.bundle)
    if quiet:
        return
    bundle = problem.bundle
    instance = bundle.instance
    offers = bundle.existing.sum(axis=0)
    services = ", ".join(
        f"{name} {loaded.scenario.threshold(name):g} {loaded.scenario.unit} "
        f"({int(offers[s])} today{_register_note(problem, s)})"
        for s, name in enumerate(bundle.catalogue.names)
    )
    points = len(list(loaded.sweep_points()))
    lines = [
        f"{file}: valid scenario {loaded.name!r}",
        f"demand: {instance.n_demand} points, {instance.total_weight:,.0f} people",
        f"sites: {instance.n_sites} ({int(bundle.existing_point.sum())} existing points, "
        f"{bundle.n_modules} services that can be added)",
        f"services: {services}",
        f"travel: {inputs.cost_source}",
        f"model: {problem.model.objective}, budgets one-off {problem.model.budget_one_off:g}, "
        f"annual {problem.model.budget_annual:g}",
    ]
    if points:
        lines.append(f"sweep: {points} grid points")
    typer.echo("\n".join(lines))


_RUN_HELP = f"""\
Solve a scenario and write every output into a new run folder.

{_SCENARIO_HELP}

The run folder holds selected_sites.gpkg and .csv (each point of the plan: status, services,
costs, grants), demand.gpkg (each demand point: distance and band to the nearest provider of
each service before and after, and the site that serves it), closure_impact.csv, summary.json
(status, objective, bound, gap, population_total, per service people and shares before and
after with distance bands, per municipality and population group, selected points, cost,
timings, provenance) and report.html (a self-contained page: map, charts, tables; opens
without a network). Files are written under temporary names and renamed, so an interrupted
run never leaves a file that looks complete.
"""


@app.command("run", help=_RUN_HELP, epilog=EXIT_CODES_HELP)
def run(
    ctx: typer.Context,
    file: ScenarioArgument,
    out: OutOption = None,
    overwrite: OverwriteOption = False,
    no_report: Annotated[bool, typer.Option("--no-report", help="Skip report.html.")] = False,
    as_json: JsonOption = False,
    quiet: QuietOption = False,
    debug: DebugOption = False,
) -> None:
    """``optiserv run``: the help text is ``_RUN_HELP``."""
    from optiserv.scenario.loader import load_scenario
    from optiserv.scenario.outputs import write_run
    from optiserv.scenario.runner import PHASES, run_scenario

    with errors_reported(ctx, debug):
        loaded = load_scenario(file)
        target = None if out is None else _run_folder(loaded, out, overwrite)
        with phases(len(PHASES) + 1, quiet=quiet or as_json) as advance, stdout_diverted(False):
            result = run_scenario(loaded, on_phase=advance)
            advance("writing outputs")
            folder = target or _run_folder(loaded, None, False)
            write_run(result, folder, report=not no_report)
    if as_json:
        typer.echo(json.dumps(_compact(result.summary, folder), allow_nan=False))
    elif not quiet:
        _print_summary(result.summary, folder)


def _reusable_run(loaded: Any) -> Path | None:
    """The newest finished run of this exact scenario and data, if any."""
    from optiserv.reports.record import load_summary
    from optiserv.scenario.outputs import run_slug
    from optiserv.scenario.runner import scenario_fingerprint

    parent = Path(loaded.scenario.outputs.folder)
    if not parent.is_dir():
        return None
    fingerprint = scenario_fingerprint(loaded)
    for folder in sorted(parent.glob(f"{run_slug(loaded.name)}-*"), reverse=True):
        if not (folder / "summary.json").is_file() or not (folder / "demand.gpkg").is_file():
            continue
        summary = load_summary(folder)
        if summary.get("provenance", {}).get("fingerprint") == fingerprint:
            return folder
    return None


@app.command("compare", epilog=EXIT_CODES_HELP)
def compare(
    ctx: typer.Context,
    items: Annotated[
        list[Path],
        typer.Argument(
            help="Two or more scenario files (YAML) or run folders.", metavar="A B [C ...]"
        ),
    ],
    out: OutOption = None,
    overwrite: OverwriteOption = False,
    fresh: Annotated[
        bool,
        typer.Option("--fresh", help="Solve every scenario again instead of reusing runs."),
    ] = False,
    as_json: JsonOption = False,
    quiet: QuietOption = False,
    debug: DebugOption = False,
) -> None:
    """Solve two or more scenarios (or reuse earlier runs) and compare them side by side.

    Each item is a scenario file or a run folder. A scenario whose identical run (same merged
    scenario, same input file bytes) exists under its outputs folder is not solved again,
    unless --fresh. Writes compare.html (differences from the first highlighted: green better,
    red worse) and compare.json into the output folder, and prints the table.
    """
    from optiserv.exceptions import ParameterError
    from optiserv.reports.compare import comparison_rows, write_comparison
    from optiserv.reports.files import write_text
    from optiserv.reports.record import json_ready, load_summary
    from optiserv.scenario.loader import load_scenario
    from optiserv.scenario.outputs import new_run_folder, prepare_folder, write_run
    from optiserv.scenario.runner import run_scenario

    with errors_reported(ctx, debug):
        if len(items) < 2:
            raise ParameterError("compare needs at least two scenario files or run folders")
        names, summaries, folders, first_loaded = [], [], [], None
        with phases(len(items), quiet=quiet or as_json) as advance, stdout_diverted(False):
            for item in items:
                advance(f"{item.name}")
                if item.is_dir():
                    summary, folder = load_summary(item), item
                else:
                    loaded = load_scenario(item)
                    first_loaded = first_loaded or loaded
                    folder = None if fresh else _reusable_run(loaded)
                    if folder is None:
                        result = run_scenario(loaded)
                        folder = _run_folder(loaded, None, False)
                        write_run(result, folder)
                    summary = load_summary(folder)
                names.append(str(summary.get("scenario", {}).get("name") or item.stem))
                summaries.append(summary)
                folders.append(folder)
            if out is not None:
                target = prepare_folder(out, overwrite=overwrite)
            elif first_loaded is not None:
                target = new_run_folder(Path(first_loaded.scenario.outputs.folder), "compare")
            else:
                target = new_run_folder(Path(folders[0]).parent, "compare")
            page = write_comparison(names, summaries, target / "compare.html")
            rows = comparison_rows(summaries)
            record = {
                "scenarios": [
                    {"name": n, "run_folder": str(f)} for n, f in zip(names, folders, strict=True)
                ],
                "rows": [
                    {"label": label, "values": values, "kind": kind} for label, values, kind in rows
                ],
            }
            write_text(
                target / "compare.json",
                json.dumps(json_ready(record), indent=2, ensure_ascii=False) + "\n",
            )
    if as_json:
        typer.echo(json.dumps(json_ready({**record, "compare_html": str(page)})))
        return
    if quiet:
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from optiserv.reports.compare import _cell

    currency = summaries[0].get("cost", {}).get("currency", "SEK")
    table = Table(title="comparison")
    table.add_column("")
    for name in names:
        table.add_column(escape(name), justify="right")
    for label, values, kind in rows:
        table.add_row(escape(label), *[escape(_cell(v, kind, currency)) for v in values])
    console = Console(soft_wrap=True)
    console.print(table)
    console.print(f"compare.html: {escape(str(page))}")


@app.command("sweep", epilog=EXIT_CODES_HELP)
def sweep(
    ctx: typer.Context,
    file: ScenarioArgument,
    out: OutOption = None,
    overwrite: OverwriteOption = False,
    as_json: JsonOption = False,
    quiet: QuietOption = False,
    debug: DebugOption = False,
) -> None:
    """Solve a scenario at every point of its 'sweep:' grid and show the frontier.

    The grid maps key paths to values, e.g. 'sweep: {budgets.annual: [0, 50000, 100000]}'; every
    combination is solved (data and travel costs are read once when they do not change). The
    run folder holds the scenario's own run (as 'optiserv run' writes it) plus sweep.csv (one
    row per grid point: the values, status, objective, bound, gap, costs and the share covered
    per service), and report.html shows the frontier.
    """
    from optiserv.exceptions import ParameterError
    from optiserv.reports.summary import money, share_text
    from optiserv.scenario.loader import load_scenario
    from optiserv.scenario.outputs import write_run
    from optiserv.scenario.runner import PHASES, run_sweep

    with errors_reported(ctx, debug):
        loaded = load_scenario(file)
        points = list(loaded.sweep_points())
        if not points:
            raise ParameterError(
                f"{file}: the scenario has no 'sweep:' grid to run (add e.g. "
                "sweep: {budgets.annual: [0, 50000, 100000]})"
            )
        target = None if out is None else _run_folder(loaded, out, overwrite)
        with (
            phases(len(PHASES) + len(points) + 1, quiet=quiet or as_json) as advance,
            stdout_diverted(False),
        ):
            result = run_sweep(
                loaded,
                on_phase=advance,
                on_point=lambda k, total, values: advance(f"grid point {k + 1} of {total}"),
            )
            advance("writing outputs")
            folder = target or _run_folder(loaded, None, False, "-sweep")
            write_run(result, folder)
    frame = result.sweep
    assert frame is not None
    if as_json:
        from optiserv.reports.record import json_ready

        typer.echo(
            json.dumps(
                json_ready({"run_folder": str(folder), "points": frame.to_dict("records")}),
                allow_nan=False,
            )
        )
        return
    if quiet:
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    currency = loaded.scenario.costs.currency
    shares = [c for c in frame.columns if c.startswith("share_after:")]
    table = Table(title=f"frontier of {escape(loaded.name)}")
    for column in [*points[0], "status", "net annual", *[c.split(":", 1)[1] for c in shares]]:
        table.add_column(escape(column), justify="right")
    for _, row in frame.iterrows():
        table.add_row(
            *[escape(str(row[k])) for k in points[0]],
            str(row["status"]),
            escape(money(row["net_annual"], currency)),
            *[share_text(None if row[c] != row[c] else float(row[c])) for c in shares],
        )
    console = Console(soft_wrap=True)
    console.print(table)
    console.print(f"outputs: {escape(str(folder))}")


@app.command("report", epilog=EXIT_CODES_HELP)
def report(
    ctx: typer.Context,
    run_folder: Annotated[
        Path,
        typer.Argument(
            help="A run folder written by 'optiserv run' or 'optiserv sweep'.",
            metavar="RUN_DIR",
            show_default=False,
        ),
    ],
    quiet: QuietOption = False,
    debug: DebugOption = False,
) -> None:
    """Rebuild report.html of a run folder from its stored results (no solving).

    Reads summary.json, selected_sites.csv, demand.gpkg, boundaries.gpkg, roads.gpkg,
    closure_impact.csv and sweep.csv from the folder and writes report.html there again.
    """
    from optiserv.reports import load_run, write_report
    from optiserv.reports.record import RUN_FILES

    with errors_reported(ctx, debug):
        path = write_report(load_run(run_folder), run_folder / RUN_FILES["report"])
    _echo(f"report: {path}", quiet)


from optiserv.cli.progress import phases  # noqa: E402  (after the commands, for import order)


def _register_note(problem: Any, service: int) -> str:
    """How today's offers of a service are known: from the register, assumed, or not at all."""
    if problem.registered[service]:
        return ""
    assumed = problem.assumed_at[service]
    return f", assumed at {' or '.join(assumed)} sites" if assumed else ", no register"
