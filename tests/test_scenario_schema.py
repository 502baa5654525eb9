"""Scenario files: every kind of mistake names the file, the line and the key path; nothing
in a scenario runs code; broken documents never raise anything but ScenarioError."""

from __future__ import annotations

import contextlib
import string
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from optiserv.exceptions import DataError
from optiserv.scenario import ScenarioError, load_scenario
from optiserv.scenario.errors import format_path

EXAMPLES = Path(__file__).resolve().parents[1] / "scenarios" / "examples"

VALID = """\
version: 1
name: tiny
data:
  demand: {path: demand.csv}
  sites: {path: sites.csv}
services:
  groceries: {threshold_km: 10}
  cash: {threshold_km: 25, register: false}
budgets: {annual: 1000}
"""


def write(folder: Path, text: str, name: str = "scenario.yaml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def error_of(path: Path) -> ScenarioError:
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    return caught.value


def test_valid_document_loads_with_defaults(tmp_path: Path) -> None:
    loaded = load_scenario(write(tmp_path, VALID))
    scenario = loaded.scenario
    assert scenario.version == 1 and loaded.name == "tiny"
    assert scenario.services["cash"].has_register is False
    assert scenario.outputs.bands == [5.0, 10.0, 20.0]
    assert scenario.travel.detour_factor == 1.3
    assert Path(scenario.data.demand.path) == tmp_path / "demand.csv"  # relative to the file
    assert scenario.budgets.annual == 1000 and scenario.budgets.one_off is None


@pytest.mark.parametrize(
    ("text", "line", "path", "fragments"),
    [
        # unknown keys, with the keys that are allowed and a suggestion
        (
            VALID + "budgest: {annual: 5}\n",
            10,
            "budgest",
            ["unknown key", "did you mean 'budgets'"],
        ),
        (
            VALID.replace("{threshold_km: 10}", "{threshold_km: 10, treshold: 3}"),
            7,
            "services.groceries.treshold",
            ["unknown key 'treshold'", "threshold_km"],
        ),
        # wrong types
        (
            VALID.replace("{threshold_km: 10}", "{threshold_km: ten}"),
            7,
            "services.groceries.threshold_km",
            ["expected a number", "'ten'"],
        ),
        (
            VALID.replace("{annual: 1000}", "{annual: [1]}"),
            9,
            "budgets.annual",
            ["expected a number", "a list"],
        ),
        (VALID + "rules: {min_services: 1.5}\n", 10, "rules.min_services", ["whole number"]),
        (VALID + "outputs: {report: maybe}\n", 10, "outputs.report", ["true or false"]),
        (VALID + "services2: 3\n", 10, "services2", ["unknown key"]),
        (VALID.replace("services:\n", "services: 3\nx:\n"), 6, "services", ["mapping"]),
        # values out of range
        (
            VALID.replace("{threshold_km: 10}", "{threshold_km: -10}"),
            7,
            "services.groceries.threshold_km",
            ["greater than 0", "-10"],
        ),
        (VALID + "grants: [{name: g, share: 1.5}]\n", 10, "grants[0].share", ["≤ 1", "1.5"]),
        (
            VALID + "model: {objective: cheapest}\n",
            10,
            "model.objective",
            ["expected one of", "'coverage'"],
        ),
        (VALID + "outputs: {bands: [10, 5]}\n", 10, "outputs.bands", ["increasing"]),
        # missing keys
        (
            VALID.replace("  sites: {path: sites.csv}\n", ""),
            3,
            "data.sites",
            ["missing required key 'sites'"],
        ),
        (
            VALID.replace("{path: demand.csv}", "{crs: EPSG:3006}"),
            4,
            "data.demand.path",
            ["missing required key 'path'"],
        ),
        # cross references and units
        (
            VALID + "rules: {targets: {grocery: 0.5}}\n",
            10,
            "rules.targets.grocery",
            ["unknown service 'grocery'"],
        ),
        (
            VALID.replace("{threshold_km: 10}", "{threshold_minutes: 10}"),
            7,
            "services.groceries.threshold_minutes",
            ["threshold_km instead"],
        ),
        (
            VALID + "grants: [{name: g, share: 0.5, period: one_off, covers: [subsidies]}]\n",
            10,
            "grants[0].covers",
            ["annual"],
        ),
        # the version
        (VALID.replace("version: 1", "version: 2"), 1, "version", ["unsupported version 2"]),
        (VALID.replace("version: 1\n", ""), 0, "version", ["missing required key 'version'"]),
        # YAML itself
        (VALID + "rules: {min_services: 1\n", 11, "(top level)", ["not valid YAML", "line 10"]),
        (VALID + "budgets: {one_off: 5}\n", 10, "budgets", ["appears twice", "line 9"]),
        (
            VALID + "extra: !!python/object/apply:os.system ['echo hacked']\n",
            10,
            "(top level)",
            ["not allowed"],
        ),
        # sweep keys and values are checked at the sweep entry
        (
            VALID + "sweep:\n  budgets.anual: [1, 2]\n",
            11,
            "budgets.anual",
            ["did you mean 'annual'"],
        ),
        (VALID + "sweep:\n  budgets.annual: [1, -2]\n", 11, "budgets.annual", ["≥ 0", "-2"]),
    ],
)
def test_every_mistake_names_file_line_and_path(
    tmp_path: Path, text: str, line: int, path: str, fragments: list[str]
) -> None:
    error = error_of(write(tmp_path, text))
    issue = error.issues[0]
    assert issue.file.name == "scenario.yaml"
    assert issue.line == line, str(error)
    assert format_path(issue.path) == path, str(error)
    message = str(error)
    assert message.startswith(f"scenario.yaml:{line}:" if line else "scenario.yaml:")
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def test_several_mistakes_are_reported_together(tmp_path: Path) -> None:
    text = VALID.replace("{threshold_km: 10}", "{threshold_km: -1, colour: red}")
    error = error_of(write(tmp_path, text))
    assert {format_path(i.path) for i in error.issues} == {
        "services.groceries.threshold_km",
        "services.groceries.colour",
    }


def test_safe_loading_never_builds_objects(tmp_path: Path) -> None:
    marker = tmp_path / "hacked"
    text = VALID + f"description: !!python/object/apply:os.system ['touch {marker}']\n"
    error_of(write(tmp_path, text))
    assert not marker.exists()


def test_alias_bomb_is_refused(tmp_path: Path) -> None:
    lines = ["version: 1", "a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{k}: &a{k} [{', '.join([f'*a{k - 1}'] * 10)}]" for k in range(1, 7)]
    error = error_of(write(tmp_path, "\n".join(lines) + "\n"))
    assert "aliases" in str(error)


def test_extends_merges_and_locates_errors_in_the_right_file(tmp_path: Path) -> None:
    base = write(tmp_path, VALID, "base.yaml")
    (tmp_path / "variants").mkdir()
    variant = write(
        tmp_path / "variants",
        "version: 1\nextends: ../base.yaml\nname: variant\nbudgets: {annual: 200000}\n"
        "services:\n  cash: null\n",
        "variant.yaml",
    )
    loaded = load_scenario(variant)
    scenario = loaded.scenario
    assert scenario.budgets.annual == 200000 and loaded.name == "variant"
    assert list(scenario.services) == ["groceries"]  # null removes a key
    assert Path(scenario.data.demand.path) == tmp_path / "demand.csv"  # relative to base.yaml
    assert [d.file for d in loaded.documents] == [variant, base]
    # a mistake inherited from the base is located in the base
    base.write_text(VALID.replace("{threshold_km: 10}", "{threshold_km: -3}"), encoding="utf-8")
    issue = error_of(variant).issues[0]
    assert (issue.file.name, issue.line) == ("base.yaml", 7)
    # a mistake in the variant is located in the variant
    base.write_text(VALID, encoding="utf-8")
    variant.write_text("version: 1\nextends: ../base.yaml\nbudgets: {annual: lots}\n")
    issue = error_of(variant).issues[0]
    assert (issue.file.name, issue.line, format_path(issue.path)) == (
        "variant.yaml",
        3,
        "budgets.annual",
    )


@pytest.mark.parametrize(
    ("extends", "fragment"),
    [
        ("missing.yaml", "does not exist"),
        ("scenario.yaml", "cycle"),
        ("[a, b]", "expected the path"),
    ],
)
def test_bad_extends(tmp_path: Path, extends: str, fragment: str) -> None:
    error = error_of(write(tmp_path, f"version: 1\nextends: {extends}\n"))
    assert error.issues[0].line == 2 and fragment in str(error)


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    assert "does not exist" in str(error_of(tmp_path / "nothing.yaml"))
    assert "is a directory" in str(error_of(tmp_path))
    (tmp_path / "latin1.yaml").write_bytes("name: V\xe4st\n".encode("latin-1"))
    assert "UTF-8" in str(error_of(tmp_path / "latin1.yaml"))
    assert "an empty file" in str(error_of(write(tmp_path, "")))
    assert "a mapping" in str(error_of(write(tmp_path, "- 1\n- 2\n")))


def test_scenario_error_is_a_data_error() -> None:
    assert issubclass(ScenarioError, DataError)


def test_shipped_scenarios_are_valid() -> None:
    for path in sorted(EXAMPLES.glob("*.yaml")):
        load_scenario(path)
    load_scenario(EXAMPLES.parents[0] / "service-i-samverkan" / "alvdalen.yaml")


# ---------------------------------------------------------------------------------------------
# Broken documents: only ScenarioError, never a traceback
# ---------------------------------------------------------------------------------------------
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(string.printable, max_size=12),
)
keys = st.sampled_from(
    [
        "version",
        "data",
        "services",
        "budgets",
        "rules",
        "grants",
        "sweep",
        "extends",
        "outputs",
        "model",
        "solver",
        "travel",
        "costs",
        "path",
        "threshold_km",
        "annual",
        "share",
        "name",
    ]
) | st.text(string.ascii_lowercase, min_size=1, max_size=8)
documents = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=5),
    max_leaves=25,
)


