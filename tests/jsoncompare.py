"""Comparisons and walks of JSON values, written independently of flowmap.

All iterative, so that documents 10,000 levels deep can be compared.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any


def same(left: Any, right: Any, *, ordered: bool = True) -> bool:
    """Equal as JSON *and* as Python types: ``1``, ``1.0`` and ``True`` differ.

    Python's ``==`` says ``1 == True`` and ``[0] == [False]``; a result that
    holds the wrong one of those must not pass. ``0.0`` and ``-0.0`` differ
    too. With ``ordered`` (the default) objects must list their keys in the
    same order.

    >>> same([1, {"a": 0.0}], [1, {"a": 0.0}]), same(1, True), same([1.0], [1])
    (True, False, False)
    """
    stack = [(left, right)]
    while stack:
        a, b = stack.pop()
        if type(a) is not type(b):
            return False
        if isinstance(a, dict):
            if (list(a) != list(b)) if ordered else (a.keys() != b.keys()):
                return False
            stack.extend((a[key], b[key]) for key in a)
        elif isinstance(a, (list, tuple)):
            if len(a) != len(b):
                return False
            stack.extend(zip(a, b))
        elif isinstance(a, float):
            if not (a == b and math.copysign(1.0, a) == math.copysign(1.0, b)):
                return False
        elif a != b:
            return False
    return True


def same_list(xs: list[Any], ys: list[Any]) -> bool:
    return len(xs) == len(ys) and all(same(x, y) for x, y in zip(xs, ys))


def json_equal(left: Any, right: Any, *, ordered: bool = True) -> bool:
    """JSON equality (``1 == 1.0``, ``true != 1``), key order too if ``ordered``.

    >>> json_equal({"a": 1}, {"a": 1.0}), json_equal(True, 1)
    (True, False)
    """
    stack = [(left, right)]
    while stack:
        a, b = stack.pop()
        a_bool, b_bool = isinstance(a, bool), isinstance(b, bool)
        a_num = isinstance(a, (int, float)) and not a_bool
        b_num = isinstance(b, (int, float)) and not b_bool
        if a_num or b_num:
            if not (a_num and b_num and a == b):
                return False
        elif type(a) is not type(b):
            return False
        elif isinstance(a, dict):
            if (list(a) != list(b)) if ordered else (a.keys() != b.keys()):
                return False
            stack.extend((a[key], b[key]) for key in a)
        elif isinstance(a, list):
            if len(a) != len(b):
                return False
            stack.extend(zip(a, b))
        elif a != b:
            return False
    return True


def containers(value: Any) -> Iterator[Any]:
    """Yield every dict and list in ``value``."""
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, (dict, list)):
            yield node
            stack.extend(node.values() if isinstance(node, dict) else node)


def vandalize(value: Any) -> None:
    """Change every container in ``value`` in place."""
    for node in list(containers(value)):
        if isinstance(node, dict):
            node["__vandal__"] = True
        else:
            node.append("__vandal__")
