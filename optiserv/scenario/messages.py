"""Pydantic validation errors turned into plain sentences at the right key path and line."""

from __future__ import annotations

import difflib
import types
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from optiserv.scenario.errors import Issue, KeyPath
from optiserv.scenario.yaml_source import SourceMap

__all__ = ["issues_from_validation"]


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _describe(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"text {shown!r}"
    return repr(value)


def _unwrap(annotation: Any) -> list[Any]:
    """The alternatives of a union (or the annotation itself), metadata stripped."""
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        out: list[Any] = []
        for arg in get_args(annotation):
            out += _unwrap(arg)
        return out
    if origin is not None and hasattr(annotation, "__metadata__"):
        return _unwrap(get_args(annotation)[0])
    return [annotation]


def _step(annotation: Any, part: str | int) -> Any | None:
    for option in _unwrap(annotation):
        if isinstance(option, type) and issubclass(option, BaseModel):
            for name, field in option.model_fields.items():
                if str(part) in (name, field.alias):
                    return field.annotation
        origin = get_origin(option)
        if origin is dict:
            return get_args(option)[1]
        if origin is list and isinstance(part, int):
            return get_args(option)[0]
    return None


def _model_at(root: type[BaseModel], path: KeyPath) -> type[BaseModel] | None:
    annotation: Any = root
    for part in path:
        annotation = _step(annotation, part)
        if annotation is None:
            return None
    for option in _unwrap(annotation):
        if isinstance(option, type) and issubclass(option, BaseModel):
            return option
    return None


def _data_path(data: Any, loc: tuple[Any, ...], last_may_be_missing: bool) -> KeyPath:
    """The part of ``loc`` that is a real path in ``data`` (union tags and the like dropped)."""
    path: list[str | int] = []
    node = data
    for position, part in enumerate(loc):
        in_mapping = isinstance(node, dict) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if in_mapping or in_list:
            path.append(part)
            node = node[part]
        elif isinstance(node, dict) and part == "[key]":
            continue
        elif last_may_be_missing and position == len(loc) - 1 and isinstance(part, str):
            path.append(part)
    return tuple(path)


def _message(error: dict[str, Any], path: KeyPath, root: type[BaseModel]) -> str:
    kind = error["type"]
    value = error.get("input")
    context = error.get("ctx") or {}
    got = f", got {_describe(value)}"
    key = path[-1] if path else ""
    if kind == "missing":
        return f"missing required key {key!r}"
    if kind == "extra_forbidden":
        model = _model_at(root, path[:-1])
        allowed = (
            sorted(field.alias or name for name, field in model.model_fields.items())
            if model is not None
            else []
        )
        close = difflib.get_close_matches(str(key), allowed, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        listing = f"; expected one of: {', '.join(allowed)}" if allowed else ""
        return f"unknown key {key!r}{hint}{listing}"
    if kind.startswith("float") or kind in ("finite_number",):
        return f"expected a number{got}"
    if kind.startswith("int"):
        return f"expected a whole number{got}"
    if kind.startswith("bool"):
        return f"expected true or false{got}"
    if kind.startswith("string_type") or kind == "str_type":
        return f"expected text{got}"
    if kind == "string_too_short":
        return "expected non-empty text"
    if kind.startswith("list") or kind == "tuple_type":
        return f"expected a list{got}"
    if kind in ("dict_type", "model_type", "model_attributes_type", "mapping_type"):
        return f"expected a mapping of keys to values{got}"
    if kind == "literal_error":
        return f"expected one of {context.get('expected', '')}{got}"
    if kind == "greater_than":
        return f"expected a number greater than {_number(context.get('gt'))}{got}"
    if kind == "greater_than_equal":
        return f"expected a number ≥ {_number(context.get('ge'))}{got}"
    if kind == "less_than":
        return f"expected a number less than {_number(context.get('lt'))}{got}"
    if kind == "less_than_equal":
        return f"expected a number ≤ {_number(context.get('le'))}{got}"
    if kind == "too_short":
        return f"expected at least {context.get('min_length')} item(s){got}"
    if kind in ("value_error", "assertion_error"):
        return str(error.get("msg", "")).removeprefix("Value error, ")
    return f"{error.get('msg', 'invalid value')}{got}"


def issues_from_validation(
    error: ValidationError, data: Any, sources: SourceMap, root: type[BaseModel]
) -> list[Issue]:
    """One :class:`Issue` per key path, in document order.

    A value that fails every alternative of a union (``str | int``) gives one issue that
    lists what each alternative expected ("expected text or a whole number, got a list").
    """
    found: dict[KeyPath, tuple[str, list[str]]] = {}
    for item in error.errors(include_url=False):
        kind = item["type"]
        path = _data_path(data, tuple(item["loc"]), kind in ("missing", "extra_forbidden"))
        message = _message(item, path, root)
        if path not in found:
            found[path] = (kind, [message])
        elif message not in found[path][1]:
            found[path][1].append(message)
    issues = []
    for path, (kind, messages) in found.items():
        if len(messages) > 1 and all(m.startswith("expected ") for m in messages):
            expected = [m.split(", got ")[0].removeprefix("expected ") for m in messages]
            got = messages[0].split(", got ")[1] if ", got " in messages[0] else ""
            text = "expected " + " or ".join(expected) + (f", got {got}" if got else "")
        else:
            text = "; ".join(messages)
        issues.append(sources.issue(path, text, key=kind in ("missing", "extra_forbidden")))
    return sorted(issues, key=lambda issue: (str(issue.file), issue.line, str(issue.path)))
