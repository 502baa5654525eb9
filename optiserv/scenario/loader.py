"""Load a scenario file: safe YAML, ``extends``, paths relative to each file, validation.

``extends: base.yaml`` reads the base first (recursively) and lays this file over it:
mappings merge key by key, anything else (a number, a list) replaces the base's value, and
``null`` removes a key (back to its default). Paths (``data.*.path``, ``data.network.cache``,
``outputs.folder``) are relative to the file that writes them, so a variant in another folder
can extend a base. Every error names the file and line that set the key.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from optiserv.scenario.errors import Issue, KeyPath, ScenarioError
from optiserv.scenario.messages import issues_from_validation
from optiserv.scenario.schema import SCHEMA_VERSION, Scenario, cross_check
from optiserv.scenario.yaml_source import SourceMap, YamlDocument, read_yaml

__all__ = ["LoadedScenario", "load_scenario", "parse_key_path"]

_PATH_KEYS: tuple[KeyPath, ...] = (
    ("data", "demand", "path"),
    ("data", "sites", "path"),
    ("data", "existing", "path"),
    ("data", "boundaries", "path"),
    ("data", "roads", "path"),
    ("data", "network", "path"),
    ("data", "network", "cache"),
    ("outputs", "folder"),
)
_MAX_DEPTH = 10


@dataclass(frozen=True)
class LoadedScenario:
    """A validated scenario and where it came from.

    Attributes
    ----------
    scenario
        The validated scenario; its paths are absolute.
    path
        The file given to :func:`load_scenario`.
    documents
        Every file read, the given one first, then what it extends.
    data
        The merged document (plain data) that was validated.
    sources
        Where each key path was written.
    overrides
        Key path → value laid over the file (a sweep point), or empty.
    """

    scenario: Scenario
    path: Path
    documents: tuple[YamlDocument, ...]
    data: dict[str, Any]
    sources: SourceMap
    overrides: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The scenario's name (the file's stem when it has none)."""
        return self.scenario.name or self.path.stem

    def digest(self) -> str:
        """SHA-256 of the merged document, to recognise an identical scenario."""
        text = json.dumps(self.data, sort_keys=True, default=str, ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def issue(self, path: KeyPath, message: str) -> Issue:
        """An issue at ``path``, located in the file and line that set it."""
        return self.sources.issue(path, message)

    def error(self, path: KeyPath, message: str) -> ScenarioError:
        """A :class:`ScenarioError` with one issue at ``path``."""
        return ScenarioError([self.issue(path, message)])

    def with_values(self, values: Mapping[str, Any]) -> LoadedScenario:
        """This scenario with key paths set (``{"budgets.annual": 2e5}``), validated again.

        Errors are located at the ``sweep`` entry of the key when there is one.
        """
        data = copy.deepcopy(self.data)
        data.pop("sweep", None)
        for dotted, value in values.items():
            where: KeyPath = ("sweep", dotted) if dotted in self.scenario.sweep else ()
            path = parse_key_path(dotted)
            try:
                _set_path(data, path, copy.deepcopy(value))
            except (KeyError, IndexError, TypeError):
                raise self.error(where, f"{dotted!r} is not a key path of this scenario") from None
        sources = SourceMap(dict(self.sources.keys), dict(self.sources.values), self.sources.root)
        for dotted in values:
            if dotted in self.scenario.sweep:
                located = self.sources.locate(("sweep", dotted), key=True)
                path = parse_key_path(dotted)
                sources.drop(path)
                sources.keys[path] = located
                sources.values[path] = located
        scenario = _validate(data, sources)
        return LoadedScenario(
            scenario, self.path, self.documents, data, sources, {**self.overrides, **values}
        )

    def sweep_points(self) -> Iterator[dict[str, Any]]:
        """Every combination of the ``sweep`` grid, in order (none without a grid)."""
        grid = self.scenario.sweep
        if not grid:
            return
        for combination in itertools.product(*grid.values()):
            yield dict(zip(grid, combination, strict=True))


def parse_key_path(dotted: str) -> KeyPath:
    """``"grants.0.share"`` → ``("grants", 0, "share")``."""
    return tuple(int(part) if part.isdigit() else part for part in dotted.split("."))


def _set_path(data: Any, path: KeyPath, value: Any) -> None:
    node = data
    for part in path[:-1]:
        if isinstance(node, dict) and part not in node:
            node[part] = {}
        node = node[part]
    if not isinstance(node, (dict, list)):
        raise TypeError(path)
    node[path[-1]] = value


def _merge(base: Any, top: Any, sources: SourceMap, top_sources: SourceMap, path: KeyPath) -> Any:
    """``top`` laid over ``base``; ``sources`` updated to point at what ``top`` wrote."""
    if isinstance(base, dict) and isinstance(top, dict):
        out = dict(base)
        for key, value in top.items():
            child = (*path, key)
            if value is None:
                out.pop(key, None)
                sources.drop(child)
                continue
            if key in out:
                out[key] = _merge(out[key], value, sources, top_sources, child)
            else:
                out[key] = value
                sources.drop(child)
                _copy_locations(top_sources, sources, child)
            if child in top_sources.keys:
                sources.keys[child] = top_sources.keys[child]
        return out
    sources.drop(path)
    _copy_locations(top_sources, sources, path)
    return top


def _copy_locations(source: SourceMap, target: SourceMap, prefix: KeyPath) -> None:
    size = len(prefix)
    for table_name in ("keys", "values"):
        table, into = getattr(source, table_name), getattr(target, table_name)
        for path, where in table.items():
            if path[:size] == prefix:
                into[path] = where


def _absolute_paths(data: dict[str, Any], folder: Path) -> None:
    for path in _PATH_KEYS:
        node: Any = data
        for part in path[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and isinstance(node.get(path[-1]), str) and node[path[-1]]:
            node[path[-1]] = str((folder / node[path[-1]]).resolve())


def _read_chain(
    file: Path, seen: tuple[Path, ...]
) -> tuple[dict[str, Any], SourceMap, list[YamlDocument]]:
    document = read_yaml(file)
    sources = document.sources
    if not isinstance(document.data, dict):
        raise ScenarioError(
            [
                Issue(
                    file,
                    sources.locate(())[1],
                    (),
                    "expected a mapping of keys to values (a scenario document), got "
                    + ("an empty file" if document.data is None else type(document.data).__name__),
                )
            ]
        )
    data = copy.deepcopy(document.data)
    if "version" not in data:
        raise ScenarioError(
            [
                sources.issue(
                    ("version",),
                    f"missing required key 'version' (write version: {SCHEMA_VERSION} at the top)",
                    key=True,
                )
            ]
        )
    if data["version"] != SCHEMA_VERSION or isinstance(data["version"], bool):
        raise ScenarioError(
            [
                sources.issue(
                    ("version",),
                    f"unsupported version {data['version']!r}; this "
                    f"optiserv reads scenario version {SCHEMA_VERSION}",
                )
            ]
        )
    _absolute_paths(data, file.parent)
    parent = data.pop("extends", None)
    if parent is None:
        return data, sources, [document]
    if not isinstance(parent, str) or not parent.strip():
        raise ScenarioError(
            [sources.issue(("extends",), "expected the path of the scenario file to extend")]
        )
    base_file = (file.parent / parent).resolve()
    if base_file in seen or base_file == file.resolve():
        raise ScenarioError(
            [
                sources.issue(
                    ("extends",),
                    f"{parent!r} extends itself through a cycle: "
                    + " → ".join(p.name for p in (*seen, base_file)),
                )
            ]
        )
    if len(seen) >= _MAX_DEPTH:
        raise ScenarioError([sources.issue(("extends",), "more than 10 levels of extends")])
    if not base_file.is_file():
        raise ScenarioError(
            [sources.issue(("extends",), f"the file to extend does not exist: {base_file}")]
        )
    base, base_sources, documents = _read_chain(base_file, (*seen, file.resolve()))
    merged = _merge(base, data, base_sources, sources, ())
    return merged, base_sources, [document, *documents]


def _validate(data: dict[str, Any], sources: SourceMap) -> Scenario:
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as error:
        raise ScenarioError(issues_from_validation(error, data, sources, Scenario)) from None
    problems = cross_check(scenario)
    if problems:
        raise ScenarioError([sources.issue(path, message) for path, message in problems])
    return scenario


def load_scenario(path: str | Path) -> LoadedScenario:
    """Read, merge and validate a scenario file.

    Parameters
    ----------
    path
        The scenario file (YAML, ``version: 1``).

    Returns
    -------
    LoadedScenario
        The validated scenario with its sources.

    Raises
    ------
    ScenarioError
        For every mistake, naming the file, the line and the key path.
    """
    file = Path(path)
    data, sources, documents = _read_chain(file, ())
    scenario = _validate(data, sources)
    for dotted in scenario.sweep:
        parse_key_path(dotted)
    loaded = LoadedScenario(scenario, file, tuple(documents), data, sources)
    for point in itertools.islice(loaded.sweep_points(), 1):
        loaded.with_values(point)  # a bad sweep key or value fails here, at its line
    for dotted, values in scenario.sweep.items():
        for value in values[1:]:
            loaded.with_values({dotted: value})
    return loaded
