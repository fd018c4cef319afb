"""InputPath, OutputPath and ResultPath.

InputPath and OutputPath select from a document with any JSONPath (``$$``
selects from the context object); ``null`` selects an empty object. A path
that can select only one node fails when it selects nothing, with the cause
AWS gives: ``No results for path: $['X']`` when the last step is missing, and
``Missing property in path $['no']`` naming the path up to the first missing
property otherwise. A path that can select several nodes gives a list.

ResultPath must be a reference path (a singular path into the input); it is
applied with :func:`flowmap.place`, which creates missing objects,
replaces what is there and never changes its argument.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ..errors import MergeError
from ..jsonpath import normalized_path
from ..merging import place
from ._errors import StatesDefinitionError, StatesRuntimeError, compact_json
from ._payload import parse_path

__all__ = ["compile_result_path", "compile_selector"]

Selector = Callable[[Any, Any], Any]
Placer = Callable[[Any, Any], Any]

_MISS = object()


def _empty(data: Any, context: Any) -> dict[str, Any]:
    return {}


def _identity(data: Any, context: Any) -> Any:
    return data


def _context(data: Any, context: Any) -> Any:
    return context


def compile_selector(path: Any, field: str) -> Selector | None:
    """``select(data, context)`` for InputPath/OutputPath; None for ``$``.

    >>> select = compile_selector("$.a.b", "InputPath")
    >>> select({"a": {"b": 1}}, None)
    1
    >>> select({"a": {}}, None)
    Traceback (most recent call last):
      ...
    flowmap.states.StatesRuntimeError: States.Runtime: \
Invalid path '$.a.b' : No results for path: $['a']['b']
    """
    if path is None:
        return _empty
    if not isinstance(path, str):
        raise StatesDefinitionError(
            f"{field} must be a string or null, not {type(path).__name__}", (field,)
        )
    if path == "$":
        return None
    if path == "$$":
        return _context
    root, query = parse_path(path, (field,))
    from_context = root == "context"
    query.prepare()  # kept for good: generated code from the first call
    if not query.singular:
        find = query.find

        def select_all(data: Any, context: Any) -> Any:
            return find(context if from_context else data)

        return select_all

    first = query.first
    steps = query.steps
    assert steps is not None  # singular

    def select(data: Any, context: Any) -> Any:
        document = context if from_context else data
        value = first(document, _MISS)
        if value is _MISS:
            raise StatesRuntimeError(
                "States.Runtime", f"Invalid path '{path}' : {_why(steps, document)}"
            )
        return value

    return select


def _why(steps: tuple[str | int, ...], document: Any) -> str:
    """Jayway's reason for a definite path that selected nothing."""
    node = document
    last = len(steps) - 1
    for i, step in enumerate(steps):
        if isinstance(step, str):
            if isinstance(node, dict):
                if step in node:
                    node = node[step]
                    continue
                if i < last:
                    return f"Missing property in path {normalized_path(steps[: i + 1])}"
        elif isinstance(node, list) and -len(node) <= step < len(node):
            node = node[step]
            continue
        break
    return f"No results for path: {normalized_path(steps)}"


def compile_result_path(path: Any) -> Placer | None:
    """``combine(raw_input, result)`` for ResultPath; None for ``$``.

    >>> combine = compile_result_path("$.out.x")
    >>> combine({"a": 1}, 2)
    {'a': 1, 'out': {'x': 2}}
    """
    field = "ResultPath"
    if path is None:
        return _discard
    if not isinstance(path, str):
        raise StatesDefinitionError(
            f"ResultPath must be a string or null, not {type(path).__name__}", (field,)
        )
    if path == "$":
        return None
    if path.startswith("$$"):
        raise StatesDefinitionError(
            f"ResultPath {path!r} must be a reference path into the input, "
            "not a path into the context object",
            (field,),
        )
    _, query = parse_path(path, (field,))
    if not query.singular:
        raise StatesDefinitionError(
            f"ResultPath {path!r} must be a reference path (names and single "
            "indexes only, selecting one node)",
            (field,),
        )

    def combine(raw: Any, result: Any) -> Any:
        try:
            return place(raw, query, result)
        except MergeError as exc:
            raise StatesRuntimeError(
                "States.Runtime",
                f"Unable to apply ReferencePath {path} to input "
                f"{json.dumps(compact_json(raw), ensure_ascii=False)}",
                exc.message,
            ) from None

    return combine


def _discard(raw: Any, result: Any) -> Any:
    return raw
