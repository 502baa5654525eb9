"""Safe YAML reading that remembers where every key is.

The document is read twice from the same text: :func:`yaml.compose` (with the safe loader)
gives the node tree with line marks, and :func:`yaml.safe_load` builds the data, so nothing in
a scenario can execute code or build Python objects. The node tree is also used to reject what
``safe_load`` would silently accept: the same key twice in one mapping, and alias chains that
expand to a huge document ("billion laughs").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from optiserv.scenario.errors import Issue, KeyPath, ScenarioError

__all__ = ["SourceMap", "YamlDocument", "read_yaml"]

_MAX_NODES = 100_000
"""Largest number of nodes a document may expand to, counting every alias use."""


@dataclass
class SourceMap:
    """Where each key path was written: file and line of the key (and of its value).

    Files that extend each other overlay their maps, so a path points at the file that set it
    last.
    """

    keys: dict[KeyPath, tuple[Path, int]] = field(default_factory=dict)
    values: dict[KeyPath, tuple[Path, int]] = field(default_factory=dict)
    root: Path = Path("scenario.yaml")

    def locate(self, path: KeyPath, *, key: bool = False) -> tuple[Path, int]:
        """File and line of ``path`` (its key when ``key``), or of its nearest written parent."""
        probe = tuple(path)
        while True:
            table = self.keys if key else self.values
            if probe in table:
                return table[probe]
            if probe in self.keys:
                return self.keys[probe]
            if not probe:
                return self.root, 0
            probe = probe[:-1]

    def issue(self, path: KeyPath, message: str, *, key: bool = False) -> Issue:
        """An :class:`Issue` at ``path``."""
        file, line = self.locate(path, key=key)
        return Issue(file, line, tuple(path), message)

    def overlay(self, other: SourceMap, prefix: KeyPath = ()) -> None:
        """Take ``other``'s locations (under ``prefix``) over this map's."""
        for path, where in other.keys.items():
            self.keys[prefix + path] = where
        for path, where in other.values.items():
            self.values[prefix + path] = where

    def drop(self, prefix: KeyPath) -> None:
        """Forget every location under ``prefix`` (a list or value replaced as a whole)."""
        size = len(prefix)
        for table in (self.keys, self.values):
            for path in [p for p in table if p[:size] == prefix and len(p) > size]:
                del table[path]


@dataclass(frozen=True)
class YamlDocument:
    """A parsed YAML file: its text, its data and where each key is."""

    file: Path
    text: str
    data: Any
    sources: SourceMap


def _mark_line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _yaml_issue(file: Path, error: yaml.YAMLError, what: str) -> Issue:
    problem_mark = getattr(error, "problem_mark", None)
    context_mark = getattr(error, "context_mark", None)
    mark = problem_mark or context_mark
    line = int(mark.line) + 1 if mark is not None else 0
    problem = getattr(error, "problem", None) or str(error)
    context = getattr(error, "context", None) or ""
    if context and context_mark is not None and problem_mark is not None:
        context += f" (line {int(context_mark.line) + 1})"
    text = " ".join(f"{context}: {problem}".split()) if context else " ".join(problem.split())
    return Issue(file, line, (), f"{what}: {text}")


def _walk(
    node: yaml.Node,
    path: KeyPath,
    file: Path,
    sources: SourceMap,
    issues: list[Issue],
    sizes: dict[int, int],
) -> int:
    """Record locations under ``node``; return the node count with aliases expanded."""
    if id(node) in sizes:
        return sizes[id(node)]
    sizes[id(node)] = 1  # a cycle (a recursive alias) counts once while it is being walked
    total = 1
    sources.values[path] = (file, _mark_line(node))
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key: Any = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            if key == "<<" and key_node.tag == "tag:yaml.org,2002:merge":
                total += _walk(value_node, path, file, sources, issues, sizes)
                continue
            if isinstance(key, str) and key in seen:
                issues.append(
                    Issue(
                        file,
                        _mark_line(key_node),
                        (*path, key),
                        f"key {key!r} appears twice in the same mapping (first on line "
                        f"{seen[key]}); write it once",
                    )
                )
                continue
            if isinstance(key, str):
                seen[key] = _mark_line(key_node)
                sources.keys[(*path, key)] = (file, _mark_line(key_node))
                total += _walk(value_node, (*path, key), file, sources, issues, sizes)
            else:
                total += _walk(value_node, path, file, sources, issues, sizes)
            if total > _MAX_NODES:
                break
    elif isinstance(node, yaml.SequenceNode):
        for position, item in enumerate(node.value):
            total += _walk(item, (*path, position), file, sources, issues, sizes)
            if total > _MAX_NODES:
                break
    sizes[id(node)] = total
    return total


def read_yaml(file: Path, text: str | None = None) -> YamlDocument:
    """Read a scenario file safely, with the location of every key.

    Parameters
    ----------
    file
        The file; read as UTF-8 unless ``text`` is given.
    text
        The file's text, when already in hand.

    Returns
    -------
    YamlDocument
        The text, the data (as :func:`yaml.safe_load` gives it) and the source map.

    Raises
    ------
    ScenarioError
        The file is missing, unreadable, not YAML, uses a tag that safe loading refuses, has a
        key twice in one mapping, or expands to more than 100,000 nodes.
    """
    file = Path(file)
    if text is None:
        try:
            text = file.read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            raise ScenarioError([Issue(file, 0, (), "the scenario file does not exist")]) from None
        except IsADirectoryError:
            raise ScenarioError([Issue(file, 0, (), "is a directory, not a YAML file")]) from None
        except UnicodeDecodeError:
            raise ScenarioError([Issue(file, 0, (), "is not UTF-8 text")]) from None
        except OSError as error:
            raise ScenarioError([Issue(file, 0, (), f"cannot be read: {error.strerror}")]) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as error:
        raise ScenarioError([_yaml_issue(file, error, "not valid YAML")]) from None
    sources = SourceMap(root=file)
    issues: list[Issue] = []
    if node is not None:
        count = _walk(node, (), file, sources, issues, {})
        if count > _MAX_NODES:
            raise ScenarioError(
                [
                    Issue(
                        file,
                        _mark_line(node),
                        (),
                        f"the document expands to more than {_MAX_NODES:,} values through "
                        "aliases (&anchor / *alias); write the values out",
                    )
                ]
            )
    if issues:
        raise ScenarioError(issues)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:  # e.g. a python/object tag that safe loading refuses
        raise ScenarioError([_yaml_issue(file, error, "not allowed in a scenario")]) from None
    except RecursionError:
        raise ScenarioError([Issue(file, 0, (), "the document nests too deeply")]) from None
    return YamlDocument(file, text, data, sources)
