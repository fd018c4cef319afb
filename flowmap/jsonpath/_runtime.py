"""Helpers that compiled evaluators call at run time.

Everything here is iterative: documents nested 10,000 levels deep are walked
with explicit stacks, never with Python recursion.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from ..errors import EvaluationLimitError, QueryTypeError
from ._ast import quote_name
from ._functions import NOTHING


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"

    def __reduce__(self) -> str:
        return "MISSING"


#: The default of ``Query.first``'s ``default``: "raise when nothing matched".
MISSING: Any = _Missing()

#: The most nodes a descendant segment may produce (see EvaluationLimitError).
MAX_NODES = 10_000_000


def too_large() -> None:
    raise EvaluationLimitError(MAX_NODES)


def json_eq(a: Any, b: Any) -> bool:
    """Equality of JSON values as RFC 9535 section 2.3.5.2.2 defines it.

    Numbers compare by value (``1 == 1.0``) but booleans are not numbers
    (``true != 1``); arrays compare item by item, objects key by key.

    >>> json_eq([1, {"a": True}], [1.0, {"a": True}]), json_eq(True, 1)
    (True, False)
    """
    if a is b:
        return True
    stack = [(a, b)]
    pop = stack.pop
    push = stack.append
    while stack:
        x, y = pop()
        tx = type(x)
        ty = type(y)
        if tx is ty:
            if tx is dict:
                if len(x) != len(y):
                    return False
                for key, value in x.items():
                    other = y.get(key, NOTHING)
                    if other is NOTHING:
                        return False
                    push((value, other))
            elif tx is list:
                if len(x) != len(y):
                    return False
                push_many = stack.extend
                push_many(zip(x, y))
            elif x != y:
                return False
            continue
        if tx is bool or ty is bool:
            return False
        if (tx is int or tx is float) and (ty is int or ty is float):
            if x != y:
                return False
            continue
        # Subclasses of the JSON container types compare by their JSON kind.
        if isinstance(x, dict) and isinstance(y, dict):
            if len(x) != len(y):
                return False
            for key, value in x.items():
                other = y.get(key, NOTHING)
                if other is NOTHING:
                    return False
                push((value, other))
            continue
        if isinstance(x, list) and isinstance(y, list):
            if len(x) != len(y):
                return False
            stack.extend(zip(x, y))
            continue
        if isinstance(x, str) and isinstance(y, str):
            if x != y:
                return False
            continue
        return False
    return True


def _is_number(x: Any) -> bool:
    t = type(x)
    return t is int or t is float


def json_lt(a: Any, b: Any) -> bool:
    """``<`` of section 2.3.5.2.2: numbers with numbers, strings with strings."""
    ta = type(a)
    if ta is int or ta is float:
        tb = type(b)
        return (tb is int or tb is float) and a < b
    if isinstance(a, str):
        return isinstance(b, str) and a < b
    return False


def json_le(a: Any, b: Any) -> bool:
    return json_lt(a, b) or json_eq(a, b)


def descend(nodes: list[Any]) -> list[Any]:
    """Each container node followed by its container descendants, in order.

    Scalars are left out: no selector selects anything from a scalar, so a
    descendant segment never needs them.
    """
    out: list[Any] = []
    append = out.append
    for root in nodes:
        if not isinstance(root, (dict, list)):
            continue
        stack = [root]
        pop = stack.pop
        push = stack.append
        while stack:
            node = pop()
            append(node)
            children = node.values() if isinstance(node, dict) else node
            for child in reversed(children):
                if isinstance(child, (dict, list)):
                    push(child)
        if len(out) > MAX_NODES:
            too_large()
    return out


def descend_name(node: Any, name: str, out: list[Any]) -> None:
    """Append ``node..[name]`` to ``out``: one walk, no intermediate list."""
    if len(out) > MAX_NODES:
        too_large()
    stack = [node]
    pop = stack.pop
    extend = stack.extend
    append = out.append
    while stack:
        node = pop()
        if isinstance(node, dict):
            value = node.get(name, NOTHING)
            if value is not NOTHING:
                append(value)
            if node:
                extend(reversed(node.values()))
        elif isinstance(node, list) and node:
            extend(reversed(node))
    if len(out) > MAX_NODES:
        too_large()


def descend_paths(nodes: list[Any], paths: list[str]) -> tuple[list[Any], list[str]]:
    """Like :func:`descend`, with the normalized path of every node."""
    out: list[Any] = []
    out_paths: list[str] = []
    stack = [
        (n, p)
        for n, p in zip(reversed(nodes), reversed(paths))
        if isinstance(n, (dict, list))
    ]
    while stack:
        node, path = stack.pop()
        out.append(node)
        out_paths.append(path)
        if isinstance(node, dict):
            stack.extend(
                (v, path + name_part(k))
                for k, v in reversed(node.items())
                if isinstance(v, (dict, list))
            )
        else:
            stack.extend(
                (node[i], f"{path}[{i}]")
                for i in range(len(node) - 1, -1, -1)
                if isinstance(node[i], (dict, list))
            )
        if len(out) > MAX_NODES:
            too_large()
    return out, out_paths


@lru_cache(maxsize=4096)
def name_part(name: str) -> str:
    """The normalized-path step for a member name: ``['name']``."""
    if not isinstance(name, str):
        # Not JSON (json.load gives str keys): no normalized path names it.
        raise QueryTypeError(
            f"object member names must be strings (the data is not JSON): "
            f"cannot write a path to the member {name!r}"
        )
    return "[" + quote_name(name) + "]"


def missing_step(root: Any, steps: tuple[str | int, ...]) -> str:
    """The normalized path of the first step of a singular query that fails."""
    node = root
    path = "$"
    for step in steps:
        if isinstance(step, str):
            path += name_part(step)
            if not isinstance(node, dict) or step not in node:
                return path
            node = node[step]
        else:
            path += f"[{step}]"
            if not isinstance(node, list) or not -len(node) <= step < len(node):
                return path
            node = node[step]
    return path


__all__ = [
    "MAX_NODES",
    "MISSING",
    "NOTHING",
    "descend",
    "descend_name",
    "descend_paths",
    "json_eq",
    "json_le",
    "json_lt",
    "missing_step",
    "name_part",
    "too_large",
]