@given(document=documents)
def test_random_documents_give_only_scenario_errors(tmp_path_factory, document) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path_factory.mktemp("random")
    path = write(folder, yaml.safe_dump(document, allow_unicode=True))
    try:
        load_scenario(path)
    except ScenarioError as error:
        assert "\n" not in str(error) and str(error)


base_document = yaml.safe_load(VALID)


@given(
    path=st.lists(
        st.sampled_from(
            [
                "data",
                "demand",
                "services",
                "groceries",
                "budgets",
                "annual",
                "threshold_km",
                "path",
                "sites",
                "rules",
                "x",
            ]
        ),
        min_size=1,
        max_size=3,
    ),
    value=st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
        max_leaves=8,
    ),
)
def test_mutated_valid_documents_give_only_scenario_errors(tmp_path_factory, path, value) -> None:  # type: ignore[no-untyped-def]
    import copy

    document = copy.deepcopy(base_document)
    node = document
    for part in path[:-1]:
        if not isinstance(node, dict):
            break
        node = node.setdefault(part, {})
    if isinstance(node, dict):
        node[path[-1]] = value
    folder = tmp_path_factory.mktemp("mutated")
    target = write(folder, yaml.safe_dump(document, allow_unicode=True))
    try:
        load_scenario(target)
    except ScenarioError as error:
        assert error.issues and all(i.file == target for i in error.issues)


@given(text=st.text(max_size=200))
def test_random_text_gives_only_scenario_errors(tmp_path_factory, text: str) -> None:  # type: ignore[no-untyped-def]
    path = write(tmp_path_factory.mktemp("text"), "version: 1\n" + text)
    with contextlib.suppress(ScenarioError):
        load_scenario(path)
